"""The export archive of a health space, opened and checked on both backends: every document the actor may see,
byte for byte; the FHIR R4 collection Bundle; the manifest's hashes; an index.html whose links stay inside the
archive; nothing held back or invisible to representatives; who may export; a record of many documents streamed."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import tracemalloc
import zipfile
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle

from carnet.access import service as access
from carnet.access.model import Actor, ActorKind, AuthMethod
from carnet.bootstrap import Platform
from carnet.directory.demo import load_demo_directory
from carnet.errors import Forbidden
from carnet.messaging import service as mss
from carnet.record import service as record
from carnet.record.model import Author, AuthorKind, DocumentMetadata
from carnet.space import export
from tests.builders import (
    DR_HOUSE,
    PLATFORM,
    example,
    in_care_team,
    make_person,
    minimal_pdf,
    patient_as,
    qualified_patient,
)

DOMINIQUE_INS = "279035121518989"
FORMATS = {"application/pdf": "urn:ihe:iti:xds-sd:pdf:2008", "image/jpeg": "urn:ihe:iti-fr:xds-sd:jpeg:2010"}


# --- builders ---------------------------------------------------------------------------------------------------


def deposit(platform: Platform, patient_id: str, content: bytes, **options: Any) -> str:
    with platform.uow() as uow:
        result = record.deposit(uow=uow, actor=options.pop("actor", PLATFORM), patient_id=patient_id,
                                content=content, **options)  # fmt: skip
        uow.commit()
    return result.entry.id


def holder_file(platform: Platform, patient_id: str, actor: Actor, content: bytes, *, title: str,
                mime: str = "application/pdf", type_code: str = "DOCPAT01") -> str:  # fmt: skip
    """A PDF or JPEG the holder (or their representative) adds to the record themself."""
    with platform.uow() as uow:
        meta = DocumentMetadata(
            unique_id=f"urn:oid:2.25.{int(hashlib.sha256(content).hexdigest()[:30], 16)}",
            type_code=type_code, class_code="90",
            format_code=FORMATS[mime],
            confidentiality_code="N", title=title, author=Author(id=patient_id), author_kind=AuthorKind.PATIENT,
            mime_type=mime, creation_time=uow.clock.now(),
        )  # fmt: skip
        result = record.deposit(uow=uow, actor=actor, patient_id=patient_id, content=content, mime_type=mime,
                                metadata=meta)  # fmt: skip
        uow.commit()
    return result.entry.id


def write_archive(platform: Platform, actor: Actor, patient_id: str, path: Path) -> export.ExportArchive:
    with platform.uow() as uow:
        archive = export.export(uow=uow, actor=actor, patient_id=patient_id, destination=path,
                                fhir_base="https://carnet.example.org/fhir")  # fmt: skip
        uow.commit()
    return archive


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        for name, value in attrs:
            if name in ("href", "src", "action", "srcset", "data") and value is not None:
                self.links.append(value)
            if name == "id" and value:
                self.ids.add(value)


def checked(path: Path) -> dict[str, Any]:
    """Open the archive and check what every archive must satisfy; returns its parts."""
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        names = archive.namelist()
        files = {name: archive.read(name) for name in names}
    manifest = json.loads(files[export.MANIFEST_NAME])
    listed = {f["name"]: f for f in manifest["files"]}
    assert set(listed) == set(names) - {export.MANIFEST_NAME}
    for name, item in listed.items():
        assert hashlib.sha256(files[name]).hexdigest() == item["sha256"], name
        assert len(files[name]) == item["size"]
    bundle = json.loads(files[export.BUNDLE_NAME])
    Bundle.model_validate(bundle)
    assert bundle["type"] == "collection"
    page = files[export.INDEX_NAME].decode()
    parser = _Links()
    parser.feed(page)
    assert parser.links
    for link in parser.links:
        if link.startswith("#"):
            assert link[1:] in parser.ids, link
        else:
            assert "://" not in link and not link.startswith("//"), link
            assert link in names, link
    assert not parser.tags & {"script", "link", "img", "iframe", "object", "embed"}
    assert '<html lang="fr">' in page
    history = list(csv.DictReader(io.StringIO(files[export.HISTORY_NAME].decode())))
    events = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "AuditEvent"]
    assert len(history) == len(events)
    return {"names": names, "files": files, "bundle": bundle, "index": page, "history": history, "events": events}


def resources(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


# --- the holder's archive -----------------------------------------------------------------------------------------


@pytest.fixture
def dominique(platform: Platform) -> dict[str, Any]:
    """Dominique's record: a synthesis, a biology report, her own PDF, a report held back until the announcement
    consultation, a message from Dr Moreau with the held-back report attached, an opposition, a reading by Dr
    Moreau."""
    patient_id = qualified_patient(platform)
    in_care_team(platform, patient_id, DR_HOUSE)
    contents = {
        "vsm": example("VSM_1.4_2022.01.xml"),
        "bio": example("BIO-CR-BIO_2024.01_TSH_1.xml"),
        "pdf": minimal_pdf("Ordonnance de lunettes"),
        "held": example("IMG_CR_IMG_2024.01.xml"),
    }
    ids = {
        "vsm": deposit(platform, patient_id, contents["vsm"]),
        "bio": deposit(platform, patient_id, contents["bio"]),
        "pdf": holder_file(platform, patient_id, patient_as(patient_id), contents["pdf"], title="Mes lunettes"),
        "held": deposit(platform, patient_id, contents["held"], invisible_to_patient=True),
    }
    config = mss.MessagingConfig()
    with platform.uow() as uow:
        load_demo_directory(uow)
        mss.provision_professional(uow=uow, actor=PLATFORM, config=config, professional_id=DR_HOUSE.id)
        box = mss.provision_patient(uow=uow, actor=PLATFORM, config=config, patient_id=patient_id)
        mss.send(uow=uow, actor=DR_HOUSE, config=config, to=[box.address], subject="Vos résultats",
                 text="Bonjour, voici vos résultats de TSH.",
                 attachments=[mss.DocumentAttachment(ids["bio"]), mss.DocumentAttachment(ids["held"])])  # fmt: skip
        access.block(uow=uow, actor=patient_as(patient_id), patient_id=patient_id, target_kind="professional",
                     target_id="899700000002")  # fmt: skip
        record.get_content(uow=uow, actor=DR_HOUSE, entry_id=ids["vsm"])
        uow.commit()
    with platform.uow() as uow:
        held = record.get_document(uow=uow, actor=DR_HOUSE, entry_id=ids["held"])
    return {"id": patient_id, "ids": ids, "contents": contents, "held_title": held.metadata.title,
            "held_unique_id": held.metadata.unique_id}  # fmt: skip


def test_the_holders_archive_holds_every_visible_document_byte_for_byte(
    platform: Platform, dominique: dict[str, Any], tmp_path: Path
) -> None:
    patient_id, ids, contents = dominique["id"], dominique["ids"], dominique["contents"]
    archive = write_archive(platform, patient_as(patient_id), patient_id, tmp_path / "export.zip")
    parts = checked(tmp_path / "export.zip")
    documents = sorted(n for n in parts["names"] if n.startswith("documents/"))
    assert len(documents) == archive.documents == 3
    for key in ("vsm", "bio", "pdf"):
        (name,) = [n for n in documents if ids[key] in n]
        assert hashlib.sha256(parts["files"][name]).digest() == hashlib.sha256(contents[key]).digest()
        assert parts["files"][name] == contents[key]
    assert any(n.endswith(f"_SYNTH_{ids['vsm']}.xml") for n in documents)
    assert any(n.endswith(f"_DOCPAT01_{ids['pdf']}.pdf") for n in documents)
    assert any(n.startswith("documents/2026-11-22_DOCPAT01_") for n in documents)  # added today, Paris time


def test_the_bundle_holds_everything_structured_as_fhir_r4(
    platform: Platform, dominique: dict[str, Any], tmp_path: Path
) -> None:
    patient_id, ids = dominique["id"], dominique["ids"]
    archive = write_archive(platform, patient_as(patient_id), patient_id, tmp_path / "export.zip")
    parts = checked(tmp_path / "export.zip")
    bundle = parts["bundle"]
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds[0] == "Patient" and kinds[-1] == "AuditEvent"
    assert archive.resources == {k: kinds.count(k) for k in dict.fromkeys(kinds)}
    (patient,) = resources(bundle, "Patient")
    assert patient["meta"]["profile"] == ["https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient-ins"]
    assert patient["identifier"][0]["value"] == DOMINIQUE_INS
    references = resources(bundle, "DocumentReference")
    assert {r["id"] for r in references} == {ids["vsm"], ids["bio"], ids["pdf"]}
    for reference in references:
        assert reference["content"][0]["attachment"]["url"] in parts["names"]
    assert any(c["provision"]["type"] == "deny" for c in resources(bundle, "Consent"))
    (message,) = resources(bundle, "Communication")
    assert message["topic"]["text"] == "Vos résultats"
    attached = [p["contentReference"]["reference"] for p in message["payload"] if "contentReference" in p]
    assert attached == [f"DocumentReference/{ids['bio']}"]  # the held-back report is not even named
    subtypes = [e["subtype"][0]["code"] for e in parts["events"]]
    assert "document.read" in subtypes and "consent.opposition" in subtypes
    assert bundle["entry"][0]["fullUrl"] == f"https://carnet.example.org/fhir/Patient/{patient_id}"
    first_read = next(line for line in parts["history"] if line["action"] == "document.read")
    assert first_read["qui"].startswith("Dr Claire MOREAU") and first_read["libelle"] == "lecture d'un document"


def test_nothing_held_back_is_in_the_archive_and_the_export_is_traced(
    platform: Platform, dominique: dict[str, Any], tmp_path: Path
) -> None:
    patient_id, ids = dominique["id"], dominique["ids"]
    write_archive(platform, patient_as(patient_id), patient_id, tmp_path / "export.zip")
    parts = checked(tmp_path / "export.zip")
    for secret in (ids["held"], dominique["held_title"], dominique["held_unique_id"]):
        for name, data in parts["files"].items():
            assert secret.encode() not in data, (secret, name)
    assert "Mes lunettes" in parts["index"] and "Historique des accès" in parts["index"]
    with platform.uow() as uow:
        history = access.read_history(uow=uow, actor=patient_as(patient_id), patient_id=patient_id)
    exported = [row for row in history if row.action == "space.export"]
    assert len(exported) == 1 and exported[0].outcome == "success"
    assert exported[0].detail["documents"] == 3
    reads = [row.detail["document"] for row in history if row.action == "document.read"
             and row.actor_id == patient_id]  # fmt: skip
    assert sorted(reads) == sorted([ids["vsm"], ids["bio"], ids["pdf"]])


def test_the_platform_exports_what_the_holder_sees(
    platform: Platform, dominique: dict[str, Any], tmp_path: Path
) -> None:
    cli = Actor(kind=ActorKind.SYSTEM, id="cli", auth_method=AuthMethod.CLI)
    archive = write_archive(platform, cli, dominique["id"], tmp_path / "export.zip")
    parts = checked(tmp_path / "export.zip")
    assert archive.documents == 3
    assert not any(dominique["ids"]["held"] in name for name in parts["names"])
    assert "la plateforme, à la demande du titulaire" in parts["index"]


# --- representatives and refusals ---------------------------------------------------------------------------------


def test_a_document_invisible_to_representatives_never_reaches_the_representative(
    platform: Platform, tmp_path: Path
) -> None:
    parent = qualified_patient(platform)
    child = qualified_patient(platform, make_person(birth_name="VINCENT", birth_first_names="ELODIE INES",
                                                    birth_date="2015-10-25", birth_place="44109"))  # fmt: skip
    with platform.uow() as uow:
        access.add_representative(uow=uow, actor=PLATFORM, patient_id=child, representative_id=parent, role="parent")
        uow.commit()
    representative = Actor(kind=ActorKind.REPRESENTATIVE, id=parent, auth_method=AuthMethod.FRANCE_CONNECT,
                           name="Dominique PAT-TROIS", represented_patient_ids=frozenset({child}))  # fmt: skip
    vaccination = holder_file(platform, child, representative, minimal_pdf("Carnet de vaccination"),
                              title="Carnet de vaccination")  # fmt: skip
    private = holder_file(platform, child, patient_as(child), minimal_pdf("Consultation confidentielle"),
                          title="Consultation confidentielle")  # fmt: skip
    with platform.uow() as uow:
        record.set_invisible_to_representatives(uow=uow, actor=patient_as(child), entry_id=private, invisible=True)
        uow.commit()
    archive = write_archive(platform, representative, child, tmp_path / "parent.zip")
    parts = checked(tmp_path / "parent.zip")
    assert archive.documents == 1
    assert [n for n in parts["names"] if n.startswith("documents/")] == [n for n in parts["names"] if vaccination in n]
    for name, data in parts["files"].items():
        assert private.encode() not in data and b"Consultation confidentielle" not in data, name
    assert "Dominique PAT-TROIS, représentant légal" in parts["index"]
    # The child herself gets both.
    assert write_archive(platform, patient_as(child), child, tmp_path / "child.zip").documents == 2


def test_only_the_holder_side_exports(platform: Platform, dominique: dict[str, Any], tmp_path: Path) -> None:
    patient_id = dominique["id"]
    with platform.uow() as uow, pytest.raises(Forbidden, match="seul le titulaire"):
        export.export(uow=uow, actor=DR_HOUSE, patient_id=patient_id, destination=tmp_path / "pro.zip")
    stranger = Actor(kind=ActorKind.REPRESENTATIVE, id="someone", auth_method=AuthMethod.FRANCE_CONNECT,
                     represented_patient_ids=frozenset({patient_id}))  # fmt: skip
    with platform.uow() as uow, pytest.raises(Forbidden, match="représentant légal"):
        export.export(uow=uow, actor=stranger, patient_id=patient_id, destination=tmp_path / "stranger.zip")
    adult_guardian = qualified_patient(platform, make_person())
    with platform.uow() as uow:
        access.add_representative(uow=uow, actor=PLATFORM, patient_id=patient_id, representative_id=adult_guardian,
                                  role="parent")  # fmt: skip
        uow.commit()
    former = Actor(kind=ActorKind.REPRESENTATIVE, id=adult_guardian, auth_method=AuthMethod.FRANCE_CONNECT,
                   represented_patient_ids=frozenset({patient_id}))  # fmt: skip
    with platform.uow() as uow, pytest.raises(Forbidden, match="majorité"):
        export.export(uow=uow, actor=former, patient_id=patient_id, destination=tmp_path / "former.zip")
    with platform.uow() as uow:
        denied = [(r.actor_id, r.outcome) for r in uow.audit.for_patient(patient_id) if r.action == "space.export"]
    assert denied == [(DR_HOUSE.id, "denied"), ("someone", "denied"), (adult_guardian, "denied")]


# --- the registry of further sections -----------------------------------------------------------------------------


def _alert(scope: export.Scope) -> list[dict[str, Any]]:
    if scope.actor.kind not in (ActorKind.PATIENT, ActorKind.SYSTEM):
        return []
    return [{"resourceType": "Flag", "id": "alerte-1", "status": "active",
             "meta": {"lastUpdated": "2026-11-01T08:00:00+00:00"}, "code": {"text": "Allergie à la pénicilline"},
             "subject": {"reference": f"Patient/{scope.patient_id}"}}]  # fmt: skip


@pytest.fixture
def alert_section() -> Any:
    export.register_resources("test-alerts", ("Flag",), _alert)
    yield
    export.unregister_resources("test-alerts")


@pytest.mark.usefixtures("alert_section")
def test_a_registered_section_adds_its_resources(platform: Platform, dominique: dict[str, Any], tmp_path: Path) -> None:
    patient_id = dominique["id"]
    assert "Flag" in export.resource_types() and export.resource_types()[-1] == "AuditEvent"
    archive = write_archive(platform, patient_as(patient_id), patient_id, tmp_path / "export.zip")
    parts = checked(tmp_path / "export.zip")
    assert archive.resources["Flag"] == 1
    kinds = [e["resource"]["resourceType"] for e in parts["bundle"]["entry"]]
    assert kinds.index("Flag") > kinds.index("Communication") and kinds[-1] == "AuditEvent"
    assert "Flag : 1" in parts["index"]
    with platform.uow() as uow:
        found = export.everything(uow=uow, actor=patient_as(patient_id), patient_id=patient_id,
                                  types=["Flag"])  # fmt: skip
    assert [r["id"] for r in found] == ["alerte-1"]


def test_a_section_may_not_take_a_core_type() -> None:
    with pytest.raises(ValueError, match="core sections"):
        export.register_resources("rogue", ("DocumentReference",), _alert)


# --- a record of many documents is streamed -------------------------------------------------------------------


def test_a_record_of_many_documents_is_streamed_to_disk_not_held_in_memory(platform: Platform, tmp_path: Path) -> None:
    patient_id = qualified_patient(platform)
    holder = patient_as(patient_id)
    count, size = 32, 512 * 1024
    sha = {}
    for number in range(count):
        # Random bytes: the compressor cannot make them small, each stays half a megabyte.
        photo = b"\xff\xd8\xff\xe0" + os.urandom(size) + b"\xff\xd9"
        entry_id = holder_file(platform, patient_id, holder, photo, title=f"Photo {number}", mime="image/jpeg",
                               type_code="DOCPAT04")  # fmt: skip
        sha[entry_id] = hashlib.sha256(photo).hexdigest()
    # A first, small export imports what an export uses (FHIR models, mappings): the measure is of the export.
    other = qualified_patient(platform, make_person())
    holder_file(platform, other, patient_as(other), minimal_pdf("Premier export"), title="Premier export")
    write_archive(platform, patient_as(other), other, tmp_path / "warm-up.zip")
    reads: list[int] = []
    original = platform.blobs.get

    def counted(digest: str) -> bytes:
        reads.append(1)
        return original(digest)

    platform.blobs.get = counted  # type: ignore[method-assign]
    tracemalloc.start()
    try:
        with platform.uow() as uow:
            tracemalloc.reset_peak()
            archive = export.export(uow=uow, actor=holder, patient_id=patient_id, destination=tmp_path / "big.zip")
            _, peak = tracemalloc.get_traced_memory()
            uow.commit()
    finally:
        tracemalloc.stop()
        platform.blobs.get = original  # type: ignore[method-assign]
    total = count * size
    assert archive.documents == count and len(reads) == count  # each document read once, one after the other
    # A few documents' worth at most, whatever the number of documents (here a third of them).
    assert peak < 10 * size, f"peak {peak} bytes for {total} bytes of documents"
    assert (tmp_path / "big.zip").stat().st_size > total  # on disk, not in memory
    with zipfile.ZipFile(tmp_path / "big.zip") as written:
        for name in written.namelist():
            if name.startswith("documents/"):
                entry_id = name.rsplit("_", 1)[1].split(".")[0]
                with written.open(name) as member:
                    assert hashlib.file_digest(member, "sha256").hexdigest() == sha[entry_id]

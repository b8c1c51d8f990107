"""``carnet space export`` through the real entry point on both backends: the archive written, its document byte for
byte, the manifest's hashes, clear refusals with exit code 1 and nothing written."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

from tests.builders import CDA_EXAMPLES
from tests.e2e.clirun import Carnet
from tests.e2e.test_cli import DOMINIQUE, DOMINIQUE_INS, SECRETARIAT, add_patient, no_traceback

VSM = CDA_EXAMPLES / "VSM_1.4_2022.01.xml"


def _dominique_with_her_synthesis(carnet: Carnet) -> dict[str, object]:
    patient = add_patient(carnet, DOMINIQUE, "--insi", *SECRETARIAT)
    carnet.ok("patient", "qualify", patient["id"], "--document", "CN", *SECRETARIAT)
    return carnet.ok("doc", "add", str(VSM), "--patient", DOMINIQUE_INS, "--json").json()  # type: ignore[no-any-return]


def test_space_export_writes_the_archive(carnet: Carnet, backend: str, tmp_path: Path) -> None:
    added = _dominique_with_her_synthesis(carnet)
    output = tmp_path / "dominique.zip"
    summary = carnet.ok("space", "export", DOMINIQUE_INS, "--output", str(output), "--json").json()
    assert summary["output"] == str(output) and summary["documents"] == 1
    with zipfile.ZipFile(output) as archive:
        names = archive.namelist()
        (document,) = [n for n in names if n.startswith("documents/")]
        assert document.endswith(f"_SYNTH_{added['id']}.xml")
        assert archive.read(document) == VSM.read_bytes()
        manifest = json.loads(archive.read("manifest.json"))
        for item in manifest["files"]:
            assert hashlib.sha256(archive.read(item["name"])).hexdigest() == item["sha256"]
        bundle = json.loads(archive.read("dossier-fhir.json"))
    assert {"index.html", "historique-des-acces.csv", "dossier-fhir.json", "manifest.json"} <= set(names)
    assert bundle["entry"][0]["fullUrl"].endswith("/fhir/Patient/" + summary["patient"])
    assert not list(tmp_path.glob(".export-*"))  # the partial file was renamed
    plain = carnet.ok("space", "export", DOMINIQUE_INS, "--output", str(tmp_path / "again.zip"))
    assert plain.stdout.startswith(f"Archive écrite : {tmp_path / 'again.zip'} (1 document(s), ")
    history = carnet.ok("audit", "history", DOMINIQUE_INS, "--json").json()
    text = json.dumps(history, ensure_ascii=False)
    assert "space.export" in text


def test_space_export_refuses_clearly(carnet: Carnet, backend: str, tmp_path: Path) -> None:
    _dominique_with_her_synthesis(carnet)
    unknown = carnet("space", "export", "180017511224321", "--output", str(tmp_path / "x.zip"))
    assert unknown.code == 1 and "aucun patient avec l'INS 180017511224321" in unknown.stderr, str(unknown)
    malformed = carnet("space", "export", "12345", "--output", str(tmp_path / "y.zip"))
    assert malformed.code == 1 and malformed.stderr.startswith("Erreur : "), str(malformed)
    existing = tmp_path / "exists.zip"
    existing.write_bytes(b"keep me")
    taken = carnet("space", "export", DOMINIQUE_INS, "--output", str(existing))
    assert taken.code == 1 and "existe déjà" in taken.stderr and existing.read_bytes() == b"keep me"
    nowhere = carnet("space", "export", DOMINIQUE_INS, "--output", str(tmp_path / "absent" / "z.zip"))
    assert nowhere.code == 1 and "n'existe pas" in nowhere.stderr
    for run in (unknown, malformed, taken, nowhere):
        no_traceback(run)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "exists.zip"]

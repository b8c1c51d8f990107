"""Synthetic demo population: the sandbox INSi identities, brought to realistic statuses."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from carnet.bootstrap import Platform
from carnet.directory.demo import load_demo_directory
from carnet.identity import service as identities
from carnet.identity.insi import SandboxInsi
from carnet.identity.status import ActorKind, IdDocumentType, QualificationActor
from carnet.identity.traits import Traits
from carnet.storage.uow import UnitOfWork

# Demo actors. RPPS-like ids under the "8" prefix used for fictitious professionals in test directories.
DEMO_DOCTOR = QualificationActor(kind=ActorKind.PROFESSIONAL, profession_code="10", id="899700000001")
DEMO_SECRETARY = QualificationActor(kind=ActorKind.SECRETARIAT, profession_code=None, id="CPE-899700000101")


DEMO_DOCUMENTS_PER_PATIENT = 8
DEMO_DOCUMENT_SEED = 2026
_DEMO_BRANCH = 7  # the generator's unique-id branch for demo documents (the benchmarks use others)


@dataclass(frozen=True, slots=True)
class DemoReport:
    created: int
    skipped: int
    qualified: int
    collisions: int


def _present(uow: UnitOfWork, traits: Traits) -> bool:
    return any(
        (r.birth_name, r.first_name, r.birth_place) == (traits.birth_name, traits.first_name, traits.birth_place)
        for r in uow.patients.active_by_birth_date(traits.birth_date)
    )


def load_demo(platform: Platform) -> DemoReport:
    """Load the demo population once (identities already present are skipped); one transaction."""
    sandbox = platform.insi if isinstance(platform.insi, SandboxInsi) else SandboxInsi.from_package()
    created = skipped = qualified = collisions = 0
    with platform.uow() as uow:
        for index, (ins, traits) in enumerate(sandbox.people):
            if uow.patients.by_ins(ins.value) is not None or _present(uow, traits):
                skipped += 1
                continue
            # Local traits as typed at the front desk; a few use names, to show used vs birth names.
            local = traits
            if index % 7 == 3 and traits.sex == "F":
                local = dataclasses.replace(traits, used_name="LEGRAND")
            reg = identities.register(uow=uow, actor=DEMO_SECRETARY, traits=local)
            created += 1
            if index % 10 == 9:
                continue  # left provisional: INSi not called yet
            identities.retrieve_ins(uow=uow, actor=DEMO_SECRETARY, insi=sandbox, patient_id=reg.patient.id)
            if index % 10 == 8:
                continue  # recovered from INSi, identity document not seen yet
            identities.record_document_check(
                uow=uow, actor=DEMO_SECRETARY, patient_id=reg.patient.id, document_type=IdDocumentType.CN
            )
            qualified += 1
        if created:
            # A front-desk typo next to a qualified identity: the index warns about a possible collision.
            first_ins, first_traits = sandbox.people[0]
            typo = dataclasses.replace(first_traits, birth_name=first_traits.birth_name.replace("TROIS", "TROI"))
            if not _present(uow, typo):
                reg = identities.register(uow=uow, actor=DEMO_SECRETARY, traits=typo)
                created += 1
                collisions = len(reg.collisions)
        load_demo_directory(uow)
        uow.commit()
    return DemoReport(created=created, skipped=skipped, qualified=qualified, collisions=collisions)


def load_demo_documents(platform: Platform) -> int:
    """Give each demo holder (and the represented child) a few synthetic documents of the main types, deposited by
    the platform's import job through the real deposit path (checked, indexed, traced, notified); a holder who
    already has documents is left alone. Returns the number of documents deposited."""
    from carnet.access.model import Actor, AuthMethod
    from carnet.access.model import ActorKind as AccessActorKind
    from carnet.auth import devusers
    from carnet.bench.record import DocumentFactory, PatientRef
    from carnet.identity.status import IdentityStatus
    from carnet.record import service as record

    importer = Actor(kind=AccessActorKind.SYSTEM, id="demo-import", auth_method=AuthMethod.SYSTEM)
    holders = [p.ins for p in devusers.PATIENTS] + list(devusers.REPRESENTED)
    factory = DocumentFactory(DEMO_DOCUMENT_SEED)
    deposited = 0
    for index, ins in enumerate(holders):
        with platform.uow() as uow:
            row = uow.patients.by_ins(ins)
            if row is None or row.status != IdentityStatus.QUAL.value or row.ins_oid is None:
                continue
            if record.list_documents(uow=uow, actor=importer, patient_id=row.id, limit=1).total:
                continue
            ref = PatientRef(id=row.id, matricule=ins, oid=row.ins_oid, birth_name=row.birth_name,
                             first_names=row.birth_first_names, sex=row.sex, birth_date=row.birth_date)  # fmt: skip
            for number in range(DEMO_DOCUMENTS_PER_PATIENT):
                doc = factory.document(index * 100 + number, ref, branch=_DEMO_BRANCH)
                record.deposit(uow=uow, actor=importer, patient_id=row.id, content=doc.content)
                deposited += 1
            uow.commit()
    return deposited

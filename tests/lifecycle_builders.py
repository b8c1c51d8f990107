"""Builders for the space's life: people of the INSi sandbox at every age, a campaign for them, the clock moved to
a given day."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any

from sqlalchemy import select

from carnet.access.model import Actor, ActorKind, AuthMethod
from carnet.audit.store import AuditRow
from carnet.clock import FrozenClock
from carnet.record import service as record
from carnet.record.model import Author, AuthorKind, DocumentMetadata
from carnet.space import campaign
from carnet.space.lifecycle import PARIS
from carnet.space.lifecycle_admin import ContactIn
from tests.builders import make_person, qualified_patient

DOMINIQUE_INS = "279035121518989"  # PAT-TROIS Dominique, 1979: an adult
RUTH_INS = "277076322082910"  # NESSI Ruth, 1977: an adult
ANNE_SOPHIE_INS = "209076912310425"  # GARCIA Anne-Sophie, born 2009-07-09: 18 on 2027-07-09
ELODIE_INS = "215104410965730"  # VINCENT Elodie, born 2015-10-25: a child
THOMAS_INS = "107109910058112"  # BERTRAND Thomas, born 2007-10-02: an adult since 2025

DOMINIQUE_MAIL = "dominique.pat-trois@example.org"
PARENT_MAIL = "parent.garcia@example.org"
REIMS = ContactIn(address_line="12 rue des Lilas", postal_code="51100", city="Reims")


def ruth(platform: Any) -> str:
    return qualified_patient(platform, make_person(birth_name="NESSI", birth_first_names="RUTH ISABELLE", sex="F",
                                                   birth_date="1977-07-14", birth_place="63220"))  # fmt: skip


def anne_sophie(platform: Any) -> str:
    return qualified_patient(platform, make_person(birth_name="GARCIA", birth_first_names="ANNE-SOPHIE CHLOE",
                                                   sex="F", birth_date="2009-07-09", birth_place="69123"))  # fmt: skip


def elodie(platform: Any) -> str:
    return qualified_patient(platform, make_person(birth_name="VINCENT", birth_first_names="ELODIE INES", sex="F",
                                                   birth_date="2015-10-25", birth_place="44109"))  # fmt: skip


def thomas(platform: Any) -> str:
    return qualified_patient(platform, make_person(birth_name="BERTRAND", birth_first_names="THOMAS KARIM YANN",
                                                   sex="M", birth_date="2007-10-02", birth_place="99100"))  # fmt: skip


def representative_of(patient_id: str, representative_id: str) -> Actor:
    """A signed-in person acting as the legal representative of ``patient_id``."""
    return Actor(kind=ActorKind.REPRESENTATIVE, id=representative_id, auth_method=AuthMethod.FRANCE_CONNECT,
                 represented_patient_ids=frozenset({patient_id}))  # fmt: skip


OPERATOR_DESK = Actor(kind=ActorKind.SYSTEM, id="cli", auth_method=AuthMethod.CLI, name="campagne de test")


def campaign_of(platform: Any, *people: tuple[str, ContactIn], name: str = "Marne, novembre 2026") -> str:
    """A campaign including each (INS, contact details) given."""
    with platform.uow() as uow:
        created = campaign.create_campaign(uow=uow, actor=OPERATOR_DESK, name=name,
                                           population=[campaign.PersonIn(ins=ins, contact=contact)
                                                       for ins, contact in people])  # fmt: skip
        uow.commit()
    assert created.included == len(people), created.skipped
    return created.id


def on_day(clock: FrozenClock, day: dt.date, hour: int = 10) -> None:
    """Move the clock to ``day`` at ``hour`` o'clock, French legal time."""
    target = dt.datetime.combine(day, dt.time(hour), tzinfo=PARIS)
    clock.advance(target - clock.now())


def holder_pdf(platform: Any, patient_id: str, content: bytes, *, title: str = "Ordonnance de lunettes") -> str:
    """A PDF the holder adds to their record themself (its own unique id, whatever the bytes)."""
    from carnet.access.model import ActorKind as Kind

    holder = Actor(kind=Kind.PATIENT, id=patient_id, auth_method=AuthMethod.FRANCE_CONNECT)
    with platform.uow() as uow:
        meta = DocumentMetadata(unique_id=f"urn:oid:2.25.{int(secrets.token_hex(12), 16)}", type_code="DOCPAT01",
                                class_code="90", format_code="urn:ihe:iti:xds-sd:pdf:2008", confidentiality_code="N",
                                title=title, author=Author(id=patient_id), author_kind=AuthorKind.PATIENT,
                                mime_type="application/pdf", creation_time=uow.clock.now())  # fmt: skip
        result = record.deposit(uow=uow, actor=holder, patient_id=patient_id, content=content,
                                mime_type="application/pdf", metadata=meta)  # fmt: skip
        uow.commit()
    return result.entry.id


def trail(platform: Any, patient_id: str | None) -> list[tuple[str, str, str]]:
    """(action, outcome, actor id) of every audit entry of the patient (None: the platform's own), in order."""
    with platform.uow() as uow:
        mine = AuditRow.patient_id == patient_id if patient_id else AuditRow.patient_id.is_(None)
        stmt = select(AuditRow).where(mine)
        return [(r.action, r.outcome, r.actor_id) for r in uow.session.scalars(stmt.order_by(AuditRow.id))]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()

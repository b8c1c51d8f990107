"""Two runners of the same campaign step at once (two threads, each with its own units of work: two connections
on PostgreSQL, two writers of one SQLite file): each person is informed exactly once (one e-mail over a real SMTP
server on loopback, or one letter handed to the printer once), each space opens exactly once, and nobody is left
half-done."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from aiosmtpd.controller import Controller
from sqlalchemy import select

from carnet.access.model import SpaceStatus
from carnet.audit.store import AuditRow
from carnet.bootstrap import Platform
from carnet.clock import FrozenClock
from carnet.identity import service as identity
from carnet.identity.status import IdDocumentType
from carnet.notify.mailer import deliver_pending
from carnet.notify.store import MailOutboxRow, NotificationRow
from carnet.settings import Settings
from carnet.space import campaign
from carnet.space.lifecycle_admin import ContactIn
from carnet.space.store import MemberRow, NoticeRow
from tests.builders import FRONT_DESK, TODAY
from tests.integration.test_notify_outbox import Collector, collector, mail_settings, smtp_port, smtp_server
from tests.lifecycle_builders import OPERATOR_DESK, on_day

__all__ = ["collector", "mail_settings", "smtp_port", "smtp_server"]

T = TypeVar("T")
PEOPLE = 12  # adults of the INSi sandbox: every other one by e-mail, the others by post
RUNNERS = 2


def _at_once(job: Callable[[], T], runners: int = RUNNERS) -> list[T]:
    """``job`` run by ``runners`` threads released together."""
    start = threading.Barrier(runners)

    def run() -> T:
        start.wait(timeout=30)
        return job()

    with ThreadPoolExecutor(max_workers=runners) as pool:
        futures = [pool.submit(run) for _ in range(runners)]
        return [f.result(timeout=120) for f in futures]


def _adults(platform: Platform) -> list[tuple[str, str]]:
    """(patient id, INS) of ``PEOPLE`` adults of the sandbox, qualified as a front desk would."""
    out: list[tuple[str, str]] = []
    people: Any = platform.insi
    for _ins, traits in people.people:
        if traits.birth_date > dt.date(2000, 1, 1):
            continue
        with platform.uow() as uow:
            reg = identity.register(uow=uow, actor=FRONT_DESK, traits=traits)
            identity.retrieve_ins(uow=uow, actor=FRONT_DESK, insi=platform.insi, patient_id=reg.patient.id)
            identity.record_document_check(uow=uow, actor=FRONT_DESK, patient_id=reg.patient.id,
                                           document_type=IdDocumentType.CN)  # fmt: skip
            uow.commit()
            row = uow.patients.get(reg.patient.id)
        if row is not None and row.status == "QUAL" and row.ins_matricule:
            out.append((row.id, row.ins_matricule))
        if len(out) == PEOPLE:
            break
    assert len(out) == PEOPLE
    return out


def _contact(number: int) -> ContactIn:
    if number % 2 == 0:
        return ContactIn(email=f"personne.{number}@example.org")
    return ContactIn(address_line=f"{number} rue des Lilas", postal_code="51100", city="Reims")


def _per_patient(platform: Platform, row: Any, *where: Any) -> Counter[str]:
    with platform.uow() as uow:
        return Counter(uow.session.scalars(select(row.patient_id).where(*where)))


def test_two_runners_inform_each_person_once_and_open_each_space_once(
    platform: Platform, clock: FrozenClock, mail_settings: Settings, smtp_server: Controller, collector: Collector,
    tmp_path: Path,
) -> None:  # fmt: skip
    people = _adults(platform)
    with platform.uow() as uow:
        created = campaign.create_campaign(uow=uow, actor=OPERATOR_DESK, name="Marne, deux lanceurs",
                                           population=[campaign.PersonIn(ins=ins, contact=_contact(n))
                                                       for n, (_, ins) in enumerate(people)])  # fmt: skip
        uow.commit()
    assert created.included == PEOPLE
    ids = {pid for pid, _ in people}
    mails = sorted(f"personne.{n}@example.org" for n in range(0, PEOPLE, 2))

    reports = _at_once(lambda: campaign.run_campaign(platform=platform, campaign_id=created.id))
    assert sum(r.informed for r in reports) == PEOPLE
    assert (sum(r.emails for r in reports), sum(r.letters for r in reports)) == (PEOPLE // 2, PEOPLE // 2)
    assert sum(r.unreachable for r in reports) == 0

    # Each person whole and once: informed, one notice, one notification, one trace.
    with platform.uow() as uow:
        members = list(uow.session.scalars(select(MemberRow).where(MemberRow.campaign_id == created.id)))
        outbox = sorted(uow.session.scalars(select(MailOutboxRow.to_address)))
    assert {m.status for m in members} == {"informed"} and all(m.code_sha256 for m in members)
    assert len({m.code_sha256 for m in members}) == PEOPLE
    assert _per_patient(platform, NoticeRow) == Counter(dict.fromkeys(ids, 1))
    assert _per_patient(platform, NotificationRow) == Counter(dict.fromkeys(ids, 1))
    assert _per_patient(platform, AuditRow, AuditRow.action == "space.inform") == Counter(dict.fromkeys(ids, 1))
    assert outbox == mails

    # One e-mail each over SMTP, one letter each for the printer.
    assert deliver_pending(session_factory=platform.session_factory, clock=clock, settings=mail_settings).sent == 6
    assert sorted(r for rs in collector.recipients for r in rs) == mails
    # Two exports for the printer at once: each letter handed out once.
    exported = _at_once(lambda: campaign.export_letters(platform=platform, output_dir=tmp_path / "courriers"))
    letters = [path for paths in exported for path in paths]
    assert len(letters) == len(set(letters)) == PEOPLE // 2 and all(p.read_bytes().startswith(b"%PDF") for p in letters)
    handed = _per_patient(platform, AuditRow, AuditRow.action == "space.letters_export")
    assert sorted(handed.values()) == [1] * (PEOPLE // 2)
    assert campaign.export_letters(platform=platform, output_dir=tmp_path / "courriers") == []

    # Six weeks later, two nightly jobs at once open each space once.
    on_day(clock, TODAY + dt.timedelta(days=42), hour=2)
    opened = _at_once(lambda: campaign.open_due(platform=platform))
    assert sum(r.opened for r in opened) == PEOPLE
    assert _per_patient(platform, AuditRow, AuditRow.action == "space.open") == Counter(dict.fromkeys(ids, 1))
    assert _per_patient(platform, NotificationRow) == Counter(dict.fromkeys(ids, 2))  # informed, then opened
    with platform.uow() as uow:
        statuses = {uow.access.profile(pid).space_status for pid in ids}  # type: ignore[union-attr]
        assert {m.status for m in uow.session.scalars(select(MemberRow))} == {"opened"}
    assert statuses == {SpaceStatus.OPEN.value}
    assert sum(r.opened for r in _at_once(lambda: campaign.open_due(platform=platform))) == 0

"""The retention purge removes the whole content of a closed space, not only its documents, on both backends and
with the injected clock: a space with data of every kind, closed, purged at retention + 1 day has every kind gone
(counted in the database), its audit trail and the rows that make the purge traceable kept; a second run purges
nothing more; a crash half-way leaves nothing purged; a space re-opened before the end and another patient's data
are untouched; every table holding a patient's data is in the purge's inventory."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select, text

from carnet.access import service as access
from carnet.access.store import AccessProfileRow
from carnet.audit.store import AuditRow
from carnet.audit.verify import verify
from carnet.bootstrap import Platform
from carnet.catalogue import service as catalogue
from carnet.clock import FrozenClock
from carnet.directory.demo import load_demo_directory
from carnet.identity.store import PatientRow
from carnet.messaging import service as mss
from carnet.messaging.store import ConversationRow, MailboxRow, MessageRow
from carnet.notify import service as notify
from carnet.notify.store import MailOutboxRow, NotificationRow
from carnet.record import service as record
from carnet.record.store import DocumentRow
from carnet.space import agenda, lifecycle, lifecycle_admin, lifecycle_purge, profile
from carnet.space import reimbursements as remb
from carnet.space.agenda_store import AgendaEventRow, AgendaReminderRow
from carnet.space.lifecycle_admin import ContactIn
from carnet.space.profile_model import AllergyIn, Answers, ImmunizationIn, Measurement, Quantity
from carnet.space.store import ClosureRow, ContactRow
from carnet.storage.models import metadata
from tests.builders import DR_HOUSE, NURSE_JOY, PLATFORM, in_care_team, minimal_pdf, patient_as, qualified_patient
from tests.catalogue_builders import CALLBACK, referenced_app
from tests.lifecycle_builders import holder_pdf, on_day, ruth, thomas

CONFIG = mss.MessagingConfig()
REIMB_HEADER = "line_id;ins;care_date;act_code;act_label;professional;paid;reimbursed;left_to_pay"
CLOSED_ON = dt.date(2026, 11, 22)
LAST_DAY_KEPT = dt.date(2036, 11, 22)  # ten years
PURGE_DAY = LAST_DAY_KEPT + dt.timedelta(days=1)
PURGED_KINDS = {
    "search_index", "document_texts", "observations", "immunizations", "allergies", "questionnaire_responses",
    "agenda_reminders", "agenda_events", "agenda_feeds", "reimbursement_lines", "app_connections", "grants",
    "consents", "care_team", "notification_mails", "notifications", "notification_preferences", "first_accesses",
    "contact_details", "medecin_traitant", "mailboxes_retired",
}  # fmt: skip


def _ins(platform: Platform, patient_id: str) -> str:
    with platform.uow() as uow:
        row = uow.patients.get(patient_id)
        assert row is not None and row.ins_matricule
        return row.ins_matricule


def _fill(platform: Platform, patient_id: str, app_id: str, tag: str) -> None:
    """One of everything a space holds, each through its own service."""
    holder = patient_as(patient_id)
    in_care_team(platform, patient_id, DR_HOUSE)
    holder_pdf(platform, patient_id, minimal_pdf(f"Ordonnance {tag}"), title=f"Ordonnance {tag}lunettes")
    with platform.uow() as uow:
        now = uow.clock.now()
        notify.set_preferences(uow=uow, patient_id=patient_id, email=f"{tag}@example.org", enabled=True)
        lifecycle_admin.update_contact(uow=uow, actor=holder, patient_id=patient_id,
                                       contact=ContactIn(email=f"{tag}@example.org", phone="0612345678"))  # fmt: skip
        access.set_medecin_traitant(uow=uow, actor=holder, patient_id=patient_id, professional_id=DR_HOUSE.id)
        access.add_grant(uow=uow, actor=holder, patient_id=patient_id, grantee_kind="professional",
                         grantee_id=NURSE_JOY.id, can_read=True, can_write=False)  # fmt: skip
        access.block(uow=uow, actor=holder, patient_id=patient_id, target_kind="professional",
                     target_id="810000000099")  # fmt: skip
        access.set_emergency_refused(uow=uow, actor=holder, patient_id=patient_id, refused=True)
        access.record_consent(uow=uow, actor=NURSE_JOY, patient_id=patient_id)
        weight = Measurement(kind="weight", values={"weight": Quantity(64.5, "kg")},
                             effective_at=now - dt.timedelta(hours=1))  # fmt: skip
        profile.add_measure(uow=uow, actor=holder, patient_id=patient_id, measurement=weight)
        profile.add_immunization(uow=uow, actor=holder, patient_id=patient_id,
                                 immunization=ImmunizationIn(occurrence=dt.date(2021, 4, 9), vaccine_cis="61920725",
                                                             dose_number=1))  # fmt: skip
        profile.add_allergy(uow=uow, actor=holder, patient_id=patient_id, allergy=AllergyIn(substance="Arachide"))
        profile.save_questionnaire(uow=uow, actor=holder, patient_id=patient_id,
                                   answers=Answers.from_text(treatments="Lévothyroxine 75 µg le matin"))  # fmt: skip
        agenda.add_event(uow=uow, actor=holder, patient_id=patient_id,
                         event=agenda.EventIn(kind="appointment", title=f"Ophtalmologie {tag}",
                                              start_at=now + dt.timedelta(days=1)))  # fmt: skip
        agenda.feed_token(uow=uow, actor=holder, patient_id=patient_id)
        agenda.send_reminders(uow=uow)
        line = f"AM-{tag};{_ins(platform, patient_id)};2026-10-02;GS;Consultation;Dr MOREAU;30.00;20.00;"
        feed = f"{REIMB_HEADER}\r\n{line}\r\n"
        remb.import_feed(uow=uow, data=feed.encode(), fmt="csv")
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        catalogue.connect(uow=uow, actor=holder, patient_id=patient_id, app_id=app_id, categories=frozenset({"vitals"}),
                          redirect_uri=CALLBACK, code_challenge=challenge)  # fmt: skip
        uow.commit()
    with platform.uow() as uow:  # the médecin reads the record (first access: notified), writes to the holder
        record.list_documents(uow=uow, actor=DR_HOUSE, patient_id=patient_id)
        mss.provision_professional(uow=uow, actor=PLATFORM, config=CONFIG, professional_id=DR_HOUSE.id)
        box = mss.provision_patient(uow=uow, actor=PLATFORM, config=CONFIG, patient_id=patient_id)
        mss.send(uow=uow, actor=DR_HOUSE, config=CONFIG, to=[box.address], subject="Vos résultats",
                 text=f"Bonjour {tag}, vos résultats sont normaux.")  # fmt: skip
        uow.commit()


def _rows(platform: Platform) -> dict[str, dict[str, int]]:
    """Rows per table and per patient, for every table of the inventory that names its patient (and the few that
    hang on one), counted in the database."""
    out: dict[str, dict[str, int]] = {}
    with platform.uow() as uow:
        for table in metadata.sorted_tables:
            column = table.c.get("patient_id")
            if column is None:
                continue
            stmt = select(column, func.count()).group_by(column)
            if table.name == "notifications":  # the space's own life is kept: count the others
                stmt = stmt.where(table.c.kind != "space")
            if table.name == "mailboxes":
                stmt = stmt.where(table.c.active.is_(True))
            out[table.name] = {pid: int(n) for pid, n in uow.session.execute(stmt) if pid}
        reminders = (select(AgendaEventRow.patient_id, func.count())
                     .join(AgendaReminderRow, AgendaReminderRow.event_id == AgendaEventRow.id)
                     .group_by(AgendaEventRow.patient_id))  # fmt: skip
        out["agenda_reminders"] = {pid: int(n) for pid, n in uow.session.execute(reminders)}
        mails = (select(NotificationRow.patient_id, func.count()).join(
            MailOutboxRow, MailOutboxRow.notification_id == NotificationRow.id)
            .where(NotificationRow.kind != "space").group_by(NotificationRow.patient_id))  # fmt: skip
        out["mail_outbox"] = {pid: int(n) for pid, n in uow.session.execute(mails)}
        contacts = select(ContactRow.party_id, func.count()).where(ContactRow.party_kind == "holder")
        out["space_contacts"] = {pid: int(n) for pid, n in uow.session.execute(contacts.group_by(ContactRow.party_id))}
        traitants = select(AccessProfileRow.patient_id).where(AccessProfileRow.medecin_traitant_id.is_not(None))
        out["medecin_traitant"] = dict.fromkeys(uow.session.scalars(traitants), 1)
        out["patients"] = dict.fromkeys(uow.session.scalars(select(PatientRow.id)), 1)
        messages = (select(ConversationRow.patient_id, func.count())
                    .join(MessageRow, MessageRow.conversation_id == ConversationRow.id)
                    .group_by(ConversationRow.patient_id))  # fmt: skip
        out["messages"] = {pid: int(n) for pid, n in uow.session.execute(messages) if pid}
        indexed = text("SELECT d.patient_id, count(*) FROM document_search s JOIN documents d ON d.id = s.document_id "
                       "GROUP BY d.patient_id")  # fmt: skip
        out["document_search"] = {pid: int(n) for pid, n in uow.session.execute(indexed)}
        titled = (select(DocumentRow.patient_id, func.count()).where(DocumentRow.title != lifecycle_purge.PURGED_TITLE)
                  .group_by(DocumentRow.patient_id))  # fmt: skip
        out["document_texts"] = {pid: int(n) for pid, n in uow.session.execute(titled)}
    return out


PURGED_TABLES = sorted({t for t, (d, _) in lifecycle_purge.RETENTION.items() if d == "purged"} - {"documents"}
                       | {"medecin_traitant", "mailboxes", "document_texts"})  # fmt: skip
KEPT_TABLES = ["patients", "identity_events", "space_closures", "oppositions", "access_profiles", "messages",
               "conversations"]  # fmt: skip


def _of(rows: dict[str, dict[str, int]], patient_id: str, tables: list[str]) -> dict[str, int]:
    return {t: rows.get(t, {}).get(patient_id, 0) for t in tables}


def _close(platform: Platform, patient_id: str) -> None:
    with platform.uow() as uow:
        lifecycle.close(uow=uow, actor=patient_as(patient_id), patient_id=patient_id)
        uow.commit()


def _trail(platform: Platform, patient_id: str) -> list[AuditRow]:
    with platform.uow() as uow:
        return list(
            uow.session.scalars(select(AuditRow).where(AuditRow.patient_id == patient_id).order_by(AuditRow.id))
        )


@pytest.fixture
def three(platform: Platform) -> tuple[str, str, str]:
    """Dominique (closed, to be purged), Ruth (open, untouched), Thomas (closed, re-opened before the end)."""
    with platform.uow() as uow:
        load_demo_directory(uow)
        uow.commit()
    app_id = referenced_app(platform)
    people = (qualified_patient(platform), ruth(platform), thomas(platform))
    for number, patient_id in enumerate(people):
        _fill(platform, patient_id, app_id, f"p{number}")
    return people


def test_every_table_with_a_patients_data_is_in_the_inventory() -> None:
    purged = {t for t, (decision, _) in lifecycle_purge.RETENTION.items() if decision == "purged"}
    holding = set()
    for table in metadata.sorted_tables:
        parents = {fk.column.table.name for fk in table.foreign_keys}
        if "patient_id" in table.c or parents & purged or table.name in ("space_contacts", "mail_outbox"):
            holding.add(table.name)
    assert sorted(holding - set(lifecycle_purge.RETENTION)) == [], "a table holds a patient's data: purge or keep it?"
    unmanaged = {"document_search"}  # the full-text index, created by migration 0002 outside the ORM
    assert sorted(set(lifecycle_purge.RETENTION) - {t.name for t in metadata.sorted_tables} - unmanaged) == []
    assert {kind for kind, _ in lifecycle_purge.STEPS} == PURGED_KINDS


def test_the_purge_removes_every_kind_of_data_and_keeps_the_trail(
    platform: Platform, clock: FrozenClock, three: tuple[str, str, str]
) -> None:
    dominique, other, reopened = three
    before = _rows(platform)
    for patient_id in three:  # data of every kind, for each of the three
        assert all(_of(before, patient_id, PURGED_TABLES).values()), _of(before, patient_id, PURGED_TABLES)
    _close(platform, dominique)
    _close(platform, reopened)
    on_day(clock, dt.date(2030, 1, 1))
    with platform.uow() as uow:
        lifecycle.reopen(uow=uow, actor=patient_as(reopened), patient_id=reopened)
        uow.commit()
    with platform.uow() as uow:  # and closed again: its ten years start again
        lifecycle.close(uow=uow, actor=patient_as(reopened), patient_id=reopened)
        uow.commit()

    on_day(clock, LAST_DAY_KEPT, hour=23)
    assert lifecycle.purge_due(platform=platform) == lifecycle.PurgeReport()
    on_day(clock, PURGE_DAY, hour=1)
    trail_before = [(e.id, e.hash) for e in _trail(platform, dominique)]
    middle = _rows(platform)
    report = lifecycle.purge_due(platform=platform)
    assert (report.spaces, report.documents) == (1, 1)
    assert set(report.data) == PURGED_KINDS and all(report.data.values())

    after = _rows(platform)
    assert _of(after, dominique, PURGED_TABLES) == dict.fromkeys(PURGED_TABLES, 0)
    # Kept: the identity, its history, the closure, the oppositions, the space's status, the professionals' copies.
    assert _of(after, dominique, KEPT_TABLES) == _of(middle, dominique, KEPT_TABLES)
    assert all(_of(after, dominique, KEPT_TABLES).values())
    for untouched in (other, reopened):  # another patient's data, a space re-opened before the end
        assert _of(after, untouched, [*PURGED_TABLES, *KEPT_TABLES]) == _of(middle, untouched,
                                                                            [*PURGED_TABLES, *KEPT_TABLES])  # fmt: skip
    with platform.uow() as uow:
        profile_row = uow.access.profile(dominique)
        assert profile_row is not None and profile_row.space_status == "closed" and profile_row.emergency_refused
        (closure,) = uow.session.scalars(select(ClosureRow).where(ClosureRow.patient_id == dominique))
        assert closure.purged_at is not None and closure.purged_documents == 1
        assert uow.session.scalars(select(NotificationRow.title_fr).where(
            NotificationRow.patient_id == dominique)).all() == ["Votre espace santé est fermé"]  # fmt: skip

    # The trail is kept whole, and the purge is in it with the counts per kind.
    trail = _trail(platform, dominique)
    assert [(e.id, e.hash) for e in trail[: len(trail_before)]] == trail_before and len(trail) > len(trail_before)
    with platform.uow() as uow:
        assert verify(uow.session).ok  # the hash chain is whole
    (purge,) = [e for e in trail if e.action == "space.purge"]
    assert purge.actor_id == "space-purge" and purge.detail is not None and purge.detail["documents"] == 1
    removed = purge.detail["removed"]
    assert removed == report.data
    for kind, table in (("observations", "profile_observations"), ("agenda_events", "agenda_events"),
                        ("reimbursement_lines", "reimbursement_lines"), ("grants", "access_grants"),
                        ("notifications", "notifications"), ("notification_mails", "mail_outbox")):  # fmt: skip
        assert removed[kind] == middle[table][dominique], kind

    # The words of the purged documents are gone from the full-text index, the others' are there.
    with platform.uow() as uow:
        if uow.session.get_bind().dialect.name == "sqlite":
            uow.session.execute(text("CREATE VIRTUAL TABLE temp.words USING fts5vocab(main, document_search, row)"))
            terms = set(uow.session.scalars(text("SELECT term FROM temp.words WHERE term LIKE 'p_lunettes'")))
        else:
            terms = set(uow.session.scalars(text("SELECT word FROM ts_stat('SELECT tsv FROM document_search') "
                                                 "WHERE word LIKE 'p_lunett%'")))  # fmt: skip
    assert {t[:2] for t in terms} == {"p1", "p2"}, terms

    # A second run purges nothing more.
    assert lifecycle.purge_due(platform=platform) == lifecycle.PurgeReport()
    assert _rows(platform) == after

    # Re-opened, the space is empty and says so; the médecin keeps the message he sent; a new, empty mailbox.
    with platform.uow() as uow:
        lifecycle.reopen(uow=uow, actor=patient_as(dominique), patient_id=dominique)
        uow.commit()
    holder = patient_as(dominique)
    with platform.uow() as uow:
        (latest, *_) = notify.list_for(uow=uow, patient_id=dominique)
        assert "profil de santé, agenda, remboursements" in latest.body
        assert profile.list_measures(uow=uow, actor=holder, patient_id=dominique) == []
        assert agenda.list_events(uow=uow, actor=holder, patient_id=dominique) == []
        assert access.list_settings(uow=uow, actor=holder, patient_id=dominique) != []  # the opposition stays
        box = mss.provision_patient(uow=uow, actor=PLATFORM, config=CONFIG, patient_id=dominique)
        uow.commit()
    with platform.uow() as uow:
        assert mss.list_inbox(uow=uow, actor=holder) == []
        sent = mss.search_messages(uow=uow, actor=DR_HOUSE, filters=mss.MessageFilters())
        assert any("p0" in m.text for m in sent)
        retired = uow.session.scalars(select(MailboxRow).where(MailboxRow.patient_id == dominique,
                                                              MailboxRow.active.is_(False))).one()  # fmt: skip
    assert box.id != retired.id and box.address != retired.address and retired.owner_id is None


def test_a_crash_half_way_leaves_nothing_purged_and_the_next_run_purges_it_all(
    platform: Platform, clock: FrozenClock, three: tuple[str, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    dominique = three[0]
    _close(platform, dominique)
    on_day(clock, PURGE_DAY)
    middle = _rows(platform)

    def crash(*_: object) -> int:
        raise RuntimeError("arrêt brutal au milieu de la purge")

    steps = list(lifecycle_purge.STEPS)
    monkeypatch.setattr(lifecycle_purge, "STEPS", [*steps[:8], ("crash", crash), *steps[8:]])
    with pytest.raises(RuntimeError, match="arrêt brutal"):
        lifecycle.purge_due(platform=platform)
    assert _rows(platform) == middle  # nothing of the space purged, not even its documents
    with platform.uow() as uow:
        assert record.list_documents(uow=uow, actor=patient_as(dominique), patient_id=dominique).total == 1
        (closure,) = uow.session.scalars(select(ClosureRow).where(ClosureRow.patient_id == dominique))
        assert closure.purged_at is None
    assert "space.purge" not in [e.action for e in _trail(platform, dominique)]

    monkeypatch.setattr(lifecycle_purge, "STEPS", steps)
    report = lifecycle.purge_due(platform=platform)
    assert (report.spaces, report.documents) == (1, 1) and set(report.data) == PURGED_KINDS
    assert _of(_rows(platform), dominique, PURGED_TABLES) == dict.fromkeys(PURGED_TABLES, 0)


def test_two_purge_runs_at_once_purge_each_space_once(
    platform: Platform, clock: FrozenClock, three: tuple[str, str, str]
) -> None:
    dominique, other, _ = three
    _close(platform, dominique)
    _close(platform, other)
    on_day(clock, PURGE_DAY)
    middle = _rows(platform)
    start = threading.Barrier(2)

    def run() -> lifecycle.PurgeReport:
        start.wait(timeout=30)
        return lifecycle.purge_due(platform=platform)

    with ThreadPoolExecutor(max_workers=2) as pool:
        reports = [f.result(timeout=120) for f in [pool.submit(run) for _ in range(2)]]
    assert sum(r.spaces for r in reports) == 2 and sum(r.documents for r in reports) == 2
    grants = middle["access_grants"]
    assert sum(r.data.get("grants", 0) for r in reports) == grants[dominique] + grants[other]  # each counted once
    for patient_id in (dominique, other):
        actions = [e.action for e in _trail(platform, patient_id) if e.actor_id == "space-purge"]
        assert (actions.count("space.purge"), actions.count("document.delete")) == (1, 1), actions
        assert actions.count("space.purge_blobs") == 1
        assert _of(_rows(platform), patient_id, PURGED_TABLES) == dict.fromkeys(PURGED_TABLES, 0)

"""The agenda's use cases on both backends: events added by the holder, a professional, an establishment, an app
(past events refused, grants needed), read as the matrix says, cancelled; the iCalendar feed parsed back with
``icalendar`` and checked line by line against RFC 5545; its secret address regenerated and revoked; the reminders
of the day before sent once through a real SMTP server on loopback."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import socket
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import icalendar
import pytest
from aiosmtpd.controller import Controller
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, select

from carnet.access import service as access
from carnet.access.model import Actor, ActorKind, AuthMethod
from carnet.audit.store import AuditRow
from carnet.bootstrap import Platform
from carnet.errors import Forbidden, NotFound
from carnet.notify import service as notify
from carnet.notify.mailer import deliver_pending
from carnet.settings import Settings
from carnet.space import agenda, agenda_ics
from carnet.space.agenda_store import AgendaEventRow
from carnet.space.profile_model import ProfileRejected
from carnet.storage.models import metadata
from tests.builders import DR_HOUSE, FRONT_DESK, NURSE_JOY, in_care_team, patient_as, qualified_patient

AGENDA_APP = Actor(kind=ActorKind.APP, id="app-rdv", auth_method=AuthMethod.APP_TOKEN, name="Mes RDV")
HOLDER_MAIL = "dominique@example.org"


def trail(platform: Platform, patient_id: str) -> list[tuple[str, str]]:
    with platform.uow() as uow:
        rows = uow.session.scalars(select(AuditRow).where(AuditRow.patient_id == patient_id).order_by(AuditRow.id))
        return [(r.action, r.outcome) for r in rows]


def event(start: dt.datetime, title: str = "Consultation ophtalmologie", **kw: Any) -> agenda.EventIn:
    return agenda.EventIn(kind=kw.pop("kind", "appointment"), title=title, start_at=start, **kw)


@pytest.fixture
def dominique(platform: Platform) -> str:
    patient_id = qualified_patient(platform)
    in_care_team(platform, patient_id, DR_HOUSE, NURSE_JOY)
    return patient_id


def test_the_agenda_tables_match_the_migrated_schema(engine: Engine) -> None:
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert [d for d in diffs if "agenda_" in repr(d) or "reimbursement_" in repr(d)] == []


def test_events_from_the_holder_a_professional_and_an_establishment_read_as_the_matrix_says(
    platform: Platform, dominique: str
) -> None:
    now = platform.clock.now()
    holder = patient_as(dominique)
    with platform.uow() as uow:
        own = agenda.add_event(
            uow=uow,
            actor=holder,
            patient_id=dominique,
            event=event(
                now + dt.timedelta(days=3),
                place="Centre de santé, 12 rue Haute",
                end_at=now + dt.timedelta(days=3, hours=1),
            ),
        )
        pro = agenda.add_event(
            uow=uow,
            actor=DR_HOUSE,
            patient_id=dominique,
            event=event(now + dt.timedelta(days=10), "Vaccin grippe", kind="vaccination"),
        )
        desk = agenda.add_event(
            uow=uow,
            actor=FRONT_DESK,
            patient_id=dominique,
            event=event(now + dt.timedelta(days=20), "Mammographie", kind="screening"),
        )
        uow.commit()
    assert (own.status, own.source_kind) == ("booked", "patient")
    assert (pro.status, pro.source_kind) == ("proposed", "professional")
    assert desk.source_kind == "establishment"
    with platform.uow() as uow:
        seen = agenda.list_events(uow=uow, actor=DR_HOUSE, patient_id=dominique)
        uow.commit()
    assert [e.title for e in seen] == ["Consultation ophtalmologie", "Vaccin grippe", "Mammographie"]
    with platform.uow() as uow, pytest.raises(Forbidden):
        agenda.list_events(uow=uow, actor=NURSE_JOY, patient_id=dominique)  # an infirmier: the matrix says no
    actions = trail(platform, dominique)
    assert actions.count(("agenda.event_add", "success")) == 3
    assert ("agenda.event_list", "success") in actions and ("agenda.event_list", "denied") in actions


def test_an_app_needs_its_grant_and_may_not_add_a_past_event(platform: Platform, dominique: str) -> None:
    now = platform.clock.now()
    with platform.uow() as uow, pytest.raises(Forbidden):
        agenda.add_event(uow=uow, actor=AGENDA_APP, patient_id=dominique, event=event(now + dt.timedelta(days=1)))
    with platform.uow() as uow:
        access.add_grant(
            uow=uow,
            actor=patient_as(dominique),
            patient_id=dominique,
            grantee_kind="app",
            grantee_id=AGENDA_APP.id,
            can_read=True,
            can_write=True,
            class_codes=frozenset({"agenda"}),
        )
        uow.commit()
    with platform.uow() as uow, pytest.raises(ProfileRejected) as refused:
        agenda.add_event(uow=uow, actor=AGENDA_APP, patient_id=dominique, event=event(now - dt.timedelta(hours=2)))
    assert [(p.code, p.expression) for p in refused.value.problems] == [("in_the_past", "Appointment.start")]
    with platform.uow() as uow:
        added = agenda.add_event(
            uow=uow, actor=AGENDA_APP, patient_id=dominique, event=event(now + dt.timedelta(days=2), status="booked")
        )
        uow.commit()
    assert (added.source_kind, added.status) == ("app", "booked")
    with platform.uow() as uow:
        assert len(uow.session.scalars(select(AgendaEventRow)).all()) == 1, "the refused event was not stored"
    assert ("agenda.event_refused", "denied") in trail(platform, dominique)


def test_bad_events_are_refused_with_every_reason(platform: Platform, dominique: str) -> None:
    now = platform.clock.now()
    bad = agenda.EventIn(kind="party", title=" ", start_at=now + dt.timedelta(days=1), end_at=now)
    with platform.uow() as uow, pytest.raises(ProfileRejected) as refused:
        agenda.add_event(uow=uow, actor=patient_as(dominique), patient_id=dominique, event=bad)
    assert {p.code for p in refused.value.problems} == {"unknown_kind", "title_missing", "end_before_start"}


def test_cancelling_by_the_holder_or_the_author_only(platform: Platform, dominique: str) -> None:
    now = platform.clock.now()
    with platform.uow() as uow:
        pro = agenda.add_event(uow=uow, actor=DR_HOUSE, patient_id=dominique, event=event(now + dt.timedelta(days=5)))
        uow.commit()
    with platform.uow() as uow, pytest.raises(Forbidden):
        agenda.cancel_event(uow=uow, actor=NURSE_JOY, event_id=pro.id)
    with platform.uow() as uow:
        done = agenda.cancel_event(uow=uow, actor=patient_as(dominique), event_id=pro.id)
        again = agenda.cancel_event(uow=uow, actor=patient_as(dominique), event_id=pro.id)
        uow.commit()
    assert (done.status, done.sequence, again.sequence) == ("cancelled", 1, 1)


def _unfold(raw: bytes) -> list[str]:
    text = raw.decode("utf-8")
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    physical = text.split("\r\n")[:-1]
    for line in physical:
        assert len(line.encode("utf-8")) <= 75, line
    out: list[str] = []
    for line in physical:
        if line.startswith(" "):
            out[-1] += line[1:]
        else:
            out.append(line)
    return out


def test_the_feed_is_valid_icalendar_at_a_secret_regenerable_address(platform: Platform, dominique: str) -> None:
    now = platform.clock.now()
    holder = patient_as(dominique)
    long_title = "Bilan ophtalmologique complet, fond d'œil; contrôle de la tension oculaire — " * 2
    with platform.uow() as uow:
        first = agenda.add_event(
            uow=uow,
            actor=holder,
            patient_id=dominique,
            event=event(
                now + dt.timedelta(days=3),
                long_title.strip(),
                place="Hôpital Lariboisière, 2 rue Ambroise-Paré",
                description="Apporter l'ordonnance\net la carte Vitale",
            ),
        )
        second = agenda.add_event(
            uow=uow,
            actor=DR_HOUSE,
            patient_id=dominique,
            event=event(now + dt.timedelta(days=9), "Rappel vaccin", kind="reminder"),
        )
        agenda.cancel_event(uow=uow, actor=holder, event_id=second.id)
        token = agenda.feed_token(uow=uow, actor=holder, patient_id=dominique)
        uow.commit()
    assert token and len(token) >= 40
    with platform.uow() as uow:
        patient_id, events = agenda.feed(uow=uow, token=token)
        uow.commit()
    raw = agenda_ics.calendar(events, now=now)
    lines = _unfold(raw)
    assert lines[0] == "BEGIN:VCALENDAR" and lines[-1] == "END:VCALENDAR" and "VERSION:2.0" in lines
    parsed = icalendar.Calendar.from_ical(raw)
    vevents = list(parsed.walk("VEVENT"))
    assert [str(v["UID"]) for v in vevents] == [
        f"{first.id}@{agenda_ics.UID_DOMAIN}",
        f"{second.id}@{agenda_ics.UID_DOMAIN}",
    ]
    assert str(vevents[0]["SUMMARY"]) == long_title.strip()
    assert str(vevents[0]["DESCRIPTION"]) == "Apporter l'ordonnance\net la carte Vitale"
    assert str(vevents[0]["LOCATION"]) == "Hôpital Lariboisière, 2 rue Ambroise-Paré"
    assert vevents[0]["DTSTART"].dt == (now + dt.timedelta(days=3)).replace(microsecond=0)
    assert vevents[0]["DTSTAMP"].dt.tzinfo is not None and vevents[0]["DTSTART"].dt.utcoffset() == dt.timedelta(0)
    assert str(vevents[1]["STATUS"]) == "CANCELLED" and str(vevents[0]["STATUS"]) == "CONFIRMED"
    assert any(line.startswith("SUMMARY:") and "\\;" in line and "\\," in line for line in lines), "escaped"
    with platform.uow() as uow:
        fresh = agenda.regenerate_feed(uow=uow, actor=holder, patient_id=dominique)
        uow.commit()
    with platform.uow() as uow, pytest.raises(NotFound):
        agenda.feed(uow=uow, token=token)
    with platform.uow() as uow:
        assert agenda.feed(uow=uow, token=fresh)[0] == dominique
        agenda.revoke_feed(uow=uow, actor=holder, patient_id=dominique)
        uow.commit()
    with platform.uow() as uow, pytest.raises(NotFound):
        agenda.feed(uow=uow, token=fresh)
    with platform.uow() as uow, pytest.raises(Forbidden):
        agenda.feed_token(uow=uow, actor=DR_HOUSE, patient_id=dominique)
    assert ("agenda.feed_read", "success") in trail(platform, dominique)


def test_fold_keeps_multibyte_characters_whole() -> None:
    folded = agenda_ics.fold("SUMMARY:" + "é" * 100)
    parts = folded.removesuffix("\r\n").split("\r\n")
    assert all(len(p.encode()) <= 75 for p in parts) and "".join(p.lstrip(" ") for p in parts) == "SUMMARY:" + "é" * 100


class Collector:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        self.messages.append(msg)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp(settings: Settings) -> Iterator[tuple[Collector, Settings]]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    collector = Collector()
    controller = Controller(collector, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield collector, settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": port})
    finally:
        controller.stop()


def test_reminders_the_day_before_are_sent_once_over_smtp(
    platform: Platform, dominique: str, smtp: tuple[Collector, Settings]
) -> None:
    collector, mail_settings = smtp
    now = platform.clock.now()
    tomorrow = now.astimezone(agenda.PARIS).date() + dt.timedelta(days=1)
    at = dt.datetime.combine(tomorrow, dt.time(10, 30), tzinfo=agenda.PARIS)
    with platform.uow() as uow:
        notify.set_preferences(uow=uow, patient_id=dominique, email=HOLDER_MAIL, enabled=True)
        agenda.add_event(
            uow=uow,
            actor=patient_as(dominique),
            patient_id=dominique,
            event=event(at, "Dentiste", place="Cabinet du Dr Dupont"),
        )
        agenda.add_event(
            uow=uow,
            actor=patient_as(dominique),
            patient_id=dominique,
            event=event(at + dt.timedelta(days=2), "Plus tard"),
        )
        gone = agenda.add_event(
            uow=uow,
            actor=patient_as(dominique),
            patient_id=dominique,
            event=event(at + dt.timedelta(hours=2), "Annulé"),
        )
        agenda.cancel_event(uow=uow, actor=patient_as(dominique), event_id=gone.id)
        uow.commit()
    for expected in (agenda.ReminderReport(1, 0), agenda.ReminderReport(0, 1)):
        with platform.uow() as uow:
            assert agenda.send_reminders(uow=uow) == expected
            uow.commit()
        deliver_pending(session_factory=platform.session_factory, clock=platform.clock, settings=mail_settings)
    assert len(collector.messages) == 1
    message = collector.messages[0]
    assert message["To"] == HOLDER_MAIL and "Dentiste" in str(message["Subject"])
    body = message.get_content()
    assert "10 h 30 (heure de Paris)" in body and "Cabinet du Dr Dupont" in body
    assert ("agenda.reminder", "success") in trail(platform, dominique)


def test_the_migration_goes_down_to_0011_and_up_again(tmp_path: Any) -> None:
    from alembic import command
    from sqlalchemy import inspect as schema

    from carnet.storage.db import make_engine
    from carnet.storage.migrate import alembic_config, upgrade

    engine = make_engine(f"sqlite:///{tmp_path / 'down.sqlite3'}")
    try:
        upgrade(engine)
        mine = {"agenda_events", "agenda_feeds", "agenda_reminders", "reimbursement_lines"}
        assert mine <= set(schema(engine).get_table_names())
        command.downgrade(alembic_config(engine), "0011")
        assert not mine & set(schema(engine).get_table_names())
        upgrade(engine)
        assert mine <= set(schema(engine).get_table_names())
    finally:
        engine.dispose()

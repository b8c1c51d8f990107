"""Revision 0003 on a database that already has a trail: existing entries are chained, triggers kept.

Each test gets an empty database of its own (a SQLite file; a PostgreSQL database created on the session's
server and dropped afterwards), since it migrates step by step.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from psycopg import sql
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from carnet.audit import service as audit
from carnet.audit.store import AuditRow
from carnet.audit.verify import verify
from carnet.clock import FrozenClock
from carnet.storage.blobs import FileBlobStore
from carnet.storage.db import make_engine, make_session_factory
from carnet.storage.migrate import alembic_config, upgrade
from carnet.storage.models import metadata
from carnet.storage.uow import UnitOfWork
from tests.builders import DR_HOUSE

AT = dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC)
ANNE, BRUNO = "6a1f0000-0000-4000-8000-0000000000a1", "6a1f0000-0000-4000-8000-0000000000b2"


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'before-0003.sqlite3'}")
        yield engine
        engine.dispose()
        return
    server = make_url(request.getfixturevalue("postgres_url"))
    libpq = server.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"carnet_audit_{uuid.uuid4().hex}"
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    engine = make_engine(server.set(database=name).render_as_string(hide_password=False))
    try:
        yield engine
    finally:
        engine.dispose()
        with psycopg.connect(libpq, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


OLD_AUDIT_EVENTS = sa.table(
    "audit_events",
    sa.column("at", AuditRow.__table__.c.at.type),
    sa.column("actor_kind", sa.String()),
    sa.column("actor_id", sa.String()),
    sa.column("action", sa.String()),
    sa.column("patient_id", sa.String()),
    sa.column("outcome", sa.String()),
    sa.column("detail", sa.JSON()),
)


def write_old_trail(engine: Engine) -> None:
    """Entries as revision 0002 wrote them: no chain, no mode."""
    rows = [
        {"patient_id": ANNE, "action": "identity.create", "detail": None},
        {"patient_id": BRUNO, "action": "identity.create", "detail": None},
        {"patient_id": ANNE, "action": "document.deposit", "detail": {"document": "d-1", "type": "11488-4"}},
        {"patient_id": None, "action": "identity.insi_call", "detail": {"mode": "traits", "code": "00"}},
        {"patient_id": ANNE, "action": "document.read", "detail": {"document": "d-1"}},
    ]
    with engine.begin() as conn:
        for i, row in enumerate(rows):
            conn.execute(
                OLD_AUDIT_EVENTS.insert().values(
                    at=AT + dt.timedelta(minutes=i),
                    actor_kind="professional",
                    actor_id="810000000001",
                    outcome="success",
                    **row,
                )
            )


def uow_on(engine: Engine, tmp_path: Path) -> UnitOfWork:
    return UnitOfWork(make_session_factory(engine), clock=FrozenClock(AT), blobs=FileBlobStore(tmp_path / "blobs"))


def test_existing_entries_are_chained_per_patient_and_stay_append_only(empty_engine: Engine, tmp_path: Path) -> None:
    upgrade(empty_engine, "0002")
    write_old_trail(empty_engine)
    upgrade(empty_engine)

    with Session(empty_engine) as session:
        report = verify(session)
    assert (report.ok, report.checked, report.chains) == (True, 5, 3)
    with empty_engine.connect() as conn:
        rows = conn.execute(
            text("SELECT chain_key, chain_seq, action, mode FROM audit_events ORDER BY chain_key, chain_seq")
        ).all()
        heads = dict(conn.execute(text("SELECT chain_key, last_seq FROM audit_chain_heads")).all())
    assert [tuple(r) for r in rows] == [
        ("", 1, "identity.insi_call", "normal"),
        (ANNE, 1, "identity.create", "normal"),
        (ANNE, 2, "document.deposit", "normal"),
        (ANNE, 3, "document.read", "normal"),
        (BRUNO, 1, "identity.create", "normal"),
    ]
    assert heads == {"": 1, ANNE: 3, BRUNO: 1}

    for statement in ("UPDATE audit_events SET action = 'forged'", "DELETE FROM audit_events"):
        with pytest.raises(DBAPIError, match="append-only"), empty_engine.begin() as conn:
            conn.execute(text(statement))

    # The application continues the back-filled chains.
    uow = uow_on(empty_engine, tmp_path)
    with uow:
        audit.record(uow=uow, actor=DR_HOUSE, action="document.read", patient_id=ANNE, detail={"document": "d-1"})
        uow.commit()
    with uow:
        assert [e.chain_seq for e in uow.audit.chain(ANNE)] == [1, 2, 3, 4]
    with Session(empty_engine) as session:
        assert verify(session).ok


def test_downgrade_and_upgrade_again_keep_the_trail_and_its_guards(empty_engine: Engine, tmp_path: Path) -> None:
    upgrade(empty_engine)
    uow = uow_on(empty_engine, tmp_path)
    with uow:
        for patient in (ANNE, BRUNO, ANNE):
            audit.record(uow=uow, actor=DR_HOUSE, action="document.read", patient_id=patient)
        uow.commit()

    config = alembic_config(empty_engine)
    command.downgrade(config, "0002")
    with empty_engine.connect() as conn:
        columns = {c["name"] for c in sa.inspect(conn).get_columns("audit_events")}
        assert "hash" not in columns and "mode" not in columns
        assert not sa.inspect(conn).has_table("audit_chain_heads")
    with pytest.raises(DBAPIError, match="append-only"), empty_engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events"))

    upgrade(empty_engine)
    with Session(empty_engine) as session:
        report = verify(session)
    assert (report.ok, report.checked, report.chains) == (True, 3, 2)


def test_the_orm_tables_match_the_migrated_schema(engine: Engine) -> None:
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    audit_diffs = [d for d in diffs if "audit_" in repr(d)]
    assert audit_diffs == []

"""Referenced apps that feed the space, on both backends: the feed categories asked for, granted at the signature
(a subset, refused beyond), the holder's connection as a read grant and a write-only grant, the app adding a
measure (source "app") but neither reading what it only feeds nor feeding what it may not, every grant ended at
once by disconnection and withdrawal; the migration 0013 up and down on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.engine import make_url

from carnet.access import service as access
from carnet.access.model import Actor, ActorKind, AuthMethod
from carnet.audit.store import AuditRow
from carnet.bootstrap import Platform, bootstrap
from carnet.catalogue import service as catalogue
from carnet.catalogue.model import Opinion
from carnet.catalogue.store import AppRow, ConnectionRow
from carnet.clock import FrozenClock
from carnet.errors import Forbidden, ValidationError
from carnet.identity.insi import SandboxInsi
from carnet.settings import Settings
from carnet.space import agenda, profile
from carnet.space.profile_model import Measurement, ProfileRejected, Quantity
from carnet.storage.blobs import FileBlobStore
from carnet.storage.db import make_engine
from carnet.storage.migrate import alembic_config, upgrade
from carnet.storage.models import metadata
from tests.builders import make_person, patient_as, qualified_patient
from tests.catalogue_builders import CALLBACK, COMMISSION, OPERATOR, PUBLISHER, all_met, referenced_app, tensio
from tests.conftest import NOW

RUTH = make_person(birth_name="NESSI", birth_first_names="RUTH ISABELLE", birth_date="1977-07-14", birth_place="63220")


def _challenge() -> str:
    verifier = secrets.token_urlsafe(48)
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def _as_app(app_id: str) -> Actor:
    return Actor(kind=ActorKind.APP, id=app_id, auth_method=AuthMethod.APP_TOKEN, name="Tensio")


def _weight(kg: float = 71.5) -> Measurement:
    return Measurement(kind="weight", values={"weight": Quantity(kg, "kg")}, effective_at=NOW - dt.timedelta(hours=1))


def _connect(platform: Platform, patient_id: str, app_id: str, categories: set[str], feeds: set[str]) -> str:
    with platform.uow() as uow:
        catalogue.connect(uow=uow, actor=patient_as(patient_id), patient_id=patient_id, app_id=app_id,
                          categories=frozenset(categories), feeds=frozenset(feeds), redirect_uri=CALLBACK,
                          code_challenge=_challenge())  # fmt: skip
        uow.commit()
        (row,) = [c for c in catalogue.connections(uow=uow, actor=patient_as(patient_id), patient_id=patient_id)
                  if c.active]  # fmt: skip
        return row.connection.id


def _trail(platform: Platform, patient_id: str) -> list[tuple[str, str]]:
    with platform.uow() as uow:
        rows = uow.session.scalars(select(AuditRow).where(AuditRow.patient_id == patient_id).order_by(AuditRow.id))
        return [(r.action, r.outcome) for r in rows]


def test_the_catalogue_tables_match_the_migrated_schema(engine: Engine) -> None:
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert [d for d in diffs if "catalogue_" in repr(d)] == []


def test_feed_categories_are_asked_for_then_granted_in_part_by_the_convention(platform: Platform) -> None:
    with platform.uow() as uow:
        with pytest.raises(ValidationError) as refused:
            wrong = tensio(feeds=["vitals", "11", "profile", "reimbursements", "jambon"])
            catalogue.apply(uow=uow, member=PUBLISHER, application=wrong)
        for reason in ("catégories à alimenter impossibles", "11 : une application référencée ne dépose pas de "
                       "documents", "questionnaire de santé est rempli par le titulaire seul",
                       "remboursements viennent de l'Assurance Maladie seule", "jambon : catégorie inconnue",
                       "une application alimente : vitals, vaccinations, allergies, agenda"):  # fmt: skip
            assert reason in refused.value.message
        assert catalogue.list_apps(uow=uow) == []
        app_id = catalogue.apply(uow=uow, member=PUBLISHER, application=tensio())
        catalogue.review(uow=uow, member=COMMISSION, app_id=app_id, assessments=all_met(), opinion=Opinion.FAVOURABLE,
                         comment="Dossier complet.")  # fmt: skip
        with pytest.raises(ValidationError) as beyond:
            catalogue.sign(uow=uow, member=OPERATOR, app_id=app_id, categories=["11"],
                           feeds=["vitals", "vaccinations", "11"], months=12)  # fmt: skip
        assert "catégories à alimenter non demandées par l'éditeur : Vaccinations, 11" in beyond.value.message
        with pytest.raises(ValidationError, match=r"au moins une catégorie de données accordée \(à lire ou à"):
            catalogue.sign(uow=uow, member=OPERATOR, app_id=app_id, categories=[], feeds=[], months=12)
        catalogue.sign(uow=uow, member=OPERATOR, app_id=app_id, categories=[], feeds=["vitals"], months=12)
        uow.commit()
        app = catalogue.get_app(uow=uow, app_id=app_id)
        assert (app.feed_asked, app.feed_granted, app.categories_granted) == (["vitals", "agenda"], ["vitals"], [])
        signed = uow.session.scalars(select(AuditRow).where(AuditRow.action == "catalogue.sign")).one()
        assert signed.detail is not None and signed.detail["feeds"] == ["vitals"]


def test_the_app_feeds_only_what_it_may_and_reads_only_what_it_reads(platform: Platform) -> None:
    app_id = referenced_app(platform, granted=("11",), fed=("vitals",))
    patient_id = qualified_patient(platform)
    tensio_app = _as_app(app_id)
    with pytest.raises(ValidationError, match="ne permet pas à l'application d'alimenter : Agenda"):
        _connect(platform, patient_id, app_id, {"11"}, {"vitals", "agenda"})
    connection_id = _connect(platform, patient_id, app_id, {"11"}, {"vitals"})
    with platform.uow() as uow:
        row = uow.session.get(ConnectionRow, connection_id)
        assert row is not None and row.grant_id and row.feed_grant_id and row.feed_categories == ["vitals"]
        grants = {g.id: g for g in uow.access.grants(patient_id) if g.grantee_kind == "app"}
        reads, feeds = grants[row.grant_id], grants[row.feed_grant_id]
        assert (reads.can_read, reads.can_write, reads.class_codes) == (True, False, ["11"])
        assert (feeds.can_read, feeds.can_write, feeds.class_codes) == (False, True, ["vitals"])

        added = profile.add_measure(uow=uow, actor=tensio_app, patient_id=patient_id, measurement=_weight())
        uow.commit()
        assert (added.source.kind, added.source.id, added.source.name) == ("app", app_id, "Tensio")
        (seen,) = profile.list_measures(uow=uow, actor=patient_as(patient_id), patient_id=patient_id)
        assert seen.id == added.id and seen.source.kind == "app"
        with pytest.raises(Forbidden):  # it feeds the vitals, it does not read them
            profile.list_measures(uow=uow, actor=tensio_app, patient_id=patient_id)
        with pytest.raises(Forbidden):  # nor does it feed the agenda
            agenda.add_event(uow=uow, actor=tensio_app, patient_id=patient_id, event=agenda.EventIn(
                kind="appointment", title="Contrôle tensionnel", start_at=NOW + dt.timedelta(days=7)))  # fmt: skip
        with pytest.raises(ProfileRejected):  # and what it adds is checked as anyone's
            profile.add_measure(uow=uow, actor=tensio_app, patient_id=patient_id, measurement=_weight(900))
    trail = _trail(platform, patient_id)
    assert ("profile.vital_add", "success") in trail
    assert ("profile.vital_list", "denied") in trail and ("agenda.event_refused", "denied") in trail
    assert ("profile.vital_refused", "denied") in trail


def test_disconnection_and_withdrawal_end_the_read_and_the_write_grant_at_once(platform: Platform) -> None:
    app_id = referenced_app(platform, granted=("11", "vitals"), fed=("vitals", "agenda"))
    patient_id = qualified_patient(platform)
    tensio_app = _as_app(app_id)
    first = _connect(platform, patient_id, app_id, {"vitals"}, {"vitals"})
    with platform.uow() as uow:
        catalogue.disconnect(uow=uow, actor=patient_as(patient_id), patient_id=patient_id, connection_id=first)
        uow.commit()
        assert all(g.revoked_at is not None for g in uow.access.grants(patient_id) if g.grantee_kind == "app")
        with pytest.raises(Forbidden):
            profile.add_measure(uow=uow, actor=tensio_app, patient_id=patient_id, measurement=_weight())

    second = _connect(platform, patient_id, app_id, set(), {"agenda"})  # feeding only: no read grant
    with platform.uow() as uow:
        row = uow.session.get(ConnectionRow, second)
        assert row is not None and row.grant_id is None and row.feed_grant_id is not None
        event = agenda.add_event(uow=uow, actor=tensio_app, patient_id=patient_id, event=agenda.EventIn(
            kind="appointment", title="Contrôle tensionnel", start_at=NOW + dt.timedelta(days=7)))  # fmt: skip
        uow.commit()
        assert (event.source_kind, event.source_id, event.status) == ("app", app_id, "proposed")
        assert catalogue.token_refusal(uow=uow, connection_id=second, app_id=app_id) is None
        with pytest.raises(Forbidden):  # the agenda fed, never read
            agenda.list_events(uow=uow, actor=tensio_app, patient_id=patient_id)
        assert catalogue.withdraw(uow=uow, member=OPERATOR, app_id=app_id, reason="manquement constaté") == 1
        uow.commit()
    with platform.uow() as uow:
        assert "retiré" in (catalogue.token_refusal(uow=uow, connection_id=second, app_id=app_id) or "")
        assert all(g.revoked_at is not None for g in uow.access.grants(patient_id) if g.grantee_kind == "app")
        with pytest.raises(Forbidden):  # the write is refused at once
            agenda.add_event(uow=uow, actor=tensio_app, patient_id=patient_id, event=agenda.EventIn(
                kind="appointment", title="Après le retrait", start_at=NOW + dt.timedelta(days=8)))  # fmt: skip
    trail = _trail(platform, patient_id)
    assert trail.count(("consent.grant_revoked", "success")) == 3  # two at the disconnection, one at the withdrawal
    assert ("catalogue.withdrawal_disconnect", "success") in trail


def test_revoking_only_the_write_grant_in_the_directory_keeps_the_reading(platform: Platform) -> None:
    app_id = referenced_app(platform, granted=("vitals",), fed=("vitals",))
    patient_id = qualified_patient(platform)
    tensio_app = _as_app(app_id)
    connection_id = _connect(platform, patient_id, app_id, {"vitals"}, {"vitals"})
    with platform.uow() as uow:
        row = uow.session.get(ConnectionRow, connection_id)
        assert row is not None and row.feed_grant_id is not None
        access.revoke_grant(uow=uow, actor=patient_as(patient_id), patient_id=patient_id, grant_id=row.feed_grant_id)
        uow.commit()
        assert catalogue.token_refusal(uow=uow, connection_id=connection_id, app_id=app_id) is None
        assert profile.list_measures(uow=uow, actor=tensio_app, patient_id=patient_id) == []
        with pytest.raises(Forbidden):
            profile.add_measure(uow=uow, actor=tensio_app, patient_id=patient_id, measurement=_weight())


# --- the migration, both ways, on each backend ------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty database of its own (the migration goes down and up: never the shared one)."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'migrate.sqlite3'}")
        yield engine
        engine.dispose()
        return
    url = make_url(request.getfixturevalue("postgres_url"))
    name = f"carnet_0013_{uuid.uuid4().hex[:8]}"
    admin = make_engine(url.render_as_string(hide_password=False))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(url.set(database=name).render_as_string(hide_password=False))
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def test_the_migration_0013_goes_down_to_0012_and_up_again(
    fresh_engine: Engine, tmp_path: Path, sandbox_insi: SandboxInsi
) -> None:
    upgrade(fresh_engine)
    settings = Settings(env="test", data_dir=tmp_path / "data", demo_data=False, _env_file=None)
    platform = bootstrap(settings, engine=fresh_engine, clock=FrozenClock(NOW), insi=sandbox_insi, migrate=False,
                         blobs=FileBlobStore(settings.data_dir / "blobs"))  # fmt: skip
    app_id = referenced_app(platform, granted=("11",), fed=("vitals", "agenda"))
    patient_id = qualified_patient(platform)
    both = _connect(platform, patient_id, app_id, {"11"}, {"vitals"})
    with platform.uow() as uow:
        feed_grant = uow.session.get(ConnectionRow, both).feed_grant_id  # type: ignore[union-attr]
    other = qualified_patient(platform, RUTH)
    _connect(platform, other, app_id, set(), {"agenda"})  # feeding only

    columns = {c["name"] for c in inspect(fresh_engine).get_columns("catalogue_connections")}
    assert {"feed_grant_id", "feed_categories"} <= columns
    command.downgrade(alembic_config(fresh_engine), "0012")
    with fresh_engine.connect() as conn:
        assert {c["name"] for c in inspect(conn).get_columns("catalogue_apps")} >= {"categories_granted"}
        assert "feed_granted" not in {c["name"] for c in inspect(conn).get_columns("catalogue_apps")}
        assert conn.execute(text("SELECT count(*) FROM catalogue_connections")).scalar_one() == 1  # the reading one
        revoked = conn.execute(text("SELECT revoked_at FROM access_grants WHERE id = :id"), {"id": feed_grant})
        assert revoked.scalar_one() is not None  # the older code could never end it
    upgrade(fresh_engine)
    with platform.uow() as uow:
        (app,) = uow.session.scalars(select(AppRow)).all()
        assert (app.feed_granted, app.categories_granted) == ([], ["11"])
        (row,) = uow.session.scalars(select(ConnectionRow)).all()
        assert (row.feed_categories, row.feed_grant_id, row.categories) == ([], None, ["11"])
    with fresh_engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert [d for d in diffs if "catalogue_" in repr(d)] == []

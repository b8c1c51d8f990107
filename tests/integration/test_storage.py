"""The storage contract, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from carnet.audit.store import AuditRow
from carnet.bootstrap import Platform
from carnet.errors import DatabaseUnavailable
from carnet.identity import service
from carnet.identity.store import IdentityEventRow, PatientRow
from carnet.storage.db import make_engine
from carnet.storage.migrate import current_revision, head_revision
from carnet.storage.models import metadata
from tests.builders import FRONT_DESK, make_person


def count(platform: Platform, model: type) -> int:
    with platform.uow() as uow:
        return len(uow.session.scalars(select(model)).all())


def test_migrations_bring_the_schema_to_head_with_every_table(engine: Engine) -> None:
    assert current_revision(engine) == head_revision()
    assert set(metadata.tables) <= set(inspect(engine).get_table_names())


def test_a_unit_of_work_without_commit_writes_nothing(platform: Platform) -> None:
    with platform.uow() as uow:
        service.register(uow=uow, actor=FRONT_DESK, traits=make_person())
    assert count(platform, PatientRow) == 0
    assert count(platform, AuditRow) == 0


def test_an_error_inside_the_unit_of_work_rolls_back_the_change_and_its_trace(platform: Platform) -> None:
    with pytest.raises(RuntimeError), platform.uow() as uow:
        service.register(uow=uow, actor=FRONT_DESK, traits=make_person())
        uow.flush()
        raise RuntimeError("power cut before commit")
    assert (count(platform, PatientRow), count(platform, IdentityEventRow), count(platform, AuditRow)) == (0, 0, 0)


def test_a_committed_unit_of_work_keeps_change_history_and_audit_together(platform: Platform) -> None:
    with platform.uow() as uow:
        reg = service.register(uow=uow, actor=FRONT_DESK, traits=make_person())
        uow.commit()
    with platform.uow() as uow:
        row = uow.patients.get(reg.patient.id)
        assert row is not None and row.birth_name == "LAGARDE"
    assert count(platform, IdentityEventRow) == 1
    assert count(platform, AuditRow) == 1


def test_timestamps_come_back_aware_utc_from_the_injected_clock(platform: Platform) -> None:
    paris = dt.timezone(dt.timedelta(hours=1))
    platform.clock.advance(dt.timedelta(minutes=5))  # type: ignore[attr-defined]
    with platform.uow() as uow:
        reg = service.register(uow=uow, actor=FRONT_DESK, traits=make_person())
        uow.commit()
    with platform.uow() as uow:
        row = uow.patients.get(reg.patient.id)
        assert row is not None
        assert row.created_at.tzinfo is not None
        assert row.created_at == dt.datetime(2026, 11, 22, 10, 35, tzinfo=paris)


def test_a_naive_datetime_is_refused_before_reaching_the_database(platform: Platform) -> None:
    with platform.uow() as uow:
        row = PatientRow(
            status="PROV",
            birth_name="X",
            first_name="Y",
            birth_first_names="Y",
            sex="F",
            birth_date=dt.date(2000, 1, 1),
            birth_place="75056",
            name_key="X",
            first_name_key="Y",
            created_at=dt.datetime(2026, 1, 1),
            updated_at=dt.datetime(2026, 1, 1),
        )
        uow.patients.add(row)
        with pytest.raises(Exception, match="naive datetime refused"):
            uow.flush()


def test_the_audit_trail_refuses_update_and_delete(platform: Platform) -> None:
    with platform.uow() as uow:
        service.register(uow=uow, actor=FRONT_DESK, traits=make_person())
        uow.commit()
    for statement in (
        "UPDATE audit_events SET action = 'forged'",
        "DELETE FROM audit_events",
        "UPDATE identity_events SET actor_id = 'someone-else'",
    ):
        with pytest.raises(DBAPIError, match="append-only"), platform.engine.begin() as conn:
            conn.execute(text(statement))
    assert count(platform, AuditRow) == 1


def test_one_ins_belongs_to_one_record_only(platform: Platform) -> None:
    with platform.uow() as uow:
        for first in ("Anne", "Anna"):
            reg = service.register(uow=uow, actor=FRONT_DESK, traits=make_person(birth_first_names=first))
            uow.patients.get(reg.patient.id).ins_matricule = "279035121518989"  # type: ignore[union-attr]
        with pytest.raises(IntegrityError):
            uow.flush()


def test_concurrent_edits_of_one_identity_do_not_overwrite_each_other(platform: Platform) -> None:
    with platform.uow() as uow:
        reg = service.register(uow=uow, actor=FRONT_DESK, traits=make_person())
        uow.commit()
    from sqlalchemy.orm.exc import StaleDataError

    with platform.uow() as first, platform.uow() as second:
        a = first.patients.get(reg.patient.id)
        b = second.patients.get(reg.patient.id)
        assert a is not None and b is not None
        a.used_name = "MARTIN"
        first.commit()
        b.used_name = "DURAND"
        with pytest.raises(StaleDataError):
            second.commit()
    with platform.uow() as uow:
        assert uow.patients.get(reg.patient.id).used_name == "MARTIN"  # type: ignore[union-attr]


def test_parallel_writers_all_land(platform: Platform) -> None:
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(5):
                with platform.uow() as uow:
                    service.register(
                        uow=uow,
                        actor=FRONT_DESK,
                        traits=make_person(birth_name=f"Writer {chr(65 + n)}", birth_first_names=f"N{chr(65 + i)}"),
                    )
                    uow.commit()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert count(platform, PatientRow) == 20


def test_an_unreachable_database_gets_a_precise_error() -> None:
    with pytest.raises(DatabaseUnavailable, match="injoignable.*127.0.0.1:1"):
        make_engine("postgresql://carnet:secret@127.0.0.1:1/carnet")


def test_the_password_of_an_unreachable_database_is_not_shown() -> None:
    with pytest.raises(DatabaseUnavailable) as info:
        make_engine("postgresql://carnet:s3cr3t-pw@127.0.0.1:1/carnet")
    assert "s3cr3t-pw" not in info.value.message

"""A session keeps the patient rows it loads alive: a second service of the same request finds the row in the
identity map instead of reading it again (carnet.storage.db.make_session_factory)."""

from __future__ import annotations

from sqlalchemy import event, select

from carnet.bootstrap import Platform
from carnet.identity import service as identity
from carnet.identity.store import PatientRow
from carnet.storage.db import KEPT_ROWS
from tests.builders import FRONT_DESK, make_person


def test_a_patient_row_dropped_by_one_service_is_not_read_again_by_the_next(platform: Platform) -> None:
    with platform.uow() as uow:
        patient_id = identity.register(uow=uow, actor=FRONT_DESK, traits=make_person()).patient.id
        uow.commit()
    statements: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if "FROM patients" in statement:
            statements.append(statement)

    event.listen(platform.engine, "before_cursor_execute", count)
    try:
        with platform.uow() as uow:
            assert uow.patients.get(patient_id) is not None  # read, then dropped by this "service"
            row = uow.patients.get(patient_id)  # the next one
            assert isinstance(row, PatientRow) and row.id == patient_id
            assert uow.session.info[KEPT_ROWS] == [row]
    finally:
        event.remove(platform.engine, "before_cursor_execute", count)
    assert len(statements) == 1


def test_a_session_keeps_a_bounded_number_of_rows(platform: Platform) -> None:
    with platform.uow() as uow:
        for _ in range(70):
            identity.register(uow=uow, actor=FRONT_DESK, traits=make_person())
        uow.commit()
    with platform.uow() as uow:
        assert len(uow.session.scalars(select(PatientRow).limit(70)).all()) == 70
        assert len(uow.session.info[KEPT_ROWS]) == 64

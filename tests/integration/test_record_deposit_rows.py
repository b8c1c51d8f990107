"""The rows a deposit writes, on both backends: the entry (one Core INSERT, then persistent in the session) and the
holder's notification (plain INSERTs), exactly as the ORM flush wrote them."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import select

from carnet.bootstrap import Platform
from carnet.notify import service as notify
from carnet.notify.store import NotificationRow
from carnet.record import service as record
from carnet.record.store import DocumentRow
from tests.builders import PLATFORM, example, qualified_patient

VSM = "VSM_1.4_2022.01.xml"


def _columns(row: DocumentRow) -> dict[str, Any]:
    return {c.key: getattr(row, c.key) for c in DocumentRow.__table__.columns}


def test_the_entry_row_is_complete_and_the_same_in_and_after_the_unit_of_work(platform: Platform) -> None:
    patient_id = qualified_patient(platform)
    content = example(VSM)
    with platform.uow() as uow:
        result = record.deposit(uow=uow, actor=PLATFORM, patient_id=patient_id, content=content)
        in_uow = uow.documents.get(result.entry.id)
        assert in_uow is not None
        kept = _columns(in_uow)
        uow.commit()
    with platform.uow() as uow:
        stored = uow.session.scalars(select(DocumentRow).where(DocumentRow.id == result.entry.id)).one()
        assert _columns(stored) == kept
    assert stored.version == 1
    assert stored.patient_id == patient_id and stored.status == "current"
    assert stored.sha256 == hashlib.sha256(content).hexdigest()
    assert stored.sha1 == hashlib.sha1(content, usedforsecurity=False).hexdigest()
    assert stored.size == len(content)
    assert (stored.hidden_from_professionals, stored.invisible_to_patient, stored.invisible_to_representatives) == (
        False,
        False,
        False,
    )
    assert stored.replaces_id is None and stored.replaced_by_id is None
    assert stored.deleted_at is None and stored.deleted_by is None
    assert stored.created_at == stored.updated_at == stored.submission_time
    assert stored.deposited_by == PLATFORM.id


def test_a_replacement_in_the_same_unit_of_work_updates_both_versions(platform: Platform) -> None:
    """The new entry, written by a Core INSERT, is then updated by the ORM (its ``replaces_id``), version-checked."""
    patient_id = qualified_patient(platform)
    first = example(VSM)
    second = first.replace(
        b'<id root="1.2.250.1.213.1.1.1.13.2022.1.1"/>', b'<id root="1.2.250.1.213.1.1.1.13.2022.1.2"/>', 1
    )
    with platform.uow() as uow:
        original = record.deposit(uow=uow, actor=PLATFORM, patient_id=patient_id, content=first)
        replacement = record.deposit(
            uow=uow,
            actor=PLATFORM,
            patient_id=patient_id,
            content=second,
            replaces=original.entry.metadata.unique_id,
        )
        uow.commit()
    with platform.uow() as uow:
        rows = {r.id: r for r in uow.session.scalars(select(DocumentRow).where(DocumentRow.patient_id == patient_id))}
    old, new = rows[original.entry.id], rows[replacement.entry.id]
    assert (old.status, old.replaced_by_id, old.version) == ("superseded", new.id, 2)
    # As when the ORM flushed it: inserted at version 1, then its replaces_id set by an UPDATE (version 2).
    assert (new.status, new.replaces_id, new.version) == ("current", old.id, 2)
    assert replacement.entry.replaces_id == old.id


def test_the_notification_returned_is_the_row_written(platform: Platform) -> None:
    patient_id = qualified_patient(platform)
    with platform.uow() as uow:
        record.deposit(uow=uow, actor=PLATFORM, patient_id=patient_id, content=example(VSM))
        # Read back in the same unit of work, from the database (the row is not an ORM object of the session).
        in_uow = notify.list_for(uow=uow, patient_id=patient_id)
        uow.commit()
    with platform.uow() as uow:
        listed = notify.list_for(uow=uow, patient_id=patient_id)
        rows = list(uow.session.scalars(select(NotificationRow).where(NotificationRow.patient_id == patient_id)))
    assert in_uow == listed and len(listed) == 1
    assert rows[0].kind == "document_added" and rows[0].read_at is None
    assert rows[0].detail["document_id"] == listed[0].detail["document_id"]
    assert rows[0].detail["actor_label"] == listed[0].detail["actor_label"]

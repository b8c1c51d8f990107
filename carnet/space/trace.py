"""The audit entry of a use case of the space's data that the access decision allowed."""

from __future__ import annotations

from typing import Any

from carnet.access.model import Actor
from carnet.access.service import Access
from carnet.audit import service as audit
from carnet.storage.uow import UnitOfWork


def traced(
    uow: UnitOfWork, actor: Actor, action: str, patient_id: str, granted: Access, detail: dict[str, Any]
) -> None:
    """Append the audit entry of ``action`` on ``patient_id``, with the decision (mode, reasons) that allowed it, in
    the unit of work of the change (lost only if the change is)."""
    audit.record(uow=uow, actor=actor, action=action, patient_id=patient_id, detail=detail, **granted.audit_kwargs())

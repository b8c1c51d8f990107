"""Writing audit entries, in the same transaction as the change they trace."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from carnet.audit.store import AuditRow
from carnet.identity.status import QualificationActor

if TYPE_CHECKING:
    from carnet.storage.uow import UnitOfWork


def record(
    *,
    uow: UnitOfWork,
    actor: QualificationActor,
    action: str,
    patient_id: str | None,
    outcome: str = "success",
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one audit entry to the current unit of work (lost only if the change itself is lost)."""
    uow.audit.append(
        AuditRow(
            at=uow.clock.now(),
            actor_kind=actor.kind.value,
            actor_id=actor.id,
            action=action,
            patient_id=patient_id,
            outcome=outcome,
            detail=detail,
        )
    )

"""The one place where the record asks whether an actor may act on a patient's documents.

Every record service calls :func:`authorize` before touching a patient's documents and :func:`may_see` to
filter listings. The access-control issue replaces the interim rules below with the pure decision function
(matrix, care team, consent, oppositions, emergency access); the call sites stay.

Interim rules: professionals read what is not hidden from them (or what they wrote); secretariat staff
deposit but never read clinical documents; the holder reads their own record except what is held back until
an announcement consultation; only the holder hides or shows; only the author holds back or releases;
deposits need a qualified identity.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from carnet.audit.store import AuditRow
from carnet.errors import Forbidden
from carnet.identity.status import ActorKind, IdentityStatus, QualificationActor, may_share

if TYPE_CHECKING:
    from carnet.record.store import DocumentRow
    from carnet.storage.uow import UnitOfWork


class Action(StrEnum):
    DEPOSIT = "deposit"
    READ = "read"
    LIST = "list"
    HIDE = "hide"
    SHOW = "show"
    HOLD_BACK = "hold_back"
    RELEASE = "release"
    REPRESENTATIVES = "representatives"
    DELETE = "delete"


def _is_holder(actor: QualificationActor, patient_id: str) -> bool:
    return actor.kind is ActorKind.PATIENT and actor.id == patient_id


def _is_author(actor: QualificationActor, row: DocumentRow) -> bool:
    return actor.kind is ActorKind.PROFESSIONAL and actor.id == row.author_id


def may_see(actor: QualificationActor, patient_id: str, row: DocumentRow) -> bool:
    """Whether ``row`` exists at all for ``actor`` (hidden documents leave no trace)."""
    if actor.kind is ActorKind.SYSTEM:
        return True
    if _is_holder(actor, patient_id):
        return not row.invisible_to_patient
    if actor.kind is ActorKind.PROFESSIONAL:
        return not row.hidden_from_professionals or _is_author(actor, row)
    return False


def refusal(
    actor: QualificationActor,
    action: Action,
    patient_id: str,
    status: IdentityStatus,
    row: DocumentRow | None,
) -> str | None:
    """The reason ``actor`` may not do ``action``, or None when allowed."""
    holder = _is_holder(actor, patient_id)
    if actor.kind is ActorKind.PATIENT and not holder:
        return "un patient n'accède qu'à son propre dossier"
    if action is Action.DEPOSIT:
        if not may_share(status):
            return "l'identité du patient n'est pas qualifiée : aucun document ne peut être partagé"
        return None
    if actor.kind is ActorKind.SECRETARIAT and action in (Action.READ, Action.LIST):
        return "le secrétariat peut déposer pour un professionnel mais ne consulte pas les documents médicaux"
    if row is not None and not may_see(actor, patient_id, row):
        return "document introuvable"
    if action in (Action.HIDE, Action.SHOW) and not (holder or actor.kind is ActorKind.SYSTEM):
        return "seul le titulaire masque ou démasque un document aux professionnels"
    if action in (Action.HOLD_BACK, Action.RELEASE) and not (
        row is not None and (_is_author(actor, row) or actor.kind is ActorKind.SYSTEM)
    ):
        return "seul l'auteur retient un document avant la consultation d'annonce ou le rend visible"
    if action in (Action.DELETE, Action.REPRESENTATIVES) and not (
        holder or actor.kind is ActorKind.SYSTEM or (row is not None and _is_author(actor, row))
    ):
        return "seuls le titulaire et l'auteur peuvent faire cela"
    return None


def authorize(
    *,
    uow: UnitOfWork,
    actor: QualificationActor,
    action: Action,
    patient_id: str,
    status: IdentityStatus,
    row: DocumentRow | None = None,
) -> None:
    """Raise :class:`Forbidden` (and trace the refusal at once) unless ``actor`` may do ``action``."""
    reason = refusal(actor, action, patient_id, status, row)
    if reason is None:
        return
    uow.append_audit_now(
        AuditRow(
            at=uow.clock.now(),
            actor_kind=actor.kind.value,
            actor_id=actor.id,
            action=f"document.{action.value}",
            patient_id=patient_id,
            outcome="denied",
            detail={"reason": reason, "document": row.id if row is not None else None},
        )
    )
    if reason == "document introuvable":
        from carnet.errors import NotFound

        raise NotFound(reason, field="document")
    raise Forbidden(reason)

"""The one place where the record asks whether an actor may act on a patient's documents.

It maps record operations to access actions and goes through :func:`carnet.access.service.enforce`
(refusals traced and raised) or, to filter a listing, through the pure decision for each document; no other
code path of the record reads or writes patient documents for an actor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from carnet.access import service as access
from carnet.access.model import Action, Actor, Context, DocumentFacts, PatientFacts

if TYPE_CHECKING:
    from carnet.identity.store import PatientRow
    from carnet.record.store import DocumentRow
    from carnet.storage.uow import UnitOfWork

__all__ = ["Action", "Filter", "authorize", "facts_of_new_document"]


def authorize(
    *,
    uow: UnitOfWork,
    actor: Actor,
    action: Action,
    patient: PatientRow,
    row: DocumentRow | None = None,
    document: DocumentFacts | None = None,
    ctx: Context | None = None,
) -> access.Access:
    """Enforce the decision for one operation; returns the allowed decision for the audit entry."""
    facts = document or (access.document_facts(row) if row is not None else None)
    return access.enforce(uow=uow, actor=actor, action=action, patient=patient, document=facts, ctx=ctx)


def facts_of_new_document(*, type_code: str, class_code: str, author_id: str, author_kind: str) -> DocumentFacts:
    """The facts of a document being deposited (it has no entry id yet)."""
    return DocumentFacts(id="(nouveau)", type_code=type_code, class_code=class_code, author_id=author_id,
                         author_kind=author_kind)  # type: ignore[arg-type]  # fmt: skip


class Filter:
    """Per-document visibility for a listing: the decision for each entry, without tracing each refusal."""

    def __init__(self, *, uow: UnitOfWork, actor: Actor, facts: PatientFacts, ctx: Context) -> None:
        self.uow, self.actor, self.facts, self.ctx = uow, actor, facts, ctx

    def allows(self, row: DocumentRow) -> bool:
        decision = access.evaluate(
            uow=self.uow, actor=self.actor, action=Action.READ, facts=self.facts, document=access.document_facts(row),
            ctx=self.ctx,
        )  # fmt: skip
        return decision.allowed

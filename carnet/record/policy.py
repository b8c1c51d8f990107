"""The one place where the record asks whether an actor may act on a patient's documents.

It maps record operations to access actions and goes through :func:`carnet.access.service.enforce`
(refusals traced and raised) or, to filter a listing, through the pure decision for each document; no other
code path of the record reads or writes patient documents for an actor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from carnet.access import service as access
from carnet.access.decide import document_key
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
    facts: PatientFacts | None = None,
) -> access.Access:
    """Enforce the decision for one operation; returns the allowed decision for the audit entry.

    ``facts``: the patient's facts when the caller has just read them (:func:`carnet.access.service.facts_for`,
    in the same unit of work), so that they are not read twice; read here otherwise.
    """
    document = document or (access.document_facts(row) if row is not None else None)
    return access.enforce(uow=uow, actor=actor, action=action, patient=patient, facts=facts, document=document, ctx=ctx)


def facts_of_new_document(*, type_code: str, class_code: str, author_id: str, author_kind: str) -> DocumentFacts:
    """The facts of a document being deposited (it has no entry id yet)."""
    return DocumentFacts(id="(nouveau)", type_code=type_code, class_code=class_code, author_id=author_id,
                         author_kind=author_kind)  # type: ignore[arg-type]  # fmt: skip


class Filter:
    """Per-document visibility for a listing: the decision for each entry, without tracing each refusal.

    The patient's facts, the actor and the context are those of the whole listing, so the decision is made once
    per distinct combination of what it reads of a document (:func:`carnet.access.decide.document_key`: type,
    class, flags, whether the actor wrote it) and reused for the entries that share it: a record of hundreds of
    entries has a few dozen combinations.
    """

    def __init__(self, *, uow: UnitOfWork, actor: Actor, facts: PatientFacts, ctx: Context) -> None:
        self.uow, self.actor, self.facts, self.ctx = uow, actor, facts, ctx
        self._decided: dict[tuple[Any, ...], bool] = {}

    def audit_kwargs(self) -> dict[str, Any]:
        """The listing's access mode for its audit entry (an emergency listing is marked as one)."""
        return {"mode": self.ctx.mode.value, "request_id": self.ctx.request_id}

    def allows(self, row: DocumentRow) -> bool:
        key = document_key(self.actor, row)
        allowed = self._decided.get(key)
        if allowed is None:
            decision = access.evaluate(
                uow=self.uow, actor=self.actor, action=Action.READ, facts=self.facts,
                document=access.document_facts(row), ctx=self.ctx,
            )  # fmt: skip
            allowed = self._decided[key] = decision.allowed
        return allowed

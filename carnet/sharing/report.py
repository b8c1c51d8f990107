"""The compliance report: for a professional or an organisation and a period, how many documents fell under each
sharing duty and how many were shared in time — the figure the professionals' payment is computed on.

What is counted (docs/sharing.md, "Compliance report"):

- **documents**: those the professional wrote (``author_id``), or an author of the organisation wrote
  (``organisation_id`` of the author in the document), whose **document date** (the day the document was made, in
  French legal time: the date the obligations are asked for) is in the period, both ends included;
- documents shared through :func:`carnet.sharing.share.share` are counted from the sharing log, with the context
  the author gave; documents deposited in the record another way (an ITI-65 bundle, the portal) are counted too,
  with the default context (no exclusion: the circumstances were not given), the deposit as the ``dmp`` duty and
  the secure messages that carried the document (an attachment with its unique id) as the other two;
- for each duty: ``due`` (the obligations say it applies), ``shared`` (fulfilled: deposited, sent to every
  recipient the duty names, or sent to the patient at the release), ``in_time`` (fulfilled **no later than the
  document date**: « au plus tard le jour du résultat »; a document held back for an announcement consultation
  and sent at its release is in time, the texts exempt it), ``held`` (still held back for the announcement
  consultation), ``no_recipient`` (no médecin traitant declared, no prescriber, nobody named: nobody to send to),
  ``missing`` (due and none of the above), and the **rate**: in time over expected (due − held − no recipient).

Reading the report is decided here: the professional for themself (or their secretariat), a member of the
organisation for it, the platform and operators for anyone; the reading is traced on the platform chain
(``sharing.report``). Only counts, and for a professional's own report the documents still missing (entry id, date,
type) so they can be sent, come out.
"""

from __future__ import annotations

import datetime as dt
import html
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from carnet.access.model import Actor, ActorKind
from carnet.audit import service as audit
from carnet.errors import Forbidden, ValidationError
from carnet.messaging.model import MailboxKind
from carnet.messaging.store import AttachmentRow, MailboxRow, MessageRow, RecipientRow
from carnet.record import service as record
from carnet.sharing.model import Context, Duty
from carnet.sharing.obligations import obligations
from carnet.sharing.share import PARIS, DutyStatus
from carnet.sharing.store import ShareRepository, ShareRow

if TYPE_CHECKING:
    from carnet.storage.uow import UnitOfWork

__all__ = ["MAX_DAYS", "ComplianceReport", "DutyCount", "Missing", "Scope", "report", "svg_chart"]

MAX_DAYS = 3 * 366  # a period of at most three years
MAX_MISSING = 200  # documents still missing listed in a professional's own report


class Scope:
    PROFESSIONAL = "professional"
    ORGANISATION = "organisation"


@dataclass(frozen=True, slots=True, kw_only=True)
class DutyCount:
    """One duty over the period."""

    duty: Duty
    due: int = 0
    shared: int = 0
    in_time: int = 0
    held: int = 0
    no_recipient: int = 0

    @property
    def missing(self) -> int:
        return self.due - self.shared - self.held - self.no_recipient

    @property
    def expected(self) -> int:
        return self.due - self.held - self.no_recipient

    @property
    def rate(self) -> float | None:
        """In time over expected (None when nothing is expected)."""
        return self.in_time / self.expected if self.expected else None

    def to_dict(self) -> dict[str, Any]:
        return {"duty": self.duty.value, "due": self.due, "shared": self.shared, "in_time": self.in_time,
                "held": self.held, "no_recipient": self.no_recipient, "missing": self.missing,
                "expected": self.expected, "rate": self.rate}  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class Missing:
    """A document whose duty is neither fulfilled nor excused: what the professional still has to send."""

    entry_id: str
    document_date: dt.date
    type_code: str
    duties: tuple[Duty, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"entry_id": self.entry_id, "document_date": self.document_date.isoformat(),
                "type_code": self.type_code, "duties": [d.value for d in self.duties]}  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class ComplianceReport:
    scope: str
    scope_id: str
    start: dt.date
    end: dt.date
    documents: int  # documents of the period (shared on validation + deposited otherwise)
    via_share: int
    other_deposits: int
    under_duty: int  # documents under at least one duty
    duties: tuple[DutyCount, ...]
    by_rule: dict[str, int]  # documents under a duty, by the rule that decides it
    missing: tuple[Missing, ...] = ()

    def duty(self, duty: Duty) -> DutyCount:
        return next(d for d in self.duties if d.duty is duty)

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` output of ``carnet sharing report``."""
        return {
            "scope": self.scope,
            "scope_id": self.scope_id,
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "documents": self.documents,
            "via_share": self.via_share,
            "other_deposits": self.other_deposits,
            "under_duty": self.under_duty,
            "duties": [d.to_dict() for d in self.duties],
            "by_rule": dict(sorted(self.by_rule.items())),
            "missing": [m.to_dict() for m in self.missing],
        }


@dataclass(slots=True)
class _Tally:
    due: int = 0
    shared: int = 0
    in_time: int = 0
    held: int = 0
    no_recipient: int = 0


def _day(moment: dt.datetime) -> dt.date:
    return moment.astimezone(PARIS).date()


def _may_read(actor: Actor, scope: str, scope_id: str) -> None:
    if actor.kind in (ActorKind.SYSTEM, ActorKind.OPERATOR):
        return
    if scope == Scope.PROFESSIONAL:
        if (actor.kind is ActorKind.PROFESSIONAL and actor.id == scope_id) or (
            actor.kind is ActorKind.SECRETARIAT and actor.acting_for == scope_id
        ):
            return
        raise Forbidden("un professionnel consulte son propre rapport de partage (ou celui de sa structure)")
    if actor.kind in (ActorKind.PROFESSIONAL, ActorKind.SECRETARIAT) and actor.organisation_id == scope_id:
        return
    raise Forbidden("le rapport d'une structure est réservé à ses membres et aux opérateurs")


def _bounds(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    if end < start:
        raise ValidationError(f"période vide : du {start.isoformat()} au {end.isoformat()}", field="to")
    if (end - start).days > MAX_DAYS:
        raise ValidationError(f"période trop longue : {MAX_DAYS} jours au plus", field="to")
    low = dt.datetime.combine(start, dt.time(), PARIS).astimezone(dt.UTC)
    high = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), PARIS).astimezone(dt.UTC)
    return low, high


def _other_deposits(
    uow: UnitOfWork, actor: Actor, scope: str, scope_id: str, low: dt.datetime, high: dt.datetime, shared: set[str]
) -> list[record.AuthoredDocument]:
    """The professionals' documents of the period that were not shared through ``share`` (the record's listing)."""
    by = {"author_id": scope_id} if scope == Scope.PROFESSIONAL else {"organisation_id": scope_id}
    found = record.authored_documents(uow=uow, actor=actor, created_from=low, created_before=high, **by)
    return [d for d in found if d.id not in shared]


def _messages_of(uow: UnitOfWork, unique_ids: list[str]) -> dict[str, dict[str, dt.datetime]]:
    """For each document (unique id), when it was first sent to a professional and to a patient by messaging."""
    out: dict[str, dict[str, dt.datetime]] = {}
    for chunk in (unique_ids[i : i + 500] for i in range(0, len(unique_ids), 500)):
        stmt = (
            select(AttachmentRow.unique_id, MessageRow.sent_at, MailboxRow.kind)
            .join(MessageRow, MessageRow.id == AttachmentRow.message_id)
            .join(RecipientRow, RecipientRow.message_id == MessageRow.id)
            .join(MailboxRow, MailboxRow.id == RecipientRow.mailbox_id)
            .where(AttachmentRow.unique_id.in_(chunk), MessageRow.inbound.is_(False))
        )
        for unique_id, sent_at, kind in uow.session.execute(stmt):
            side = "patient" if kind == MailboxKind.PATIENT.value else "professionals"
            seen = out.setdefault(str(unique_id), {})
            if side not in seen or sent_at < seen[side]:
                seen[side] = sent_at
    return out


def report(
    *, uow: UnitOfWork, actor: Actor, scope: str, scope_id: str, start: dt.date, end: dt.date
) -> ComplianceReport:
    """The compliance report of a professional (``scope="professional"``, national id) or an organisation
    (``"organisation"``, idNatSt) for the period ``[start, end]``; the reading is traced."""
    if scope not in (Scope.PROFESSIONAL, Scope.ORGANISATION):
        raise ValidationError(f"portée inconnue : {scope!r} (professional ou organisation)", field="scope")
    scope_id = scope_id.strip()
    if not scope_id or len(scope_id) > 64:
        raise ValidationError("identifiant du professionnel ou de la structure attendu", field="scope_id")
    _may_read(actor, scope, scope_id)
    low, high = _bounds(start, end)
    repo = ShareRepository(uow.session)
    own_scope = scope == Scope.PROFESSIONAL
    rows = repo.in_period(author_id=scope_id if own_scope else None,
                          organisation_id=None if own_scope else scope_id, start=start, end=end)  # fmt: skip
    tallies = {duty: _Tally() for duty in Duty}
    by_rule: Counter[str] = Counter()
    missing: list[Missing] = []
    under_duty = 0
    for row in rows:
        lacking = _count_share(row, tallies, by_rule)
        under_duty += row.dmp_due or row.pros_due or row.patient_due
        if lacking:
            missing.append(Missing(entry_id=row.entry_id, document_date=row.document_date, type_code=row.type_code,
                                   duties=lacking))  # fmt: skip
    others = _other_deposits(uow, actor, scope, scope_id, low, high, {r.entry_id for r in rows})
    sent = _messages_of(uow, [r.unique_id for r in others])
    for doc in others:
        lacking, due = _count_other(doc, sent.get(doc.unique_id, {}), tallies, by_rule)
        under_duty += due
        if lacking:
            missing.append(Missing(entry_id=doc.id, document_date=_day(doc.creation_time), type_code=doc.type_code,
                                   duties=lacking))  # fmt: skip
    audit.record(uow=uow, actor=actor, action="sharing.report", patient_id=None,
                 detail={"scope": scope, "id": scope_id, "from": start.isoformat(), "to": end.isoformat()})  # fmt: skip
    own = scope == Scope.PROFESSIONAL and actor.kind in (ActorKind.PROFESSIONAL, ActorKind.SECRETARIAT)
    missing.sort(key=lambda m: (m.document_date, m.entry_id))
    return ComplianceReport(
        scope=scope, scope_id=scope_id, start=start, end=end, documents=len(rows) + len(others), via_share=len(rows),
        other_deposits=len(others), under_duty=under_duty,
        duties=tuple(DutyCount(duty=d, due=t.due, shared=t.shared, in_time=t.in_time, held=t.held,
                               no_recipient=t.no_recipient) for d, t in tallies.items()),
        by_rule=dict(by_rule), missing=tuple(missing[:MAX_MISSING]) if own else (),
    )  # fmt: skip


def _count_share(row: ShareRow, tallies: dict[Duty, _Tally], by_rule: Counter[str]) -> tuple[Duty, ...]:
    stored = {d["duty"]: d for d in (row.outcome or {}).get("duties", [])}
    lacking = []
    columns = ((Duty.DMP, row.dmp_due, row.dmp_status, row.dmp_at),
               (Duty.MSS_PROFESSIONALS, row.pros_due, row.pros_status, row.pros_at),
               (Duty.MSS_PATIENT, row.patient_due, row.patient_status, row.patient_at))  # fmt: skip
    for duty, due, status, at in columns:
        if not due:
            continue
        tally = tallies[duty]
        tally.due += 1
        rule = stored.get(duty.value, {}).get("rule_id")
        if duty is Duty.DMP and rule:  # every rule carries the three duties: one count per document
            by_rule[rule] += 1
        if status == DutyStatus.RELEASED.value:
            tally.shared += 1
            tally.in_time += 1  # the announcement consultation exempts the delay
        elif status == DutyStatus.DONE.value:
            tally.shared += 1
            tally.in_time += at is not None and _day(at) <= row.document_date
        elif status == DutyStatus.HELD_BACK.value:
            tally.held += 1
        elif status == DutyStatus.NO_RECIPIENT.value:
            tally.no_recipient += 1
        else:
            lacking.append(duty)
    return tuple(lacking)


def _count_other(
    doc: record.AuthoredDocument, sent: dict[str, dt.datetime], tallies: dict[Duty, _Tally], by_rule: Counter[str]
) -> tuple[tuple[Duty, ...], bool]:
    day = _day(doc.creation_time)
    answer = obligations(type_code=doc.type_code, context=Context(), on_date=day)
    done = {Duty.DMP: doc.submission_time, Duty.MSS_PROFESSIONALS: sent.get("professionals"),
            Duty.MSS_PATIENT: sent.get("patient")}  # fmt: skip
    lacking = []
    for duty in Duty:
        item = answer.for_duty(duty)
        if not item.applies:
            continue
        tally = tallies[duty]
        tally.due += 1
        if duty is Duty.DMP and item.rule_id:
            by_rule[item.rule_id] += 1
        at = done[duty]
        if duty is Duty.MSS_PATIENT and at is None and doc.invisible_to_patient:
            tally.held += 1
        elif at is not None:
            tally.shared += 1
            tally.in_time += _day(at) <= day
        else:
            lacking.append(duty)
    return tuple(lacking), bool(answer.duties)


# --- the chart --------------------------------------------------------------------------------------------------

_LABELS = {
    "fr": {Duty.DMP: "Versement au DMP", Duty.MSS_PROFESSIONALS: "Envoi aux professionnels",
           Duty.MSS_PATIENT: "Envoi au patient"},
    "en": {Duty.DMP: "Deposit in the DMP", Duty.MSS_PROFESSIONALS: "Sent to professionals",
           Duty.MSS_PATIENT: "Sent to the patient"},
}  # fmt: skip
_LEGEND = {
    "fr": (
        "documents soumis au devoir",
        "partagés à temps",
        "partagés en retard",
        "Taux de partage à temps par devoir",
    ),
    "en": ("documents under the duty", "shared in time", "shared late", "Rate of sharing in time by duty"),
}


def _percent(rate: float | None) -> str:
    return "—" if rate is None else f"{round(rate * 100)} %"


def svg_chart(report: ComplianceReport, lang: str = "fr") -> str:
    """A server-rendered SVG bar chart (no script): per duty, the documents under it, those shared in time and
    late, and the rate. Presentation attributes only (no ``style``: the pages' CSP forbids inline styles); every
    text escaped; ``role="img"`` with a title and a description for screen readers."""
    labels, (under, in_time, late, title) = _LABELS.get(lang, _LABELS["fr"]), _LEGEND.get(lang, _LEGEND["fr"])
    width, left, bar, gap, top = 640, 210, 22, 30, 40
    scale = max([d.due for d in report.duties] + [1])
    rows: list[str] = []
    summary: list[str] = []
    for n, count in enumerate(report.duties):
        y = top + n * (2 * bar + gap)
        full = (width - left - 80) * count.due / scale
        good = (width - left - 80) * count.in_time / scale
        late_n = count.shared - count.in_time
        slow = (width - left - 80) * late_n / scale
        label = html.escape(labels[count.duty])
        summary.append(f"{label} : {count.in_time}/{count.expected} ({_percent(count.rate)})")
        rows.append(
            f'<text x="0" y="{y + 15}" font-size="13" fill="#1e1e1e">{label}</text>'
            f'<rect x="{left}" y="{y}" width="{full:.1f}" height="{bar}" fill="#cfd8e6"/>'
            f'<text x="{left + full + 6:.1f}" y="{y + 15}" font-size="12" fill="#1e1e1e">{count.due}</text>'
            f'<rect x="{left}" y="{y + bar}" width="{good:.1f}" height="{bar}" fill="#18753c"/>'
            f'<rect x="{left + good:.1f}" y="{y + bar}" width="{slow:.1f}" height="{bar}" fill="#b34000"/>'
            f'<text x="{left + good + slow + 6:.1f}" y="{y + bar + 15}" font-size="12" fill="#1e1e1e">'
            f"{count.in_time} · {_percent(count.rate)}</text>"
        )
    height = top + len(report.duties) * (2 * bar + gap) + 10
    legend = "".join(
        f'<rect x="{x}" y="8" width="14" height="14" fill="{colour}"/>'
        f'<text x="{x + 20}" y="20" font-size="12" fill="#1e1e1e">{html.escape(text)}</text>'
        for x, colour, text in ((0, "#cfd8e6", under), (230, "#18753c", in_time), (400, "#b34000", late))
    )
    desc = html.escape(" ; ".join(summary))
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-labelledby="chart-title chart-desc" font-family="sans-serif">'
        f'<title id="chart-title">{html.escape(title)}</title><desc id="chart-desc">{desc}</desc>'
        f"{legend}{''.join(rows)}</svg>"
    )


def parse_period(start: str, end: str) -> tuple[dt.date, dt.date]:
    """``--from`` / ``--to`` (YYYY-MM-DD) as dates; ValidationError naming the one that cannot be read."""
    out: list[dt.date] = []
    for value, name in ((start, "from"), (end, "to")):
        try:
            out.append(dt.date.fromisoformat(value.strip()))
        except ValueError:
            raise ValidationError(f"date illisible {value!r} : attendu AAAA-MM-JJ", field=name) from None
    return out[0], out[1]

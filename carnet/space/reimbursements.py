"""Use cases of the reimbursements: the insurer's feed imported, shown to the holder, read by professionals.

Two sources, both through the access decision on category ``space:reimbursements`` and the audit trail:

- the insurer's feed, a CSV or JSON file (format in docs/reimbursements.md), imported by the platform
  (``carnet space reimbursements import FILE``): **all or nothing per file** — every line is checked first, every bad
  line reported (line number, field, reason) and nothing stored when one is bad; **idempotent** — a line is known by
  the insurer's ``line_id`` within the holder's space: the same line imported again is skipped, the same id with
  other values is an error of that line;
- the CNAM-HR CDA document (« Données de remboursement », code REMB of TRE_A04, template
  1.2.250.1.213.1.1.1.36) once it is in the record: :func:`import_from_document` reads it through the record's
  service (traced ``document.read``) and keeps each of its entries as a line (``source = cda``). The CNAM-HR entries
  carry the act, its date and its section, not the amounts: those lines show no amount. The call is explicit
  (from the CLI or the portal) rather than a hook of the record's deposit, which another module owns.

Reading: the holder and the representatives; the apps with a read grant on the category; professionals as the
matrice d'habilitation says (médecins only, as class 60 « données de remboursement »).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from carnet.access import service as access
from carnet.access.model import Action, Actor, ActorKind, AuthMethod, Context, SpaceCategory, space_facts
from carnet.audit import service as audit
from carnet.errors import Forbidden, NotFound, ValidationError
from carnet.space.agenda_store import AgendaRepository, ReimbursementLineRow
from carnet.space.trace import traced

if TYPE_CHECKING:
    from carnet.identity.store import PatientRow
    from carnet.storage.uow import UnitOfWork

__all__ = [
    "COLUMNS",
    "IMPORTER",
    "ImportRejected",
    "ImportReport",
    "LineIn",
    "LineProblem",
    "LineView",
    "Totals",
    "get_line",
    "import_feed",
    "import_from_document",
    "list_lines",
    "parse_cda",
    "parse_feed",
    "patient_of",
    "totals",
]

IMPORTER = Actor(
    kind=ActorKind.SYSTEM,
    id="import-assurance-maladie",
    auth_method=AuthMethod.CLI,
    name="Assurance Maladie (flux des remboursements)",
)
# The feed's columns, in order: (name, required)
COLUMNS: tuple[tuple[str, bool], ...] = (
    ("line_id", True),
    ("ins", True),
    ("care_date", True),
    ("act_code", False),
    ("act_label", True),
    ("professional", False),
    ("paid", True),
    ("reimbursed", True),
    ("left_to_pay", False),
)
_AMOUNT = re.compile(r"^\d{1,7}([.,]\d{1,2})?$")
_INS = re.compile(r"^\d{15}$")
_LINE_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")
CNAM_HR_TEMPLATE = "1.2.250.1.213.1.1.1.36"
_NO_DATA_SYSTEM = "2.16.840.1.113883.5.1150.1"  # no-known-medications, no-known-procedures…


@dataclass(frozen=True, slots=True)
class LineProblem:
    """One reason a line of the file is refused."""

    line: int  # the CSV line number (the header is line 1), or the element's rank in the JSON ``lines`` (from 1)
    field: str
    reason: str

    def __str__(self) -> str:
        return f"ligne {self.line}, {self.field} : {self.reason}"


class ImportRejected(ValidationError):
    """The file is refused as a whole: every bad line with its field and reason; nothing was stored."""

    def __init__(self, problems: Sequence[LineProblem]) -> None:
        super().__init__(f"{len(problems)} erreur(s) ; rien n'a été importé. " + str(problems[0]), field="file")
        self.problems = list(problems)


@dataclass(frozen=True, slots=True, kw_only=True)
class LineIn:
    """One line as read from the feed (amounts in cents)."""

    number: int
    line_id: str
    ins: str
    care_date: dt.date
    act_code: str | None
    act_label: str
    professional: str | None
    paid: int | None
    reimbursed: int | None
    left: int | None
    category: str | None = None


@dataclass(frozen=True, slots=True)
class LineView:
    id: str
    patient_id: str
    line_id: str
    care_date: dt.date
    act_code: str | None
    act_label: str
    category: str | None
    professional: str | None
    paid_cents: int | None
    reimbursed_cents: int | None
    left_cents: int | None
    source: str
    imported_at: dt.datetime


@dataclass(frozen=True, slots=True)
class Totals:
    paid_cents: int = 0
    reimbursed_cents: int = 0
    left_cents: int = 0
    lines: int = 0


@dataclass(frozen=True, slots=True)
class ImportReport:
    imported: int = 0
    already: int = 0
    patients: int = 0
    sha256: str = ""
    per_patient: dict[str, int] = field(default_factory=dict)


# --- parsing the feed -------------------------------------------------------------------------------------------


def _cents(raw: str) -> int:
    return int((Decimal(raw.replace(",", ".")) * 100).to_integral_value())


def _check_line(number: int, values: dict[str, Any]) -> tuple[LineIn | None, list[LineProblem]]:
    problems: list[LineProblem] = []

    texts: dict[str, str] = {}
    for name, _ in COLUMNS:
        value = values.get(name)
        if value is None:
            texts[name] = ""
        elif not isinstance(value, str | int | float) or isinstance(value, bool):
            problems.append(LineProblem(number, name, "une valeur texte ou un nombre est attendu"))
            texts[name] = ""
        else:
            texts[name] = str(value).strip()

    def text(name: str) -> str:
        return texts[name]

    for name, required in COLUMNS:
        if required and not text(name) and not any(p.field == name for p in problems):
            problems.append(LineProblem(number, name, "valeur obligatoire manquante"))
    line_id, ins, care = text("line_id"), text("ins").replace(" ", ""), text("care_date")
    if line_id and not _LINE_ID.match(line_id):
        problems.append(LineProblem(number, "line_id", "1 à 64 caractères parmi lettres, chiffres, . _ : -"))
    if ins and not _INS.match(ins):
        problems.append(LineProblem(number, "ins", "un matricule INS de 15 chiffres (NIR et clé) est attendu"))
    care_date: dt.date | None = None
    if care:
        try:
            care_date = dt.date.fromisoformat(care)
        except ValueError:
            problems.append(LineProblem(number, "care_date", f"« {care} » n'est pas une date AAAA-MM-JJ"))
    amounts: dict[str, int | None] = {}
    for name in ("paid", "reimbursed", "left_to_pay"):
        raw = text(name)
        amounts[name] = None
        if not raw:
            continue
        if not _AMOUNT.match(raw):
            problems.append(LineProblem(number, name, f"« {raw} » n'est pas un montant en euros (ex. 26.50)"))
            continue
        try:
            amounts[name] = _cents(raw)
        except InvalidOperation:
            problems.append(LineProblem(number, name, f"« {raw} » n'est pas un montant"))
    paid, reimbursed, left = amounts["paid"], amounts["reimbursed"], amounts["left_to_pay"]
    if paid is not None and reimbursed is not None:
        if reimbursed > paid:
            problems.append(LineProblem(number, "reimbursed", "le remboursement dépasse la somme payée"))
        elif left is None:
            left = paid - reimbursed
        elif left > paid - reimbursed:
            problems.append(
                LineProblem(number, "left_to_pay", "le reste à charge dépasse la somme payée moins le remboursement")
            )
    label = text("act_label")
    if len(label) > 300:
        problems.append(LineProblem(number, "act_label", "300 caractères au plus"))
    if len(text("act_code")) > 32:
        problems.append(LineProblem(number, "act_code", "32 caractères au plus"))
    if len(text("professional")) > 200:
        problems.append(LineProblem(number, "professional", "200 caractères au plus"))
    unknown = sorted(set(values) - {name for name, _ in COLUMNS})
    for name in unknown:
        problems.append(LineProblem(number, str(name), "colonne inconnue"))
    if problems or care_date is None:
        return None, problems
    return LineIn(
        number=number,
        line_id=line_id,
        ins=ins,
        care_date=care_date,
        act_code=text("act_code") or None,
        act_label=label,
        professional=text("professional") or None,
        paid=paid,
        reimbursed=reimbursed,
        left=left,
    ), []


def parse_feed(data: bytes, fmt: str) -> tuple[list[LineIn], list[LineProblem]]:
    """Every line of the file, checked: (the good lines, every problem). ``fmt`` is ``csv`` or ``json``."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return [], [LineProblem(0, "file", f"le fichier n'est pas en UTF-8 ({exc.reason})")]
    rows: list[tuple[int, dict[str, Any]]] = []
    if fmt == "csv":
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=";")
        header = next(reader, None)
        if header is None:
            return [], [LineProblem(1, "file", "fichier vide : l'en-tête est attendu")]
        header = [h.strip() for h in header]
        missing = [name for name, required in COLUMNS if required and name not in header]
        unknown = [name for name in header if name not in dict(COLUMNS)]
        if missing or unknown:
            return [], [LineProblem(1, name, "colonne absente de l'en-tête") for name in missing] + [
                LineProblem(1, name, "colonne inconnue") for name in unknown
            ]
        for values in reader:
            number = reader.line_num
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(header):
                rows.append((number, {"__columns__": f"{len(values)} valeurs pour {len(header)} colonnes"}))
                continue
            rows.append((number, dict(zip(header, values, strict=True))))
    elif fmt == "json":
        try:
            body = json.loads(text)
        except json.JSONDecodeError as exc:
            return [], [LineProblem(exc.lineno, "file", f"JSON invalide : {exc.msg}")]
        items = body.get("lines") if isinstance(body, dict) else None
        if not isinstance(items, list):
            return [], [LineProblem(0, "lines", 'un objet {"lines": [...]} est attendu')]
        for rank, item in enumerate(items, start=1):
            rows.append((rank, item if isinstance(item, dict) else {"__object__": "un objet est attendu"}))
    else:
        return [], [LineProblem(0, "format", f"format inconnu « {fmt} » (csv ou json)")]
    good: list[LineIn] = []
    problems: list[LineProblem] = []
    seen: dict[tuple[str, str], LineIn] = {}
    for number, fields in rows:
        if "__columns__" in fields or "__object__" in fields:
            problems.append(LineProblem(number, "line", str(next(iter(fields.values())))))
            continue
        line, found = _check_line(number, fields)
        problems.extend(found)
        if line is None:
            continue
        key = (line.ins, line.line_id)
        earlier = seen.get(key)
        if earlier is not None:
            if _same(earlier, line):
                continue  # the same line twice in one file: imported once
            problems.append(LineProblem(number, "line_id", f"déjà à la ligne {earlier.number} avec d'autres valeurs"))
            continue
        seen[key] = line
        good.append(line)
    return good, problems


def _same(a: LineIn, b: LineIn | ReimbursementLineRow) -> bool:
    if isinstance(b, ReimbursementLineRow):
        return (a.care_date, a.act_code, a.act_label, a.professional, a.paid, a.reimbursed, a.left) == (
            b.care_date,
            b.act_code,
            b.act_label,
            b.professional,
            b.paid_cents,
            b.reimbursed_cents,
            b.left_cents,
        )
    return (a.care_date, a.act_code, a.act_label, a.professional, a.paid, a.reimbursed, a.left) == (
        b.care_date,
        b.act_code,
        b.act_label,
        b.professional,
        b.paid,
        b.reimbursed,
        b.left,
    )


# --- writing ----------------------------------------------------------------------------------------------------


def _repo(uow: UnitOfWork) -> AgendaRepository:
    return AgendaRepository(uow.session)


def _patient(uow: UnitOfWork, patient_id: str) -> PatientRow:
    row = uow.patients.get(patient_id)
    if row is None or row.merged_into_id:
        raise NotFound(f"patient {patient_id} introuvable", field="patient")
    return row


def _write_facts(actor: Actor) -> Any:
    return space_facts(SpaceCategory.REIMBURSEMENTS, id="(nouveau)", author_id=actor.id, author_kind="patient")


def _store(
    uow: UnitOfWork, actor: Actor, lines: Iterable[tuple[PatientRow, LineIn]], *, source: str, ref: str
) -> tuple[int, int, dict[str, int], list[LineProblem]]:
    repo = _repo(uow)
    now = uow.clock.now()
    imported = already = 0
    per_patient: dict[str, int] = {}
    problems: list[LineProblem] = []
    grants: dict[str, access.Access] = {}
    for patient, line in lines:
        if patient.id not in grants:
            grants[patient.id] = access.enforce(
                uow=uow,
                actor=actor,
                action=Action.DEPOSIT,
                patient=patient,
                document=_write_facts(actor),
                trace="reimbursement.import_refused",
            )
        known = repo.line(patient.id, line.line_id)
        if known is not None:
            if _same(line, known):
                already += 1
            else:
                problems.append(LineProblem(line.number, "line_id", "déjà importée avec d'autres valeurs"))
            continue
        repo.add(
            ReimbursementLineRow(
                patient_id=patient.id,
                line_id=line.line_id,
                care_date=line.care_date,
                act_code=line.act_code,
                act_label=line.act_label,
                category=line.category,
                professional=line.professional,
                paid_cents=line.paid,
                reimbursed_cents=line.reimbursed,
                left_cents=line.left,
                source=source,
                source_ref=ref,
                imported_at=now,
            )
        )
        imported += 1
        per_patient[patient.id] = per_patient.get(patient.id, 0) + 1
    uow.flush()
    for patient_id, granted in grants.items():
        traced(
            uow,
            actor,
            "reimbursement.import",
            patient_id,
            granted,
            {"source": source, "ref": ref, "imported": per_patient.get(patient_id, 0)},
        )
    return imported, already, per_patient, problems


def _refuse(uow: UnitOfWork, actor: Actor, ref: str, problems: list[LineProblem]) -> ImportRejected:
    audit.record_now(
        uow=uow,
        actor=actor,
        action="reimbursement.import_refused",
        patient_id=None,
        detail={
            "file": ref,
            "problems": [{"line": p.line, "field": p.field} for p in problems[:200]],
            "count": len(problems),
        },
    )
    return ImportRejected(problems)


def import_feed(*, uow: UnitOfWork, data: bytes, fmt: str, actor: Actor = IMPORTER) -> ImportReport:
    """Import one file of the insurer's feed, all or nothing (the caller commits)."""
    if actor.kind != ActorKind.SYSTEM:
        raise Forbidden("le flux des remboursements est importé par la plateforme seulement")
    sha = hashlib.sha256(data).hexdigest()
    lines, problems = parse_feed(data, fmt)
    resolved: list[tuple[PatientRow, LineIn]] = []
    for line in lines:
        patient = uow.patients.by_ins(line.ins)
        if patient is None or patient.merged_into_id:
            problems.append(LineProblem(line.number, "ins", "aucun espace santé pour ce matricule INS"))
            continue
        resolved.append((patient, line))
    if problems:
        raise _refuse(uow, actor, sha, sorted(problems, key=lambda p: p.line))
    imported, already, per_patient, late = _store(uow, actor, resolved, source=fmt, ref=sha)
    if late:
        uow.rollback()
        raise _refuse(uow, actor, sha, late)
    return ImportReport(
        imported=imported, already=already, patients=len(per_patient), sha256=sha, per_patient=per_patient
    )


# --- the CNAM-HR CDA document ------------------------------------------------------------------------------------


def parse_cda(data: bytes) -> list[LineIn]:
    """The entries of a CNAM-HR document as lines (no amounts: the document has none); ValidationError when it is
    not a CNAM-HR document. The « aucune donnée » entries (no-known-* codes) are no lines."""
    from carnet.record.cda import parse_hl7_time
    from carnet.record.xml import UnsafeXml, parse_xml

    ns = {"h": "urn:hl7-org:v3"}
    try:
        root = parse_xml(data, max_bytes=20 * 1024 * 1024).getroot()
    except UnsafeXml as exc:
        raise ValidationError(f"document CDA illisible : {exc}", field="document") from None
    if not root.xpath(f"h:templateId[@root='{CNAM_HR_TEMPLATE}']", namespaces=ns):
        raise ValidationError("ce document n'est pas un historique des remboursements CNAM-HR", field="document")
    doc_id = root.xpath("h:id", namespaces=ns)
    doc_ref = (
        doc_id[0].get("root", "")
        + (("^" + doc_id[0].get("extension")) if doc_id and doc_id[0].get("extension") else "")
        if doc_id
        else ""
    )
    lines: list[LineIn] = []
    for section in root.xpath("h:component/h:structuredBody/h:component/h:section", namespaces=ns):
        title = (section.findtext("h:title", namespaces=ns) or "").strip() or None
        for rank, entry in enumerate(section.xpath("h:entry/*", namespaces=ns), start=1):
            code = entry.find("h:code", namespaces=ns)
            if code is None or code.get("codeSystem") == _NO_DATA_SYSTEM or code.get("code") == "02276797":
                continue
            if code.get("nullFlavor") and not entry.xpath(".//h:manufacturedMaterial/h:name/text()", namespaces=ns):
                continue
            when = None
            for el in entry.xpath("h:effectiveTime | h:effectiveTime/h:low", namespaces=ns):
                if el.get("value"):
                    when = parse_hl7_time(el.get("value"))
                    break
            if when is None:
                continue
            label = (
                code.get("displayName")
                or "".join(entry.xpath(".//h:manufacturedMaterial/h:name/text()", namespaces=ns)).strip()
                or title
                or "acte"
            )
            ids = entry.xpath("h:id", namespaces=ns)
            ident = (ids[0].get("root", "") + (ids[0].get("extension") or "")) if ids else ""
            line_id = ("cda-" + hashlib.sha256(f"{doc_ref}|{title}|{rank}|{ident}".encode()).hexdigest())[:64]
            lines.append(
                LineIn(
                    number=rank,
                    line_id=line_id,
                    ins="",
                    care_date=when.date(),
                    act_code=(code.get("code") or None),
                    act_label=label[:300],
                    professional=None,
                    paid=None,
                    reimbursed=None,
                    left=None,
                    category=(title or None),
                )
            )
    return lines


def import_from_document(*, uow: UnitOfWork, actor: Actor, entry_id: str, ctx: Context | None = None) -> ImportReport:
    """Read a CNAM-HR document of the record (through the record's service: decided and traced) into the holder's
    reimbursements; idempotent (each entry's line id derives from the document and its place in it)."""
    from carnet.record import service as record

    if actor.kind not in (ActorKind.SYSTEM, ActorKind.PATIENT, ActorKind.REPRESENTATIVE):
        raise Forbidden("seuls le titulaire et la plateforme versent un document dans les remboursements")
    entry, data = record.get_content(uow=uow, actor=actor, entry_id=entry_id, ctx=ctx)
    patient = _patient(uow, entry.patient_id)
    lines = parse_cda(data)
    writer = actor if actor.kind == ActorKind.SYSTEM else IMPORTER
    imported, already, per_patient, late = _store(
        uow, writer, [(patient, line) for line in lines], source="cda", ref=entry_id
    )
    if late:
        raise _refuse(uow, actor, entry_id, late)
    return ImportReport(imported=imported, already=already, patients=1, sha256="", per_patient=per_patient)


# --- reading ----------------------------------------------------------------------------------------------------


def _view(row: ReimbursementLineRow) -> LineView:
    return LineView(
        row.id,
        row.patient_id,
        row.line_id,
        row.care_date,
        row.act_code,
        row.act_label,
        row.category,
        row.professional,
        row.paid_cents,
        row.reimbursed_cents,
        row.left_cents,
        row.source,
        row.imported_at,
    )


def _category_facts() -> Any:
    return space_facts(
        SpaceCategory.REIMBURSEMENTS, id=SpaceCategory.REIMBURSEMENTS.value, author_id="", author_kind="patient"
    )


def patient_of(*, uow: UnitOfWork, line_id: str) -> str | None:
    row = _repo(uow).line_by_id(line_id)
    return str(row.patient_id) if row is not None else None


def list_lines(
    *,
    uow: UnitOfWork,
    actor: Actor,
    patient_id: str,
    since: dt.date | None = None,
    until: dt.date | None = None,
    ctx: Context | None = None,
) -> list[LineView]:
    """The holder's reimbursed acts with a care date in ``[since, until]``, newest first; the reading is traced."""
    patient = _patient(uow, patient_id)
    granted = access.enforce(
        uow=uow,
        actor=actor,
        action=Action.LIST,
        patient=patient,
        document=_category_facts(),
        ctx=ctx,
        trace="reimbursement.list",
    )
    rows = [_view(r) for r in _repo(uow).lines(patient.id, since=since, until=until)]
    traced(uow, actor, "reimbursement.list", patient.id, granted, {"returned": len(rows)})
    return rows


def get_line(*, uow: UnitOfWork, actor: Actor, line_id: str, ctx: Context | None = None) -> LineView:
    row = _repo(uow).line_by_id(line_id)
    if row is None:
        raise NotFound(f"ExplanationOfBenefit/{line_id} introuvable", field="id")
    patient = _patient(uow, row.patient_id)
    facts = space_facts(SpaceCategory.REIMBURSEMENTS, id=row.id, author_id=IMPORTER.id, author_kind="patient")
    granted = access.enforce(
        uow=uow, actor=actor, action=Action.READ, patient=patient, document=facts, ctx=ctx, trace="reimbursement.read"
    )
    traced(uow, actor, "reimbursement.read", patient.id, granted, {"line": row.id})
    return _view(row)


def totals(lines: Iterable[LineView]) -> Totals:
    """The sums of the lines' amounts (lines without an amount count for the number only)."""
    paid = reimbursed = left = count = 0
    for line in lines:
        paid += line.paid_cents or 0
        reimbursed += line.reimbursed_cents or 0
        left += line.left_cents or 0
        count += 1
    return Totals(paid, reimbursed, left, count)

"""Deposit a document from the professional portal (``/pro/patients/{id}/deposer``), for a qualified identity only:

- a **CDA R2 file**: read by the document checker (:func:`carnet.record.service.check_document`) first; every
  problem is shown in place (where in the document, and why) with status 422 and nothing is stored; a document the
  checker accepts is then deposited (the header must name this patient and this professional as author);
- a **PDF with its metadata**: a form whose choices come from the official value sets (type JDV_J66 with its
  French label, confidentiality JDV_J08, practice setting JDV_J04, facility type JDV_J02), a title and the date of
  the act; the PDF is wrapped in a CDA level 1 document (:mod:`carnet.record.level1`) and deposited. Each refused
  field is said next to it (422).

Either may be marked "non visible par le patient" until an announcement consultation (deposited held back; the
author releases it from the document page). Every deposit goes through ``record.deposit``: the access decision
(basis of access, own document, qualified identity) and the audit trail are the API's.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from carnet.access.model import Actor, ActorKind
from carnet.api.deps import UowDep, actor_on
from carnet.auth.claims import Caller
from carnet.errors import CarnetError, DocumentRejected, Forbidden, NotFound
from carnet.identity import service as identities
from carnet.identity.model import PatientIdentity
from carnet.record import level1, render
from carnet.record import service as record
from carnet.record.model import Author
from carnet.record.valuesets import class_for_type, value_sets
from carnet.storage.uow import UnitOfWork
from carnet.web import session as web_session
from carnet.web.auth import PageCallerDep
from carnet.web.pro_common import identity_view, professional_only
from carnet.web.pro_documents import document_url
from carnet.web.templating import page

router = APIRouter(include_in_schema=False)

MAX_UPLOAD = 10 * 1024 * 1024  # bytes of one file
MAX_TITLE = 200
SOURCE = "carnet-web-pro"
# The patients' and apps' own codes (TRE_A00-ProducteurDocNonPS: EXP_PATIENT, SNR) are in J02 and J04 too.
NOT_A_PROFESSIONAL_SYSTEM = "1.2.250.1.213.1.1.4.6"
CONFIDENTIALITY_SYSTEM = "2.16.840.1.113883.5.25"  # N, R, V (the other J08 codes are visibility flags)
_PARIS = ZoneInfo("Europe/Paris")
_PDF_FIELDS = ("type", "titre", "confidentialite", "cadre", "etablissement", "date_acte")


@functools.cache
def deposit_types() -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
    """The document types a professional deposits: JDV_J66 (the DMP's types) less the patients' own ``DOCPAT``
    codes, known to JDV_J07 and with a class, with their French labels, grouped by the label of their class."""
    sets = value_sets()
    classes = {c.code: c.display for c in sets.class_code}
    groups: dict[str, list[tuple[str, str]]] = {}
    for code in sets.type_code_dmp:
        klass = class_for_type(code.code)
        if code.code.startswith("DOCPAT") or code.code not in sets.type_code or klass not in classes:
            continue
        groups.setdefault(classes[klass], []).append((code.code, code.display))
    return tuple((label, tuple(sorted(options, key=lambda o: o[1]))) for label, options in sorted(groups.items()))


@functools.cache
def choices() -> dict[str, tuple[tuple[str, str], ...]]:
    """The other choices of the PDF form, from the official value sets (code, French label)."""
    sets = value_sets()
    return {
        "confidentialite": tuple((c.code, c.display) for c in sets.confidentiality
                                 if c.system == CONFIDENTIALITY_SYSTEM),
        "cadre": tuple(sorted(((c.code, c.display) for c in sets.practice_setting
                               if c.system != NOT_A_PROFESSIONAL_SYSTEM), key=lambda o: o[1])),
        "etablissement": tuple(sorted(((c.code, c.display) for c in sets.facility_type
                                       if c.system != NOT_A_PROFESSIONAL_SYSTEM), key=lambda o: o[1])),
    }  # fmt: skip


def invisible_label() -> str:
    """The official label of the JDV_J08 visibility code the "held back" option stands for."""
    code = value_sets().confidentiality.get("INVISIBLE_PATIENT")
    return code.display if code else "Non visible par le patient"


@dataclass
class Outcome:
    """What the deposit page shows after a refused attempt: the form used, its values and every reason."""

    form: str = ""  # "cda" or "pdf"
    status: int = 200
    problems: list[dict[str, Any]] = field(default_factory=list)  # the checker's: where, why, whether a warning
    errors: dict[str, str] = field(default_factory=dict)  # the PDF form's, by field
    refusal: str | None = None
    chosen: dict[str, str] = field(default_factory=dict)


def _identity(uow: UnitOfWork, caller: Caller, patient_id: str) -> tuple[Actor, PatientIdentity]:
    professional_only(caller)
    actor = actor_on(uow, caller, patient_id)
    identity = identities.get(uow=uow, actor=actor, patient_id=patient_id)
    if identity is None:
        raise NotFound("patient introuvable", field="patient")
    return actor, identity


def _page(request: Request, uow: UnitOfWork, caller: Caller, patient_id: str, outcome: Outcome) -> Response:
    from carnet.web.patient import _display_name

    actor, identity = _identity(uow, caller, patient_id)
    view = identity_view(uow, actor, identity)
    uow.commit()
    chosen = {"cadre": "AMBULATOIRE", "confidentialite": "N", **outcome.chosen}
    status = outcome.status if view["qualified"] else 403
    return page(request, "pro_deposit.html", status=status, name=_display_name(caller), patient=view,
                outcome=outcome, chosen=chosen, types=deposit_types(), choices=choices(),
                invisible_label=invisible_label(), max_mb=MAX_UPLOAD // (1024 * 1024),
                today=_today(request).isoformat())  # fmt: skip


@router.get("/pro/patients/{patient_id}/deposer")
def deposit_form(request: Request, patient_id: str, caller: PageCallerDep, uow: UowDep) -> Response:
    """The two ways to deposit: a CDA file, or a PDF with its metadata (refused for an unqualified identity)."""
    return _page(request, uow, caller, patient_id, Outcome())


def _t(request: Request, key: str, **values: Any) -> str:
    from carnet.web import i18n

    return i18n.translator(i18n.language(request))(key, **values)


async def _file(request: Request, form: FormData, errors: dict[str, str]) -> bytes:
    upload = form.get("fichier")
    if not isinstance(upload, UploadFile) or not upload.filename:
        errors["fichier"] = _t(request, "pro.deposit.error.file")
        return b""
    content = await upload.read(MAX_UPLOAD + 1)
    if len(content) > MAX_UPLOAD:
        errors["fichier"] = _t(request, "pro.deposit.error.size", mb=MAX_UPLOAD // (1024 * 1024))
    elif not content:
        errors["fichier"] = _t(request, "pro.deposit.error.empty")
    return content


async def _again(request: Request, caller: Caller, patient_id: str, outcome: Outcome) -> Response:
    def show() -> Response:
        with request.app.state.platform.uow() as uow:
            return _page(request, uow, caller, patient_id, outcome)

    return await run_in_threadpool(show)


def _problems(exc: DocumentRejected) -> list[dict[str, Any]]:
    return [{"location": str(getattr(p, "location", "")), "message": str(getattr(p, "message", p))}
            for p in exc.problems] or [{"location": "", "message": exc.message}]  # fmt: skip


async def _read_form(request: Request) -> FormData | None:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_UPLOAD + 64 * 1024:
        return None
    return await request.form(max_files=1, max_fields=12)


def _deposit(request: Request, caller: Caller, patient_id: str, build: Any, invisible: bool) -> str:
    """Deposit what ``build(uow, actor, identity)`` makes, in one unit of work; the new entry's id."""
    with request.app.state.platform.uow() as uow:
        actor, identity = _identity(uow, caller, patient_id)
        content = build(uow, actor, identity)
        result = record.deposit(uow=uow, actor=actor, patient_id=identity.id, content=content, mime_type="text/xml",
                                invisible_to_patient=invisible, max_bytes=MAX_UPLOAD,
                                submission_source=SOURCE)  # fmt: skip
        uow.commit()
        return result.entry.id


async def _run(request: Request, caller: Caller, patient_id: str, outcome: Outcome, build: Any,
               invisible: bool) -> Response:  # fmt: skip
    try:
        entry_id = await run_in_threadpool(_deposit, request, caller, patient_id, build, invisible)
    except DocumentRejected as exc:
        outcome.status, outcome.problems = 422, _problems(exc)
        return await _again(request, caller, patient_id, outcome)
    except Forbidden as exc:
        outcome.status, outcome.refusal = 403, exc.message
        return await _again(request, caller, patient_id, outcome)
    except CarnetError as exc:
        if exc.http_status not in (409, 422):
            raise
        outcome.status, outcome.refusal = exc.http_status, exc.message
        return await _again(request, caller, patient_id, outcome)
    return RedirectResponse(document_url(entry_id, "?fait=depose"), status_code=303)


def _csrf(request: Request, form: FormData) -> bool:
    value = form.get("csrf")
    return web_session.csrf_ok(request, value if isinstance(value, str) else None)


def _too_big(request: Request, form_name: str) -> Outcome:
    too_big = _t(request, "pro.deposit.error.size", mb=MAX_UPLOAD // (1024 * 1024))
    return Outcome(form=form_name, status=413, errors={"fichier": too_big})


@router.post("/pro/patients/{patient_id}/deposer/cda")
async def deposit_cda(request: Request, patient_id: str, caller: PageCallerDep) -> Response:
    """A CDA R2 file: checked first (every problem in place, 422, nothing stored), then deposited."""
    professional_only(caller)
    form = await _read_form(request)
    if form is None:
        return await _again(request, caller, patient_id, _too_big(request, "cda"))
    try:
        if not _csrf(request, form):
            return page(request, "error.html", status=403, title_key="error.forbidden", message_key="error.csrf")
        errors: dict[str, str] = {}
        content = await _file(request, form, errors)
        invisible = form.get("invisible") == "oui"
    finally:
        await form.close()
    outcome = Outcome(form="cda", chosen={"invisible_cda": "oui" if invisible else ""})
    if errors:
        outcome.status, outcome.errors = 422, errors
        return await _again(request, caller, patient_id, outcome)
    checked = record.check_document(content, mime_type="text/xml", max_bytes=MAX_UPLOAD)
    if checked.errors:
        # The document checker's verdict, as a vendor's sandbox gives it: nothing is stored.
        outcome.status = 422
        outcome.problems = [{"location": p.location, "message": p.message, "warning": p.severity != "error"}
                            for p in checked.problems]  # fmt: skip
        return await _again(request, caller, patient_id, outcome)
    return await _run(request, caller, patient_id, outcome, lambda uow, actor, identity: content, invisible)


def _specialty(profession: str | None, specialty: str | None) -> str | None:
    """The JDV_J01 code of a profession and its specialty (``10`` + ``SM54`` → ``G15_10/SM54``), when it exists."""
    if specialty and specialty.startswith("G15_"):
        return specialty
    known = value_sets().author_specialty
    for code in (f"G15_{profession}/{specialty}" if profession and specialty else None,
                 f"G15_{profession}" if profession else None):  # fmt: skip
        if code and known.get(code) is not None:
            return code
    return None


def _author(uow: UnitOfWork, actor: Actor) -> Author:
    """The author of a PDF deposited from the portal: the professional (the one a secretariat works for), named
    as the directory knows them."""
    author_id = actor.acting_for if actor.kind == ActorKind.SECRETARIAT and actor.acting_for else actor.id
    known = uow.directory.professional(author_id)
    if known is not None:
        specialty = actor.specialty if author_id == actor.id and actor.specialty else known.specialty_code
        return Author(id=author_id, family=known.family_name, given=known.given_name,
                      profession=known.profession_code, specialty=_specialty(known.profession_code, specialty),
                      organisation_id=actor.organisation_id, organisation_name=actor.organisation_name)  # fmt: skip
    return Author(id=author_id, family=actor.name or author_id, profession=actor.profession,
                  specialty=_specialty(actor.profession, actor.specialty), organisation_id=actor.organisation_id,
                  organisation_name=actor.organisation_name)  # fmt: skip


def _today(request: Request) -> dt.date:
    """Today in French legal time, by the platform's clock."""
    return request.app.state.platform.clock.now().astimezone(_PARIS).date()  # type: ignore[no-any-return]


def _checked_pdf_fields(request: Request, form: FormData, errors: dict[str, str]) -> dict[str, str]:
    chosen = {name: str(form.get(name) or "").strip() for name in _PDF_FIELDS}
    types = {code for _, options in deposit_types() for code, _ in options}
    if chosen["type"] not in types:
        errors["type"] = _t(request, "pro.deposit.error.type")
        chosen["type"] = ""
    if not chosen["titre"]:
        errors["titre"] = _t(request, "pro.deposit.error.title")
    elif len(chosen["titre"]) > MAX_TITLE:
        errors["titre"] = _t(request, "pro.deposit.error.title_long", max=MAX_TITLE)
        chosen["titre"] = chosen["titre"][:MAX_TITLE]
    for name, key in (("confidentialite", "confidentiality"), ("cadre", "setting"), ("etablissement", "facility")):
        if chosen[name] not in dict(choices()[name]):
            errors[name] = _t(request, f"pro.deposit.error.{key}")
            chosen[name] = ""
    try:
        day = dt.date.fromisoformat(chosen["date_acte"])
        if day > _today(request):
            errors["date_acte"] = _t(request, "pro.deposit.error.date_future")
    except ValueError:
        errors["date_acte"] = _t(request, "pro.deposit.error.date")
        chosen["date_acte"] = chosen["date_acte"][:20]
    return chosen


@router.post("/pro/patients/{patient_id}/deposer/pdf")
async def deposit_pdf(request: Request, patient_id: str, caller: PageCallerDep) -> Response:
    """A PDF with its metadata: each field checked against the official value sets (refusals in place, 422), then
    wrapped in a CDA level 1 document and deposited."""
    professional_only(caller)
    form = await _read_form(request)
    if form is None:
        return await _again(request, caller, patient_id, _too_big(request, "pdf"))
    try:
        if not _csrf(request, form):
            return page(request, "error.html", status=403, title_key="error.forbidden", message_key="error.csrf")
        errors: dict[str, str] = {}
        content = await _file(request, form, errors)
        if content and "fichier" not in errors and not render.is_pdf(content):
            errors["fichier"] = _t(request, "pro.deposit.error.not_pdf")
        chosen = _checked_pdf_fields(request, form, errors)
        invisible = form.get("invisible") == "oui"
    finally:
        await form.close()
    chosen["invisible_pdf"] = "oui" if invisible else ""
    outcome = Outcome(form="pdf", chosen=chosen)
    if errors:
        outcome.status, outcome.errors = 422, errors
        return await _again(request, caller, patient_id, outcome)
    day = dt.date.fromisoformat(chosen["date_acte"])

    def build(uow: UnitOfWork, actor: Actor, identity: PatientIdentity) -> bytes:
        now = uow.clock.now()
        act = min(dt.datetime.combine(day, dt.time(12, 0), tzinfo=_PARIS), now)  # the act's day, never later than now
        wrapped = level1.Level1Form(type_code=chosen["type"], title=chosen["titre"],
                                    confidentiality_code=chosen["confidentialite"], practice_setting=chosen["cadre"],
                                    facility_type=chosen["etablissement"], service_start=act)  # fmt: skip
        return level1.pdf_document(pdf=content, patient=identity, author=_author(uow, actor), form=wrapped,
                                   created=now)  # fmt: skip

    return await _run(request, caller, patient_id, outcome, build, invisible)

"""The professional portal's sharing pages, under ``/pro/partage`` (a router of its own, to include in the portal's):

- ``GET /pro/partage/rapport`` (``?du=AAAA-MM-JJ&au=AAAA-MM-JJ&portee=professionnel|structure``): the compliance
  report of the signed-in professional (or of their organisation) for the period (default: the current month up to
  today), with its chart (server-rendered SVG, no script) and the documents still to send;
- ``GET /pro/partage/documents/{id}``: a document of the record and how it was shared (each duty, its rule, its
  status, each recipient), or the form to share it;
- ``POST /pro/partage/documents/{id}``: the one-click « Partager » (the session's CSRF token; optional announcement
  consultation, exclusion context, prescriber and chosen professionals), through
  :func:`carnet.sharing.share.share_existing` — the same service, access decision and audit trail as the API.

French first, English with ``?lang=en`` (the messages live here, merged into the page's translator).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from carnet.access.model import ActorKind
from carnet.api.deps import UowDep, actor_on
from carnet.auth.claims import Caller
from carnet.errors import CarnetError, Forbidden
from carnet.messaging import service as mss
from carnet.record import service as record
from carnet.sharing import Context
from carnet.sharing import share as sharing
from carnet.sharing.report import ComplianceReport, Scope, parse_period, report, svg_chart
from carnet.web import i18n
from carnet.web import session as web_session
from carnet.web.auth import PageCallerDep
from carnet.web.templating import page

router = APIRouter(include_in_schema=False)

MESSAGES: dict[str, dict[str, str]] = {
    "fr": {
        "share.nav": "Partage",
        "share.report.title": "Mes obligations de partage",
        "share.report.org_title": "Obligations de partage de ma structure",
        "share.report.intro": "Documents soumis à chaque devoir de l'arrêté du 26 avril 2022 modifié (versement au "
        "DMP, envoi MSSanté aux professionnels et au patient) et partagés à temps, c'est-à-dire au plus tard le jour "
        "du document.",
        "share.report.period": "Période",
        "share.report.from": "Du",
        "share.report.to": "Au",
        "share.report.scope": "Portée",
        "share.report.scope.professional": "Mes documents",
        "share.report.scope.organisation": "Ma structure",
        "share.report.show": "Afficher",
        "share.report.documents": "{documents} document(s) sur la période, dont {under} soumis à au moins un "
        "devoir ({via} partagé(s) à la validation, {other} versé(s) autrement).",
        "share.report.chart": "Graphique",
        "share.report.table": "Détail par devoir",
        "share.col.duty": "Devoir",
        "share.col.due": "Dus",
        "share.col.shared": "Partagés",
        "share.col.in_time": "À temps",
        "share.col.held": "En attente d'annonce",
        "share.col.no_recipient": "Sans destinataire",
        "share.col.missing": "Manquants",
        "share.col.rate": "Taux à temps",
        "share.rate.note": "Taux = partagés à temps / (dus − en attente d'annonce − sans destinataire).",
        "share.missing.title": "Documents à partager",
        "share.missing.none": "Aucun document en attente de partage.",
        "share.missing.date": "Date du document",
        "share.missing.type": "Type",
        "share.missing.duties": "Devoirs manquants",
        "share.duty.dmp": "Versement au DMP",
        "share.duty.mss_professionals": "Envoi aux professionnels",
        "share.duty.mss_patient": "Envoi au patient",
        "share.button": "Partager",
        "share.open": "Voir le partage",
        "share.doc.title": "Partage du document",
        "share.doc.not_shared": "Ce document n'a pas encore été partagé depuis Carnet.",
        "share.doc.form": "Partager ce document",
        "share.doc.context": "Circonstances",
        "share.doc.announcement": "Consultation d'annonce nécessaire : ne pas envoyer au patient avant la levée",
        "share.doc.hospital_stay": "Produit dans le cadre d'un séjour hospitalier",
        "share.doc.constitutional_genetics": "Compte rendu de génétique constitutionnelle",
        "share.doc.prior_agreement": "Prescription soumise à entente préalable",
        "share.doc.prescriber": "Prescripteur (identifiant national ou adresse MSSanté, facultatif)",
        "share.doc.recipients": "Autres professionnels (identifiants ou adresses, séparés par des virgules)",
        "share.doc.done": "Le document est partagé.",
        "share.doc.repeated": "Ce document était déjà partagé : rien n'a été envoyé une seconde fois.",
        "share.doc.duties": "Devoirs",
        "share.doc.due": "Dû",
        "share.doc.not_due": "Non dû",
        "share.doc.rule": "Règle",
        "share.doc.reason": "Motif",
        "share.doc.status": "État",
        "share.doc.recipients_title": "Destinataires",
        "share.doc.address": "Adresse",
        "share.doc.role": "Rôle",
        "share.doc.delivery": "Distribution",
        "share.doc.warnings": "Points d'attention",
        "share.status.done": "fait",
        "share.status.held_back": "en attente de la consultation d'annonce",
        "share.status.released": "envoyé à la levée",
        "share.status.partial": "incomplet",
        "share.status.no_recipient": "aucun destinataire",
        "share.status.not_sent": "rien envoyé",
        "share.role.medecin_traitant": "médecin traitant",
        "share.role.prescriber": "prescripteur",
        "share.role.chosen": "professionnel désigné",
        "share.role.patient": "patient",
        "share.delivery.delivered": "distribué",
        "share.delivery.pending": "en file d'envoi",
        "share.delivery.held": "retenu",
        "share.delivery.sent": "envoyé",
        "share.delivery.failed": "échec",
        "share.delivery.bounced": "refusé",
        "share.error.title": "Le partage a été refusé",
        "share.error.no_organisation": "Votre compte n'est rattaché à aucune structure.",
    },
    "en": {
        "share.nav": "Sharing",
        "share.report.title": "My sharing obligations",
        "share.report.org_title": "My organisation's sharing obligations",
        "share.report.intro": "Documents under each duty of the arrêté of 26 April 2022 as amended (deposit in the "
        "DMP, MSSanté to the professionals and to the patient) and shared in time, that is no later than the day of "
        "the document.",
        "share.report.period": "Period",
        "share.report.from": "From",
        "share.report.to": "To",
        "share.report.scope": "Scope",
        "share.report.scope.professional": "My documents",
        "share.report.scope.organisation": "My organisation",
        "share.report.show": "Show",
        "share.report.documents": "{documents} document(s) in the period, {under} of them under at least one duty "
        "({via} shared on validation, {other} deposited otherwise).",
        "share.report.chart": "Chart",
        "share.report.table": "By duty",
        "share.col.duty": "Duty",
        "share.col.due": "Due",
        "share.col.shared": "Shared",
        "share.col.in_time": "In time",
        "share.col.held": "Awaiting announcement",
        "share.col.no_recipient": "No recipient",
        "share.col.missing": "Missing",
        "share.col.rate": "Rate in time",
        "share.rate.note": "Rate = shared in time / (due − awaiting announcement − no recipient).",
        "share.missing.title": "Documents to share",
        "share.missing.none": "No document waiting to be shared.",
        "share.missing.date": "Document date",
        "share.missing.type": "Type",
        "share.missing.duties": "Missing duties",
        "share.duty.dmp": "Deposit in the DMP",
        "share.duty.mss_professionals": "Sent to professionals",
        "share.duty.mss_patient": "Sent to the patient",
        "share.button": "Share",
        "share.open": "See the sharing",
        "share.doc.title": "Sharing of the document",
        "share.doc.not_shared": "This document has not been shared from Carnet yet.",
        "share.doc.form": "Share this document",
        "share.doc.context": "Circumstances",
        "share.doc.announcement": "Announcement consultation needed: do not send to the patient before the release",
        "share.doc.hospital_stay": "Produced during a hospital stay",
        "share.doc.constitutional_genetics": "Constitutional genetics report",
        "share.doc.prior_agreement": "Prescription subject to prior agreement",
        "share.doc.prescriber": "Prescriber (national id or MSSanté address, optional)",
        "share.doc.recipients": "Other professionals (ids or addresses, comma separated)",
        "share.doc.done": "The document is shared.",
        "share.doc.repeated": "This document was already shared: nothing was sent twice.",
        "share.doc.duties": "Duties",
        "share.doc.due": "Due",
        "share.doc.not_due": "Not due",
        "share.doc.rule": "Rule",
        "share.doc.reason": "Reason",
        "share.doc.status": "Status",
        "share.doc.recipients_title": "Recipients",
        "share.doc.address": "Address",
        "share.doc.role": "Role",
        "share.doc.delivery": "Delivery",
        "share.doc.warnings": "Warnings",
        "share.status.done": "done",
        "share.status.held_back": "awaiting the announcement consultation",
        "share.status.released": "sent at the release",
        "share.status.partial": "incomplete",
        "share.status.no_recipient": "no recipient",
        "share.status.not_sent": "nothing sent",
        "share.role.medecin_traitant": "médecin traitant",
        "share.role.prescriber": "prescriber",
        "share.role.chosen": "chosen professional",
        "share.role.patient": "patient",
        "share.delivery.delivered": "delivered",
        "share.delivery.pending": "queued",
        "share.delivery.held": "held",
        "share.delivery.sent": "sent",
        "share.delivery.failed": "failed",
        "share.delivery.bounced": "bounced",
        "share.error.title": "The sharing was refused",
        "share.error.no_organisation": "Your account belongs to no organisation.",
    },
}
_SCOPES = {"professionnel": Scope.PROFESSIONAL, "structure": Scope.ORGANISATION}
_FLAGS = ("annonce", "sejour", "genetique", "entente")


def _translator(request: Request) -> Any:
    lang = i18n.language(request)
    ours = MESSAGES.get(lang, MESSAGES["fr"])
    theirs = i18n.translator(lang)

    def ts(key: str, **values: object) -> str:
        text = ours.get(key) or MESSAGES["fr"].get(key)
        if text is None:
            return theirs(key, **values)
        return text.format(**values) if values else text

    return ts


def _professional(caller: Caller) -> None:
    if caller.kind not in (ActorKind.PROFESSIONAL, ActorKind.SECRETARIAT):
        raise Forbidden("l'espace professionnel est réservé aux professionnels de santé et à leur secrétariat")


def _period(request: Request, today: dt.date) -> tuple[dt.date, dt.date, str | None]:
    q = request.query_params
    start_text, end_text = (q.get("du") or "").strip(), (q.get("au") or "").strip()
    if not start_text and not end_text:
        return today.replace(day=1), today, None
    try:
        start, end = parse_period(start_text or today.replace(day=1).isoformat(), end_text or today.isoformat())
    except CarnetError as exc:
        return today.replace(day=1), today, exc.message
    return start, end, None


@router.get("/pro/partage/rapport")
def report_page(request: Request, caller: PageCallerDep, uow: UowDep) -> Response:
    """The compliance report of the signed-in professional (or of their organisation), with its chart."""
    _professional(caller)
    ts = _translator(request)
    actor = actor_on(uow, caller)
    today = uow.clock.now().astimezone(sharing.PARIS).date()
    start, end, error = _period(request, today)
    scope_word = request.query_params.get("portee", "professionnel")
    scope = _SCOPES.get(scope_word, Scope.PROFESSIONAL)
    scope_id = actor.acting_for or actor.id if scope == Scope.PROFESSIONAL else actor.organisation_id
    data: ComplianceReport | None = None
    if scope_id is None:
        error = error or ts("share.error.no_organisation")
    elif error is None:
        try:
            data = report(uow=uow, actor=actor, scope=scope, scope_id=scope_id, start=start, end=end)
        except Forbidden:
            raise
        except CarnetError as exc:
            error = exc.message
        uow.commit()
    chart = Markup(svg_chart(data, i18n.language(request))) if data is not None else None  # noqa: S704 - escaped
    return page(request, "pro_sharing_report.html", ts=ts, report=data, chart=chart, start=start, end=end,
                scope=scope_word if scope_word in _SCOPES else "professionnel", error=error,
                status=422 if error else 200)  # fmt: skip


def _document_view(uow: Any, caller: Caller, entry_id: str) -> tuple[Any, sharing.ShareResult | None]:
    actor = actor_on(uow, caller)
    entry = record.get_document(uow=uow, actor=actor, entry_id=entry_id)
    return entry, sharing.result_of(uow=uow, entry_id=entry.id)


@router.get("/pro/partage/documents/{entry_id}")
def document_page(request: Request, entry_id: str, caller: PageCallerDep, uow: UowDep) -> Response:
    """A document and how it was shared, or the form to share it."""
    _professional(caller)
    entry, shared = _document_view(uow, caller, entry_id)
    uow.commit()
    done = request.query_params.get("fait")
    return page(request, "pro_sharing_document.html", ts=_translator(request), entry=entry, shared=shared,
                done=done if done in ("partage", "deja") else None, error=None, asked={})  # fmt: skip


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v.strip()[:2000] for k, v in form.items() if isinstance(v, str)}


@router.post("/pro/partage/documents/{entry_id}")
async def share_document(request: Request, entry_id: str, caller: PageCallerDep) -> Response:
    """The one-click « Partager »: the document is shared as its obligations say (CSRF checked)."""
    _professional(caller)
    form = await _form(request)
    if not web_session.csrf_ok(request, form.get("csrf")):
        return page(request, "error.html", status=403, title_key="error.forbidden", message_key="error.csrf")
    recipients = [r.strip() for r in form.get("destinataires", "").replace(";", ",").split(",") if r.strip()]
    context = Context(hospital_stay="sejour" in form, constitutional_genetics="genetique" in form,
                      prior_agreement="entente" in form)  # fmt: skip
    config = mss.MessagingConfig.from_settings(request.app.state.settings)

    def run() -> _Outcome:
        with request.app.state.platform.uow() as uow:
            try:
                result = sharing.share_existing(uow=uow, actor=actor_on(uow, caller), config=config,
                                                entry_id=entry_id, prescriber=form.get("prescripteur") or None,
                                                recipients=recipients, context=context,
                                                announcement="annonce" in form)  # fmt: skip
                uow.commit()
                return _Outcome(entry_id=result.entry_id, repeated=result.repeated)
            except Forbidden:
                raise
            except CarnetError as exc:
                message = exc.message
        with request.app.state.platform.uow() as uow:  # the refusal is said on the document's page
            entry, shared = _document_view(uow, caller, entry_id)
            uow.commit()
        return _Outcome(entry=entry, shared=shared, error=message)

    outcome = await run_in_threadpool(run)
    if outcome.error is None and outcome.entry_id is not None:
        done = "deja" if outcome.repeated else "partage"
        return RedirectResponse(f"/pro/partage/documents/{quote(outcome.entry_id)}?fait={done}", status_code=303)
    asked = {k: form.get(k, "") for k in ("prescripteur", "destinataires")} | {k: "1" for k in _FLAGS if k in form}
    return page(request, "pro_sharing_document.html", ts=_translator(request), entry=outcome.entry,
                shared=outcome.shared, done=None, error=outcome.error, asked=asked, status=422)  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class _Outcome:
    entry_id: str | None = None
    repeated: bool = False
    entry: Any = None
    shared: sharing.ShareResult | None = None
    error: str | None = None

"""The portals' router (kept out of the OpenAPI schema), the stylesheet, and the error pages of web paths."""

from __future__ import annotations

import functools
import inspect
from importlib import resources

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response

from carnet.errors import CarnetError, Forbidden, NotFound, Unauthenticated
from carnet.web import (
    auth,
    messages,
    patient,
    patient_access,
    patient_history,
    patient_space,
    patient_upload,
    pro,
    pro_sharing,
)
from carnet.web.agenda_pages import router as agenda_router
from carnet.web.catalogue_pages import router as catalogue_router
from carnet.web.export_pages import router as export_router
from carnet.web.profile_pages import router as profile_router
from carnet.web.space_hub import router as space_hub_router
from carnet.web.space_pages import router as space_pages_router
from carnet.web.templating import page

router = APIRouter(include_in_schema=False, tags=["web"])

router.add_api_route("/connexion", auth.sign_in, methods=["GET"])
router.add_api_route("/connexion/terminee", auth.signed_out, methods=["GET"])
router.add_api_route("/auth/callback", auth.callback, methods=["GET"])
router.add_api_route("/deconnexion", auth.sign_out, methods=["GET", "POST"])
router.add_api_route("/", patient.home, methods=["GET"])
router.add_api_route("/documents", patient.documents, methods=["GET"])
router.add_api_route("/documents/ajouter", patient_upload.upload_form, methods=["GET"])
router.add_api_route("/documents/ajouter", patient_upload.upload, methods=["POST"])
router.add_api_route("/documents/{document_id}", patient.document, methods=["GET"])
router.add_api_route("/documents/{document_id}/contenu", patient.content, methods=["GET"])
router.add_api_route("/documents/{document_id}/pdf", patient.embedded_pdf, methods=["GET"])
router.add_api_route("/documents/{document_id}/masquer", patient.hide, methods=["POST"])
router.add_api_route("/documents/{document_id}/montrer", patient.show, methods=["POST"])
router.add_api_route("/historique", patient_history.history, methods=["GET"])
router.add_api_route("/acces", patient_access.settings_page, methods=["GET"])
router.add_api_route("/acces/autorisation", patient_access.grant_form, methods=["GET"])
router.add_api_route("/acces/autorisation", patient_access.add_grant, methods=["POST"])
router.add_api_route("/acces/autorisations/{grant_id}/retirer", patient_access.revoke_grant, methods=["POST"])
router.add_api_route("/acces/consentements/{consent_id}/retirer", patient_access.withdraw_consent, methods=["POST"])
router.add_api_route("/acces/traitant", patient_access.set_traitant, methods=["POST"])
router.add_api_route("/acces/equipe/refuser", patient_access.refuse_member, methods=["POST"])
router.add_api_route("/acces/bloquer", patient_access.block, methods=["POST"])
router.add_api_route("/acces/debloquer", patient_access.unblock, methods=["POST"])
router.add_api_route("/acces/urgence", patient_access.emergency, methods=["POST"])
router.add_api_route("/espace", patient_space.switch, methods=["POST"])
router.add_api_route("/notifications/{notification_id}/lue", patient.notification_read, methods=["POST"])
router.include_router(pro.router)
router.include_router(messages.router)
router.include_router(pro_sharing.router)
router.include_router(catalogue_router)
router.include_router(space_hub_router)
router.include_router(profile_router)
router.include_router(agenda_router)
router.include_router(export_router)
router.include_router(space_pages_router)

_STATIC = {"carnet.css": "text/css; charset=utf-8"}
_WEB_PREFIXES = (
    "/documents",
    "/historique",
    "/acces",
    "/espace",
    "/messages",
    "/mon-espace",
    # the parts of the health space (issue 8): their pages' errors are HTML pages too
    "/applications",
    "/profil",
    "/mesures",
    "/vaccinations",
    "/agenda",
    "/remboursements",
    "/mon-export",
    "/notifications/",
    "/connexion",
    "/auth/callback",
    "/deconnexion",
    "/static/",
    "/pro",
)


@functools.cache
def _static(name: str) -> bytes:
    return resources.files("carnet.web").joinpath("static", name).read_bytes()


@router.get("/static/{name}")
def static(name: str) -> Response:
    """The one stylesheet (and later the page scripts): a fixed list of files, nothing read from the path."""
    if name not in _STATIC:
        raise NotFound("fichier introuvable")
    return Response(_static(name), media_type=_STATIC[name], headers={"Cache-Control": "public, max-age=3600",
                                                                      "X-Content-Type-Options": "nosniff"})  # fmt: skip


def is_web_path(path: str) -> bool:
    return path == "/" or path.startswith(_WEB_PREFIXES)


def install(app: FastAPI) -> None:
    """Sign-in redirects, and HTML error pages on web paths (the API keeps its OperationOutcome answers)."""
    app.add_exception_handler(auth.SignInRequired, auth.sign_in_redirect)  # type: ignore[arg-type]
    api_handler = app.exception_handlers.get(CarnetError)

    async def carnet_error(request: Request, exc: Exception) -> Response:
        if not is_web_path(request.url.path) or not isinstance(exc, CarnetError):
            assert api_handler is not None
            answer = api_handler(request, exc)
            return await answer if inspect.isawaitable(answer) else answer
        if isinstance(exc, Unauthenticated):
            return auth.sign_in_redirect(request, auth.SignInRequired(request.url.path))
        title = "error.forbidden" if isinstance(exc, Forbidden) else "error.not_found" if isinstance(
            exc, NotFound) else "error.title"  # fmt: skip
        return page(request, "error.html", status=exc.http_status, title_key=title, message=exc.message)

    app.add_exception_handler(CarnetError, carnet_error)

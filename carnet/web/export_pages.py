"""« Mon export » in the patient portal (own router, included by :mod:`carnet.web.routes`): ``/mon-export`` explains
what the archive holds and offers one button; the POST (with the session's CSRF token) builds the archive of the
chosen space (:func:`carnet.space.export.export`, with the actor :func:`carnet.web.patient_space.here` gives: the
holder, or a representative while the access decision lets them act) and sends it as a download.

The archive is written to a file under the data folder (``exports/``), never built in memory, streamed to the
browser and deleted once sent. The export is traced in the same transaction as its reads; a refusal (a
representative of an adult, say) is shown as a page with its reasons.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from carnet.access.model import ActorKind
from carnet.api.deps import UowDep
from carnet.space import export
from carnet.web import i18n
from carnet.web import session as web_session
from carnet.web.auth import PageCallerDep
from carnet.web.patient_space import here
from carnet.web.templating import _local, page

router = APIRouter(include_in_schema=False)

PATH = "/mon-export"
_DOWNLOAD_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
                     "Referrer-Policy": "same-origin"}  # fmt: skip


@router.get(PATH)
def export_page(request: Request, caller: PageCallerDep, uow: UowDep) -> Response:
    """What the archive holds, and the button (or why this space cannot be exported by this person)."""
    if caller.kind != ActorKind.PATIENT:
        return RedirectResponse("/", status_code=303)
    at = here(request, uow, caller)
    decision = export.export_decision(uow=uow, actor=at.actor, patient_id=at.patient_id)
    allowed = decision is not None and decision.allowed
    lang = "en" if i18n.language(request) == "en" else "fr"
    reasons = [] if allowed or decision is None else [getattr(r, lang) for r in decision.reasons]
    return page(request, "export.html", allowed=allowed, reasons=reasons, **at.context())


@router.post(PATH)
async def download(request: Request, caller: PageCallerDep) -> Response:
    """Build the chosen space's archive and send it (POST with the CSRF token)."""
    if caller.kind != ActorKind.PATIENT:
        return RedirectResponse("/", status_code=303)
    form = await request.form()
    csrf = form.get("csrf")
    if not web_session.csrf_ok(request, csrf if isinstance(csrf, str) else None):
        return page(request, "error.html", status=403, title_key="error.forbidden", message_key="error.csrf")
    platform = request.app.state.platform
    folder = Path(platform.settings.data_dir) / "exports"

    def build() -> tuple[str, str]:
        folder.mkdir(parents=True, exist_ok=True)
        handle, path = tempfile.mkstemp(prefix="export-", suffix=".zip", dir=folder)
        try:
            with os.fdopen(handle, "wb") as out, platform.uow() as uow:
                at = here(request, uow, caller)
                export.export(uow=uow, actor=at.actor, patient_id=at.patient_id, destination=out,
                              fhir_base=f"{platform.settings.public_url.rstrip('/')}/fhir")  # fmt: skip
                uow.commit()
                day = _local(uow.clock.now()).strftime("%Y-%m-%d")
        except BaseException:
            Path(path).unlink(missing_ok=True)
            raise
        return path, f"mon-espace-sante-{day}.zip"

    path, name = await run_in_threadpool(build)
    return FileResponse(path, media_type="application/zip", filename=name, headers=_DOWNLOAD_HEADERS,
                        background=BackgroundTask(Path(path).unlink, missing_ok=True))  # fmt: skip

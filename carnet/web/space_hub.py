"""« Mon espace santé » : one page that leads to everything the holder's space holds beyond the documents (health
profile, vitals, vaccinations, agenda, reimbursements, connected apps, taking one's data away, the space itself).

Each entry is shown only when its page is served by this application, so the hub never links to a page that is not
there.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.routing import Match

from carnet.access.model import ActorKind
from carnet.api.deps import UowDep
from carnet.web.auth import PageCallerDep
from carnet.web.patient_space import here
from carnet.web.templating import page

router = APIRouter(include_in_schema=False)

# (path, message key of the title, message key of the description)
ENTRIES: tuple[tuple[str, str, str], ...] = (
    ("/profil", "hub.profile", "hub.profile.text"),
    ("/mesures", "hub.vitals", "hub.vitals.text"),
    ("/vaccinations", "hub.vaccinations", "hub.vaccinations.text"),
    ("/espace/agenda", "hub.agenda", "hub.agenda.text"),
    ("/espace/remboursements", "hub.reimbursements", "hub.reimbursements.text"),
    ("/applications", "hub.apps", "hub.apps.text"),
    ("/mon-export", "hub.export", "hub.export.text"),
    ("/espace/gestion", "hub.space", "hub.space.text"),
)


def serves(request: Request, path: str) -> bool:
    """Whether this application answers ``GET path`` with a route of its own (nested routers included)."""
    scope = {"type": "http", "method": "GET", "path": path, "root_path": "", "headers": [], "query_string": b""}
    return any(route.matches(scope)[0] is Match.FULL for route in request.app.routes)


@router.get("/mon-espace")
def hub(request: Request, caller: PageCallerDep, uow: UowDep) -> Response:
    """The links to each part of the chosen space that this platform serves."""
    if caller.kind != ActorKind.PATIENT:
        return RedirectResponse("/", status_code=303)
    at = here(request, uow, caller)
    uow.commit()
    entries = [{"path": p, "title": t, "text": d} for p, t, d in ENTRIES if serves(request, p)]
    return page(request, "space_hub.html", entries=entries, **at.context())

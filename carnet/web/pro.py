"""The professionals' access: their pages live under ``/pro`` (router included by ``carnet.web.routes``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from carnet.api.deps import UowDep
from carnet.auth.claims import Caller
from carnet.web.templating import page

router = APIRouter(include_in_schema=False)


def home(request: Request, caller: Caller, uow: UowDep) -> Response:
    """The professional's home (``/`` for a professional caller)."""
    from carnet.web.patient import _display_name

    return page(request, "pro_home.html", name=_display_name(caller))

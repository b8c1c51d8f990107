"""The professionals' access: their pages live under ``/pro`` (router included by ``carnet.web.routes``)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)

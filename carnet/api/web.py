"""The web portals (carnet/web), included like the API's routers; their pages are not in the OpenAPI schema."""

from __future__ import annotations

from carnet.web.routes import install, router

__all__ = ["install", "router"]

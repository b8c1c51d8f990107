"""The FastAPI application factory: the FHIR R4 API at ``/fhir``, the development identity provider, ``/health``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from sqlalchemy import text

from carnet import __version__
from carnet.api import outcome
from carnet.api.middleware import RateLimitMiddleware, RequestIdMiddleware
from carnet.auth.devidp import DevIdentityProvider
from carnet.auth.tokens import TokenValidator, TrustedIssuer
from carnet.bootstrap import Platform, bootstrap
from carnet.settings import Settings
from carnet.storage.migrate import current_revision, head_revision


def create_app(settings: Settings, *, platform: Platform | None = None) -> FastAPI:
    """Build the web application; the platform is built (and migrated) at start-up unless given."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = platform is None
        app.state.platform = platform or bootstrap(settings)
        try:
            yield
        finally:
            if owned:
                app.state.platform.close()

    app = FastAPI(title="Carnet", version=__version__, lifespan=lifespan)
    app.state.settings = settings
    validator = TokenValidator(
        [TrustedIssuer(issuer=i.issuer, audience=i.audience, jwks_uri=i.jwks_uri, jwks=i.jwks)
         for i in settings.oidc_issuers],
        audience=settings.effective_audience,
    )  # fmt: skip
    app.state.dev_idp = None
    if settings.dev_idp_enabled:
        app.state.dev_idp = DevIdentityProvider.from_settings(settings)
        validator.add(app.state.dev_idp.trusted_issuer())
    app.state.token_validator = validator
    outcome.install(app)
    _include_routers(app)
    if settings.rate_limit_per_minute:
        app.add_middleware(RateLimitMiddleware, per_minute=settings.rate_limit_per_minute)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID", "X-Carnet-Access-Mode",
                           "X-Carnet-Justification", "If-Match", "Prefer"],
            expose_headers=["X-Request-ID", "Location", "ETag", "Retry-After"],
        )  # fmt: skip
    app.add_middleware(RequestIdMiddleware)

    @app.get("/health", tags=["ops"])
    def health(request: Request) -> JSONResponse:
        """Liveness and readiness: the database answers and its schema is current."""
        plat: Platform = request.app.state.platform
        try:
            with plat.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            revision = current_revision(plat.engine)
        except Exception as exc:  # noqa: BLE001 - health must answer, whatever broke
            return JSONResponse({"status": "unavailable", "database": str(exc).splitlines()[0]}, status_code=503)
        up_to_date = revision == head_revision()
        return JSONResponse(
            {
                "status": "ok" if up_to_date else "degraded",
                "version": __version__,
                "database": plat.engine.dialect.name,
                "schema_revision": revision,
                "schema_up_to_date": up_to_date,
            },
            status_code=200 if up_to_date else 503,
        )

    return app


def app_from_environment() -> FastAPI:
    """The application built from ``CARNET_*`` variables (``uvicorn carnet.api.app:app_from_environment --factory``,
    several workers)."""
    return create_app(Settings())


def _include_routers(app: FastAPI) -> None:
    """Every router of the API; each module owns its resource types."""
    import importlib

    for name in ROUTER_MODULES:
        module = importlib.import_module(f"carnet.api.{name}")
        app.include_router(module.router)
        if hasattr(module, "install"):  # a module may add its own exception handlers (the web portals)
            module.install(app)
    if app.state.dev_idp is not None:  # /dev-idp exists only while the development identity provider is on
        from carnet.api import devidp

        app.include_router(devidp.router)


# The modules that carry a ``router`` (added here as they are written).
ROUTER_MODULES: tuple[str, ...] = (
    "whoami",
    "metadata",
    "smart",
    "directory",
    "documents",
    "patients",
    "consents",
    "audit_events",
    "communications",
    "share",
    "patient_everything",
    "catalogue",
    "profile",
    "agenda_api",
    "space_lifecycle",
    "web",
)

"""The FastAPI application factory (the FHIR endpoints come with the API issue)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from carnet import __version__
from carnet.bootstrap import Platform, bootstrap
from carnet.errors import CarnetError
from carnet.settings import Settings
from carnet.storage.migrate import current_revision, head_revision

# FHIR R4 IssueType for each HTTP status our errors map to; Carnet's own code goes in issue.details.
_ISSUE_TYPE = {400: "invalid", 403: "forbidden", 404: "not-found", 409: "conflict", 422: "invalid", 503: "transient"}
ERROR_CODE_SYSTEM = "https://carnet.example.org/fhir/CodeSystem/carnet-error"


def operation_outcome(exc: CarnetError) -> dict[str, Any]:
    """The FHIR R4 OperationOutcome for a domain error."""
    issue: dict[str, Any] = {
        "severity": "error",
        "code": _ISSUE_TYPE.get(exc.http_status, "exception"),
        "details": {"coding": [{"system": ERROR_CODE_SYSTEM, "code": exc.code}], "text": exc.message},
        "diagnostics": exc.message,
    }
    if exc.field:
        issue["expression"] = [exc.field]
    return {"resourceType": "OperationOutcome", "issue": [issue]}


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

    @app.exception_handler(CarnetError)
    async def _carnet_error(_: Request, exc: CarnetError) -> JSONResponse:
        return JSONResponse(operation_outcome(exc), status_code=exc.http_status, media_type="application/fhir+json")

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

"""FHIR ``OperationOutcome`` for every error the API answers: the exact element, the reason, the right status.

One place maps errors to HTTP: domain errors (:mod:`carnet.errors`), request validation (FastAPI/pydantic and
fhir.resources), unknown routes and methods, and anything unexpected (logged with its request id; the answer
carries no traceback).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError as PydanticValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from carnet.errors import CarnetError, DocumentRejected, Unauthenticated

FHIR_JSON = "application/fhir+json"
ERROR_CODE_SYSTEM = "https://carnet.example.org/fhir/CodeSystem/carnet-error"
log = logging.getLogger("carnet.api")

# FHIR R4 IssueType for each HTTP status; Carnet's own code goes in issue.details.
_ISSUE_TYPE = {
    400: "invalid", 401: "login", 403: "forbidden", 404: "not-found", 405: "not-supported", 406: "not-supported",
    409: "conflict", 410: "deleted", 412: "conflict", 413: "too-costly", 415: "not-supported", 422: "processing",
    429: "throttled", 503: "transient",
}  # fmt: skip


class FhirError(CarnetError):
    """An error of the API layer itself (bad FHIR input, unsupported parameter), with its HTTP status."""

    code = "fhir_invalid"

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        field: str | None = None,
        issue_code: str | None = None,
        issues: Sequence[tuple[str, str | None]] = (),
    ) -> None:
        super().__init__(message, field=field)
        self.http_status = status
        self.issue_code = issue_code
        self.issues = list(issues)  # further (message, expression) pairs


def issue(
    message: str, *, status: int, code: str, expression: str | None = None, issue_code: str | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "severity": "error",
        "code": issue_code or _ISSUE_TYPE.get(status, "exception"),
        "details": {"coding": [{"system": ERROR_CODE_SYSTEM, "code": code}], "text": message},
        "diagnostics": message,
    }
    if expression:
        out["expression"] = [expression]
    return out


def outcome(issues: Iterable[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": list(issues)}


def operation_outcome(exc: CarnetError) -> dict[str, Any]:
    """The OperationOutcome of a domain error: one issue per problem, each with its location."""
    status = exc.http_status
    issue_code = getattr(exc, "issue_code", None)
    if isinstance(exc, DocumentRejected) and exc.problems:
        return outcome(
            issue(
                f"{p.message}",
                status=status,
                code=getattr(p, "code", exc.code),
                expression=getattr(p, "location", None),
            )  # fmt: skip
            for p in exc.problems
        )
    issues = [issue(exc.message, status=status, code=exc.code, expression=exc.field, issue_code=issue_code)]
    for message, expression in getattr(exc, "issues", []):
        issues.append(issue(message, status=status, code=exc.code, expression=expression, issue_code=issue_code))
    return outcome(issues)


def fhir_response(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=FHIR_JSON, headers=headers)


def _loc_expression(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) if parts else "request"


def validation_issues(errors: Iterable[Any], *, prefix: str = "", status: int = 400) -> list[dict[str, Any]]:
    """Pydantic / fhir.resources errors as issues: ``expression`` is the FHIRPath-like location."""
    out = []
    for error in errors:
        where = _loc_expression(error.get("loc", ()))
        expression = f"{prefix}.{where}" if prefix and where != "request" else (prefix or where)
        out.append(issue(f"{expression}: {error.get('msg', 'invalid')}", status=status, code="fhir_invalid",
                         expression=expression, issue_code="structure" if status == 400 else None))  # fmt: skip
    return out


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into an OperationOutcome."""

    @app.exception_handler(CarnetError)
    async def _carnet_error(_: Request, exc: CarnetError) -> JSONResponse:
        headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'} if isinstance(exc, Unauthenticated) else None
        return fhir_response(operation_outcome(exc), exc.http_status, headers)

    @app.exception_handler(RequestValidationError)
    async def _request_invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return fhir_response(outcome(validation_issues(exc.errors())), 400)

    @app.exception_handler(PydanticValidationError)
    async def _model_invalid(_: Request, exc: PydanticValidationError) -> JSONResponse:
        return fhir_response(outcome(validation_issues(exc.errors())), 400)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = {404: f"aucune ressource à l'adresse {request.url.path}",
                   405: f"méthode {request.method} non prise en charge sur {request.url.path}"}.get(
            exc.status_code, str(exc.detail))  # fmt: skip
        return fhir_response(outcome([issue(message, status=exc.status_code, code="http_error")]), exc.status_code,
                             dict(exc.headers or {}))  # fmt: skip

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        request_id = getattr(request.state, "request_id", None)
        log.exception("unexpected error (request %s)", request_id)
        message = f"erreur interne ; référence de la requête : {request_id}"
        return fhir_response(outcome([issue(message, status=500, code="internal_error")]), 500)

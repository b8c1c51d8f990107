"""The domain error hierarchy. Every error has a stable ``code`` documented in docs/errors.md.

    CarnetError
    ├── ValidationError            input that breaks a rule (bad matricule, bad trait, bad setting)
    │   ├── InvalidMatricule
    │   ├── InvalidTrait
    │   └── DocumentRejected       a document that cannot be deposited; ``problems`` says every reason and where
    ├── NotFound
    ├── Conflict                   the request contradicts stored state
    ├── Unauthenticated            no valid credential (missing, expired or untrusted token)
    ├── Forbidden                  the actor may not do this
    │   └── QualificationNotAllowed
    ├── InvalidTransition          an identity status change that the rules do not allow
    ├── StorageError               the database or blob store cannot be used
    │   ├── DatabaseUnavailable
    │   └── PostgresNotInstalled   (tests and benchmarks: no PostgreSQL server to start)
    └── ServiceUnavailable         an external service (INSi) cannot be reached
        └── InsiUnavailable

The API layer translates these to HTTP statuses and FHIR OperationOutcome in one handler; the CLI prints
``message`` and exits non-zero. Nothing below the API layer raises HTTP exceptions.
"""

from __future__ import annotations

from typing import Any


class CarnetError(Exception):
    """Base of every error this platform raises on purpose."""

    code = "carnet_error"
    http_status = 500

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return self.message


class ValidationError(CarnetError):
    code = "validation_error"
    http_status = 422


class InvalidMatricule(ValidationError):
    """A NIR/NIA matricule that breaks the format; ``part`` names the offending part."""

    code = "invalid_matricule"

    def __init__(self, message: str, *, part: str, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.part = part


class InvalidTrait(ValidationError):
    """An identity trait that breaks the identity-vigilance rules; ``field`` names the trait."""

    code = "invalid_trait"


class DocumentRejected(ValidationError):
    """A document refused at deposit; ``problems`` lists each reason with its location (XPath or field)."""

    code = "document_rejected"

    def __init__(self, message: str, *, problems: list[Any], field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.problems = problems


class NotFound(CarnetError):
    code = "not_found"
    http_status = 404


class Conflict(CarnetError):
    code = "conflict"
    http_status = 409


class Unauthenticated(CarnetError):
    """The caller did not prove who they are: no token, or one that is expired, forged or from an untrusted issuer."""

    code = "unauthenticated"
    http_status = 401


class Forbidden(CarnetError):
    code = "forbidden"
    http_status = 403


class QualificationNotAllowed(Forbidden):
    """The actor may not change the identity status this way (e.g. secretariat using the exception procedure)."""

    code = "qualification_not_allowed"


class InvalidTransition(CarnetError):
    code = "invalid_transition"
    http_status = 409


class StorageError(CarnetError):
    code = "storage_error"
    http_status = 503


class DatabaseUnavailable(StorageError):
    code = "database_unavailable"


class PostgresNotInstalled(StorageError):
    code = "postgres_not_installed"


class ServiceUnavailable(CarnetError):
    code = "service_unavailable"
    http_status = 503


class InsiUnavailable(ServiceUnavailable):
    code = "insi_unavailable"


ALL_ERRORS: tuple[type[CarnetError], ...] = (
    CarnetError,
    ValidationError,
    InvalidMatricule,
    InvalidTrait,
    DocumentRejected,
    NotFound,
    Conflict,
    Unauthenticated,
    Forbidden,
    QualificationNotAllowed,
    InvalidTransition,
    StorageError,
    DatabaseUnavailable,
    PostgresNotInstalled,
    ServiceUnavailable,
    InsiUnavailable,
)

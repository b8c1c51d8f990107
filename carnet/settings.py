"""One typed settings object, read from ``CARNET_*`` environment variables (or a ``.env`` file).

Tests and embedders build ``Settings(...)`` explicitly instead of mutating the environment.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Secrets that ship with the code, fine on a laptop, refused in production (the threat: a deployment
# that forgot to set its secrets and signs tokens with a key published on the Internet).
DEV_SECRET_KEY = "carnet-development-secret-key-do-not-use-in-production"


def _mask_url(url: str) -> str:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "**********"


class TrustedIssuerSetting(BaseModel):
    """An identity provider whose tokens the API accepts."""

    issuer: str
    jwks_uri: str | None = None
    jwks: dict[str, Any] | None = None
    audience: str | None = None


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class Settings(BaseSettings):
    """The platform's settings; ``carnet config`` prints the effective values, secrets masked."""

    model_config = SettingsConfigDict(
        env_prefix="CARNET_", env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    env: Environment = Environment.DEVELOPMENT
    data_dir: Path = Field(default=Path("data"), description="Folder for the SQLite database and the blobs")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default: SQLite file in data_dir")
    blob_dir: Path | None = Field(default=None, description="Content-addressed blob store; default: data_dir/blobs")
    secret_key: SecretStr = SecretStr(DEV_SECRET_KEY)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    insi_mode: str = Field(default="sandbox", pattern="^(sandbox|soap)$")
    insi_endpoint: str | None = None
    max_document_bytes: int = Field(default=20 * 1024 * 1024, gt=0)
    log_sql: bool = False
    demo_data: bool = Field(default=True, description="Load the synthetic demo population on first start")
    smtp_host: str | None = Field(default=None, description="SMTP server for notification e-mails; None: no e-mail")
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    mail_from: str = "Mon espace santé <ne-pas-repondre@carnet.localhost>"
    public_url: str = Field(default="http://127.0.0.1:8000", description="Base URL the platform is reached at")
    api_audience: str | None = Field(default=None, description="Expected token audience; default: public_url/fhir")
    oidc_issuers: list[TrustedIssuerSetting] = Field(
        default_factory=list, description="Trusted OpenID Connect issuers (JSON list of {issuer, jwks_uri|jwks})"
    )
    dev_idp: bool = Field(default=True, description="The embedded development identity provider (not in production)")
    cors_origins: list[str] = Field(default_factory=list, description="Origins allowed by CORS (JSON list)")
    rate_limit_per_minute: int = Field(default=1200, ge=0, description="Requests per client per minute; 0: none")

    @field_validator("database_url")
    @classmethod
    def _url_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("sqlite", "postgresql")):
            raise ValueError("seuls SQLite (sqlite://…) et PostgreSQL (postgresql://…) sont pris en charge")
        return value

    @model_validator(mode="after")
    def _refuse_dev_defaults_in_production(self) -> Settings:
        if self.env is Environment.PRODUCTION:
            problems = []
            if self.secret_key.get_secret_value() == DEV_SECRET_KEY or len(self.secret_key.get_secret_value()) < 32:
                problems.append("CARNET_SECRET_KEY must be set to a random value of at least 32 characters")
            if self.database_url is None or self.database_url.startswith("sqlite"):
                problems.append("CARNET_DATABASE_URL must point to PostgreSQL in production")
            if self.insi_mode == "sandbox":
                problems.append("CARNET_INSI_MODE=sandbox is for development; use the real teleservice (soap)")
            if not self.oidc_issuers:
                problems.append("CARNET_OIDC_ISSUERS must list the trusted identity providers")
            if self.dev_idp:
                problems.append("CARNET_DEV_IDP must be false in production (the development identity provider)")
            if self.demo_data:
                problems.append("CARNET_DEMO_DATA must be false in production (synthetic identities)")
            if problems:
                raise ValueError("refused in production: " + "; ".join(problems))
        return self

    def __repr_args__(self) -> Any:
        # A database URL may carry a password: never let it reach a log line through repr().
        for name, value in super().__repr_args__():
            if name == "database_url" and value:
                value = _mask_url(value)
            yield name, value

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'carnet.sqlite3').resolve()}"

    @property
    def effective_audience(self) -> str:
        return self.api_audience or f"{self.public_url.rstrip('/')}/fhir"

    @property
    def dev_idp_enabled(self) -> bool:
        """The development identity provider runs in development and tests only, never in production."""
        return self.dev_idp and self.env is not Environment.PRODUCTION

    @property
    def effective_blob_dir(self) -> Path:
        return (self.blob_dir or self.data_dir / "blobs").resolve()

    def public_view(self) -> dict[str, Any]:
        """The effective settings with secrets masked (also inside database URLs)."""
        out: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = "**********"
            elif isinstance(value, Path):
                value = str(value)
            elif isinstance(value, StrEnum):
                value = value.value
            elif isinstance(value, list):
                value = [v.model_dump(exclude_none=True) if isinstance(v, BaseModel) else v for v in value]
            out[name] = value
        out["database_url"] = _mask_url(self.effective_database_url)
        out["blob_dir"] = str(self.effective_blob_dir)
        return out

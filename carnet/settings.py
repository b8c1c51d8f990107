"""One typed settings object, read from ``CARNET_*`` environment variables (or a ``.env`` file).

Tests and embedders build ``Settings(...)`` explicitly instead of mutating the environment.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Secrets that ship with the code, fine on a laptop, refused in production (the threat: a deployment
# that forgot to set its secrets and signs tokens with a key published on the Internet).
DEV_SECRET_KEY = "carnet-development-secret-key-do-not-use-in-production"
# The messaging domain of the demo directory (carnet/directory/data/demo_directory.csv): hosted in development only.
DEMO_MSS_DOMAIN = "demo.mssante.fr"


def _mask_url(url: str) -> str:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "**********"


_DOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$")


def _domain(value: str, name: str) -> str:
    domain = value.strip().lower()
    if not _DOMAIN.match(domain):
        raise ValueError(f"{name} : nom de domaine invalide « {value} »")
    return domain


class TrustedIssuerSetting(BaseModel):
    """An identity provider whose tokens the API accepts."""

    issuer: str
    jwks_uri: str | None = None
    jwks: dict[str, Any] | None = None
    audience: str | None = None


_PROVIDER_KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


class WebSignInProvider(BaseModel):
    """An OpenID provider the portals sign people in with (``CARNET_WEB_OIDC_PROVIDERS``, docs/web.md).

    ``kind`` says whom it is for on the choice page (patients: FranceConnect-like; professionals: Pro Santé
    Connect-like). ``client_secret`` makes the portal a confidential client (``token_auth_method``, default: from the
    provider's discovery, client_secret_basic first); ``audience`` is the RFC 8707 resource asked for, so that the
    access token is for the API. The issuer must also be trusted by the API (``CARNET_OIDC_ISSUERS``).
    """

    key: str
    label_fr: str = Field(min_length=1, max_length=80)
    label_en: str = Field(min_length=1, max_length=80)
    kind: Literal["patient", "professional"] | None = None
    issuer: str
    client_id: str = Field(min_length=1, max_length=200)
    client_secret: SecretStr | None = None
    token_auth_method: Literal["client_secret_basic", "client_secret_post"] | None = None
    scopes: list[str] = Field(default_factory=lambda: ["openid", "profile"])
    audience: str | None = None

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        if not _PROVIDER_KEY.match(value):
            raise ValueError(f"clé de fournisseur invalide « {value} » (a-z, 0-9, - et _, 32 caractères au plus)")
        return value

    @field_validator("issuer")
    @classmethod
    def _issuer(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError(f"émetteur invalide « {value} » (une URL http(s))")
        return value.rstrip("/")

    @field_validator("scopes")
    @classmethod
    def _scopes(cls, value: list[str]) -> list[str]:
        if "openid" not in value or any(not s or " " in s for s in value):
            raise ValueError("scopes : une liste de scopes sans espace, dont « openid »")
        return value

    @model_validator(mode="after")
    def _auth_method(self) -> WebSignInProvider:
        if self.token_auth_method and self.client_secret is None:
            raise ValueError(f"fournisseur « {self.key} » : token_auth_method demande client_secret")
        return self


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
    web_oidc_providers: list[WebSignInProvider] = Field(
        default_factory=list,
        description="The portals' sign-in providers (JSON list of {key, label_fr, label_en, kind, issuer, client_id, "
        "client_secret, scopes, audience}); empty: the development identity provider, else the first trusted issuer",
    )
    cors_origins: list[str] = Field(default_factory=list, description="Origins allowed by CORS (JSON list)")
    rate_limit_per_minute: int = Field(default=1200, ge=0, description="Requests per client per minute; 0: none")
    # Secure messaging (MSSanté) and its SMTP gateway (docs/messaging.md).
    mss_patient_domain: str = Field(
        default="patient.mssante.fr", description="Domain of the patients' addresses <matricule INS>@<domain>"
    )
    mss_local_domains: list[str] = Field(
        default_factory=list,
        description="Domains whose professional mailboxes this platform hosts (JSON list; outside production the "
        "demo domain is added); others are external",
    )
    mss_trusted_domains: list[str] = Field(
        default_factory=list, description="Sending domains the inbound gateway accepts mail from (JSON list)"
    )
    mss_inbound_host: str = Field(default="127.0.0.1", description="Address the inbound SMTP gateway listens on")
    mss_inbound_port: int = Field(default=2525, ge=1, le=65535)
    mss_inbound_tls_cert: Path | None = Field(default=None, description="PEM certificate for STARTTLS (inbound)")
    mss_inbound_tls_key: Path | None = Field(default=None, description="PEM private key for STARTTLS (inbound)")
    mss_inbound_require_starttls: bool = Field(default=True, description="Refuse mail before STARTTLS")
    mss_max_message_bytes: int = Field(default=25 * 1024 * 1024, gt=0, description="Largest message accepted or sent")
    mss_relay_host: str | None = Field(default=None, description="SMTP relay for external domains; None: no relay")
    mss_relay_port: int = Field(default=25, ge=1, le=65535)
    mss_relay_starttls: bool = True
    mss_relay_ca_file: Path | None = Field(default=None, description="CA bundle to verify the relay (default: system)")
    mss_relay_username: str | None = None
    mss_relay_password: SecretStr | None = None
    space_retention_years: int = Field(default=10, ge=1, le=100, description="Years a closed space's documents are "
                                       "kept before the purge (docs/space.md)")  # fmt: skip

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
            if DEMO_MSS_DOMAIN in self.mss_local_domains:
                problems.append(f"CARNET_MSS_LOCAL_DOMAINS must not host the demo domain {DEMO_MSS_DOMAIN}")
            if self.mss_trusted_domains and not (self.mss_inbound_tls_cert and self.mss_inbound_tls_key):
                problems.append("CARNET_MSS_INBOUND_TLS_CERT and CARNET_MSS_INBOUND_TLS_KEY must be set: the inbound "
                                "gateway only takes mail over TLS in production")  # fmt: skip
            if self.mss_trusted_domains and not self.mss_inbound_require_starttls:
                problems.append("CARNET_MSS_INBOUND_REQUIRE_STARTTLS must be true in production")
            insecure = [p.key for p in self.web_oidc_providers if not p.issuer.startswith("https://")]
            if insecure:
                problems.append(f"CARNET_WEB_OIDC_PROVIDERS: the issuers must be https in production ({insecure})")
            if self.mss_relay_host and not self.mss_relay_starttls:
                problems.append("CARNET_MSS_RELAY_STARTTLS must be true in production (health data in clear)")
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

    @field_validator("mss_patient_domain")
    @classmethod
    def _patient_domain(cls, value: str) -> str:
        return _domain(value, "CARNET_MSS_PATIENT_DOMAIN")

    @field_validator("mss_local_domains", "mss_trusted_domains")
    @classmethod
    def _domains(cls, value: list[str]) -> list[str]:
        return [_domain(v, "domaine") for v in value]

    @model_validator(mode="after")
    def _relay_credentials(self) -> Settings:
        if self.mss_relay_password is not None and not self.mss_relay_username:
            raise ValueError("CARNET_MSS_RELAY_PASSWORD needs CARNET_MSS_RELAY_USERNAME")
        if self.mss_relay_username and not self.mss_relay_starttls:
            # The threat: the relay's password (and the mail) crossing the network in clear.
            raise ValueError("CARNET_MSS_RELAY_USERNAME needs CARNET_MSS_RELAY_STARTTLS (no password in clear)")
        return self

    @model_validator(mode="after")
    def _web_providers_are_trusted(self) -> Settings:
        keys = [p.key for p in self.web_oidc_providers]
        twice = sorted({k for k in keys if keys.count(k) > 1})
        if twice:
            raise ValueError(f"CARNET_WEB_OIDC_PROVIDERS: clés en double {twice}")
        # The API trusts only CARNET_OIDC_ISSUERS (one reviewed list, with each issuer's keys): a sign-in button
        # must never widen whose tokens the API accepts by itself, so every provider has to be listed there too.
        trusted = {i.issuer.rstrip("/"): i for i in self.oidc_issuers}
        dev = f"{self.public_url.rstrip('/')}/dev-idp" if self.dev_idp_enabled else None
        for provider in self.web_oidc_providers:
            issuer = trusted.get(provider.issuer)
            if issuer is None and provider.issuer != dev:
                raise ValueError(f"CARNET_WEB_OIDC_PROVIDERS: l'émetteur {provider.issuer} du fournisseur "
                                 f"« {provider.key} » doit aussi figurer dans CARNET_OIDC_ISSUERS")  # fmt: skip
            expected = (issuer.audience if issuer else None) or self.effective_audience
            if provider.audience is not None and provider.audience != expected:
                raise ValueError(f"CARNET_WEB_OIDC_PROVIDERS: le fournisseur « {provider.key} » demande l'audience "
                                 f"{provider.audience}, mais l'API attend {expected} de cet émetteur")  # fmt: skip
        return self

    @property
    def mss_hosted_domains(self) -> frozenset[str]:
        """Every domain whose mailboxes are hosted here: the local domains, the patients' domain and, outside
        production, the demo directory's domain."""
        demo = {DEMO_MSS_DOMAIN} if self.env is not Environment.PRODUCTION else set()
        return frozenset({*self.mss_local_domains, self.mss_patient_domain, *demo})

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
                # mode="json": the secrets inside (a sign-in provider's client_secret) come out as "**********".
                value = [v.model_dump(mode="json", exclude_none=True) if isinstance(v, BaseModel) else v for v in value]
            out[name] = value
        out["database_url"] = _mask_url(self.effective_database_url)
        out["blob_dir"] = str(self.effective_blob_dir)
        return out

"""The demo users and clients of the development identity provider.

The people match the demo data: the professionals are those of the demo directory
(``carnet/directory/data/demo_directory.csv``: "8" + RPPS-like ids of the test range ``8997…``), the patients are
sandbox INSi identities that :func:`carnet.demo.load_demo` qualifies, and the representative is the parent of a
demo child. The clients are the registered OAuth clients: ``carnet-web`` (public, authorization code with PKCE),
``demo-lgc`` (a practice software: authorization code for its professionals, client credentials for itself) and
``demo-app`` (a SMART on FHIR app bound to one patient). Their secrets are published here: development only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from carnet.auth.devidp import app_claims, patient_claims, professional_claims

INS_OID_TEST = "1.2.250.1.213.1.4.10"  # INS-NIR of the test range, as in the INSi sandbox


@dataclass(frozen=True, slots=True)
class DemoProfessional:
    """A health professional (or a secretariat member, ``amr`` ``cpe`` with ``acting_for``)."""

    national_id: str
    given_name: str
    family_name: str
    profession: str | None
    specialty: str | None = None
    organisation_id: str | None = None
    organisation_name: str | None = None
    amr: str = "cps"
    acting_for: str | None = None
    title: str = ""

    @property
    def key(self) -> str:
        return f"pro:{self.national_id}"

    @property
    def display_name(self) -> str:
        return " ".join(part for part in (self.title, self.given_name, self.family_name) if part)

    def claims(self) -> dict[str, Any]:
        return professional_claims(
            self.national_id, profession=self.profession, given_name=self.given_name, family_name=self.family_name,
            specialty=self.specialty, organisation_id=self.organisation_id,
            organisation_name=self.organisation_name, amr=self.amr, acting_for=self.acting_for,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class DemoPatient:
    """A holder signed in through FranceConnect; ``represents`` lists the INS of the people they represent."""

    ins: str
    given_name: str
    family_name: str
    birth_date: str
    represents: tuple[str, ...] = ()
    oid: str = INS_OID_TEST

    @property
    def key(self) -> str:
        return f"patient:{self.ins}"

    @property
    def display_name(self) -> str:
        return f"{self.given_name} {self.family_name}"

    def claims(self) -> dict[str, Any]:
        return patient_claims(self.ins, ins_oid=self.oid, given_name=self.given_name, family_name=self.family_name,
                              represents=[{"ins": ins, "oid": self.oid} for ins in self.represents])  # fmt: skip


DemoUser = DemoProfessional | DemoPatient

_MSP = ("1519990044", "Maison de santé des Trois Fontaines")
_CH = ("1519990028", "Centre hospitalier de démonstration de Reims")
_PHARMACY = ("1519990036", "Pharmacie de la Cathédrale")

PROFESSIONALS: tuple[DemoProfessional, ...] = (
    DemoProfessional("899700000001", "Paul", "MARTIN", "10", "SM54", *_MSP, title="Dr"),
    DemoProfessional("899700000002", "Sophie", "LEROY", "10", "SM26", *_CH, amr="e-cps", title="Dr"),
    DemoProfessional("899700000061", "Léa", "FAURE", "60", None, *_CH),
    DemoProfessional("899700000021", "Lucas", "BERNARD", "21", None, *_PHARMACY),
    DemoProfessional("899700000050", "Camille", "DUBOIS", "50", None, *_MSP),
    DemoProfessional("899700000070", "Hugo", "GARNIER", "70", None, *_MSP),
)
# Secretariat staff sign in with a CPE card and act for a professional of their practice.
SECRETARIAT: tuple[DemoProfessional, ...] = (
    DemoProfessional("0899700101", "Nadia", "SECRET", None, None, *_MSP, amr="cpe", acting_for="899700000001"),
)
# Sandbox INSi identities that the demo qualifies (see carnet/demo.py); Arthur MOREAU is Mathis's father.
PATIENTS: tuple[DemoPatient, ...] = (
    DemoPatient("279035121518989", "Dominique", "PAT-TROIS", "1979-03-28"),
    DemoPatient("277076322082910", "Ruth", "NESSI", "1977-07-14"),
    DemoPatient("270072A00496330", "Chloé", "DUPONT--DURAND", "1970-07-17"),
)
REPRESENTATIVES: tuple[DemoPatient, ...] = (
    DemoPatient("174013523855420", "Arthur", "MOREAU", "1974-01-09", represents=("117069912729402",)),
)
REPRESENTED: dict[str, str] = {"117069912729402": "Mathis MOREAU (né en 2017)"}


def all_users() -> tuple[DemoUser, ...]:
    return (*PROFESSIONALS, *SECRETARIAT, *PATIENTS, *REPRESENTATIVES)


def user_by_key(key: str) -> DemoUser | None:
    return next((user for user in all_users() if user.key == key), None)


def professional(national_id: str) -> DemoProfessional | None:
    return next((p for p in (*PROFESSIONALS, *SECRETARIAT) if p.national_id == national_id), None)


def patient(ins: str) -> DemoPatient | None:
    return next((p for p in (*PATIENTS, *REPRESENTATIVES) if p.ins == ins), None)


# --- clients ---------------------------------------------------------------------------------------------------


class ClientKind(StrEnum):
    PUBLIC = "public"  # no secret: authorization code with PKCE only
    CONFIDENTIAL = "confidential"  # a secret: client_secret_basic or client_secret_post


class TokenSubject(StrEnum):
    USER = "user"  # the access token names the signed-in person (professional or patient claims)
    APP = "app"  # the access token names the app (client_id, scope, patient: SMART on FHIR)


OIDC_SCOPES = ("openid", "profile", "fhirUser", "launch/patient", "offline_access")
SMART_PATIENT_SCOPES = ("patient/*.rs", "patient/DocumentReference.rs", "patient/DocumentReference.cruds",
                        "patient/Binary.r", "patient/Patient.r", "patient/Consent.rs",
                        "patient/AuditEvent.rs")  # fmt: skip
SMART_SYSTEM_SCOPES = ("system/*.rs", "system/DocumentReference.cruds", "system/Binary.r", "system/Patient.rs",
                       "system/Practitioner.rs", "system/PractitionerRole.rs")  # fmt: skip
SMART_USER_SCOPES = ("user/*.rs", "user/*.cruds")


@dataclass(frozen=True, slots=True)
class DevClient:
    """An OAuth client registered with the development identity provider."""

    client_id: str
    name: str
    kind: ClientKind
    grant_types: frozenset[str]
    scopes: frozenset[str]
    token_subject: TokenSubject = TokenSubject.USER
    secret: str | None = None
    # Exact redirect URIs; "{public_url}" is replaced by the platform's public URL.
    redirect_uris: tuple[str, ...] = ()
    # Loopback redirect URIs (RFC 8252 §7.3): http://127.0.0.1 or http://localhost, any port, these paths.
    loopback_paths: tuple[str, ...] = ()
    patient_ins: str | None = None  # the holder a SMART app's client-credentials token is bound to
    users: frozenset[str] = field(default_factory=lambda: frozenset({"professional", "patient"}))

    def allows_redirect(self, redirect_uri: str, public_url: str) -> bool:
        exact = {uri.replace("{public_url}", public_url.rstrip("/")) for uri in self.redirect_uris}
        if redirect_uri in exact:
            return True
        if not self.loopback_paths:
            return False
        try:
            parts = urlsplit(redirect_uri)
            port = parts.port
        except ValueError:
            return False
        return (
            parts.scheme == "http"
            and parts.hostname in ("127.0.0.1", "localhost", "::1")
            and (port is None or 0 < port < 65536)
            and parts.path in self.loopback_paths
            and not parts.fragment
            and not parts.username
            and not parts.password
        )


CLIENTS: tuple[DevClient, ...] = (
    DevClient(
        client_id="carnet-web",
        name="Portail Carnet (application web)",
        kind=ClientKind.PUBLIC,
        grant_types=frozenset({"authorization_code"}),
        scopes=frozenset({*OIDC_SCOPES, *SMART_USER_SCOPES, *SMART_PATIENT_SCOPES}),
        redirect_uris=("{public_url}/auth/callback",),
        loopback_paths=("/callback", "/auth/callback"),
    ),
    DevClient(
        client_id="demo-lgc",
        name="Logiciel de cabinet de démonstration",
        kind=ClientKind.CONFIDENTIAL,
        secret="demo-lgc-secret",
        grant_types=frozenset({"authorization_code", "client_credentials"}),
        scopes=frozenset({*OIDC_SCOPES, *SMART_USER_SCOPES, *SMART_SYSTEM_SCOPES}),
        redirect_uris=("{public_url}/auth/callback",),
        loopback_paths=("/callback",),
        users=frozenset({"professional"}),
    ),
    DevClient(
        client_id="demo-app",
        name="Application de santé de démonstration (SMART on FHIR)",
        kind=ClientKind.CONFIDENTIAL,
        secret="demo-app-secret",
        grant_types=frozenset({"authorization_code", "client_credentials"}),
        scopes=frozenset({*OIDC_SCOPES, *SMART_PATIENT_SCOPES}),
        token_subject=TokenSubject.APP,
        redirect_uris=("{public_url}/auth/callback",),
        loopback_paths=("/callback",),
        patient_ins=PATIENTS[0].ins,
        users=frozenset({"patient"}),
    ),
)

_SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5B\x5D-\x7E]+$")  # RFC 6749 §3.3 scope-token


def is_resource_scope(scope: str) -> bool:
    """A SMART on FHIR scope on FHIR resources (``patient/…``, ``user/…``, ``system/…``), not an OpenID one."""
    return scope.startswith(("patient/", "user/", "system/"))


def client(client_id: str) -> DevClient | None:
    return next((c for c in CLIENTS if c.client_id == client_id), None)


def parse_scopes(raw: str | None) -> list[str] | None:
    """The scope tokens of a ``scope`` parameter, in order, without duplicates; None when malformed."""
    tokens: list[str] = []
    for token in (raw or "").split(" "):
        if not token:
            continue
        if not _SCOPE_TOKEN.match(token):
            return None
        if token not in tokens:
            tokens.append(token)
    return tokens


def credentials_scopes(app: DevClient, requested: list[str]) -> list[str]:
    """The scopes of a client-credentials token: those requested, or all the client may have.

    The client acts for itself, so only ``patient/`` (bound to its holder) and ``system/`` scopes count: there is
    no signed-in user for ``user/`` scopes, and no OpenID scope applies.
    """
    allowed = sorted(s for s in app.scopes if s.startswith(("patient/", "system/")))
    refused = [s for s in requested if s not in allowed]
    if refused:
        raise ValueError(f"portées non autorisées pour ce client : {' '.join(refused)}")
    return requested or allowed


def app_token_claims(app: DevClient, scopes: list[str], patient_ins: str | None = None) -> dict[str, Any]:
    """The claims of an app token: ``client_id``, ``scope`` and the holder it acts for (SMART on FHIR)."""
    claims = app_claims(app.client_id, scopes=scopes, patient_ins=patient_ins or app.patient_ins)
    claims["client_name"] = app.name
    return claims

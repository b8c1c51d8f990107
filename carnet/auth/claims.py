"""Who is calling, read from the verified claims of a bearer token (docs/api-auth.md lists every claim).

- A **professional** token carries the Pro Santé Connect claims: ``SubjectNameID`` (the national id, ``8`` +
  RPPS or ``0`` + ADELI), ``given_name``/``family_name``, ``SubjectRefPro.exercices[0]`` with
  ``codeProfession`` (TRE_G15), ``codeSavoirFaire`` (specialty) and ``activities[0]`` (organisation), and
  ``amr`` saying how the person authenticated: ``cps``, ``e-cps`` or ``cpe`` (secretariat staff, who also carry
  ``acting_for``, the national id of the professional they work for).
- A **patient** token carries the holder's INS (``ins``, ``ins_oid``), mapped from the FranceConnect login, and
  ``represents``: the INS of the people they legally represent.
- An **app** token (client credentials, SMART on FHIR) carries ``client_id`` and ``scope``; ``patient`` names the
  INS of the holder the app acts for (its grant in the holder's directory of grants bounds it).
- An **operator** token carries ``carnet_role: operator`` (audit only).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from carnet.access.model import ActorKind, AuthMethod
from carnet.errors import Unauthenticated

NATIONAL_ID = re.compile(r"^[08][0-9A-Za-z]{8,20}$")
_AMR = {"cps": AuthMethod.CPS, "e-cps": AuthMethod.E_CPS, "ecps": AuthMethod.E_CPS, "cpe": AuthMethod.CPE}


@dataclass(frozen=True, slots=True, kw_only=True)
class Caller:
    """The authenticated caller of one request, before it is tied to a patient record."""

    kind: ActorKind
    subject: str  # national id (professional), INS (patient), client id (app), sub (operator)
    auth_method: AuthMethod
    issuer: str
    token_id: str | None = None
    name: str | None = None
    profession: str | None = None
    specialty: str | None = None
    organisation_id: str | None = None
    organisation_name: str | None = None
    acting_for: str | None = None
    ins: str | None = None
    represents_ins: tuple[str, ...] = ()
    scopes: frozenset[str] = frozenset()
    client_id: str | None = None


def _text(claims: dict[str, Any], name: str) -> str | None:
    value = claims.get(name)
    return value.strip() if isinstance(value, str) and value.strip() else None


def _amr(claims: dict[str, Any]) -> list[str]:
    value = claims.get("amr", [])
    if isinstance(value, str):
        value = [value]
    return [str(v).lower() for v in value] if isinstance(value, list) else []


def _scopes(claims: dict[str, Any]) -> frozenset[str]:
    value = claims.get("scope", claims.get("scp", ""))
    if isinstance(value, list):
        return frozenset(str(v) for v in value)
    return frozenset(str(value).split())


def caller_from_claims(claims: dict[str, Any]) -> Caller:
    """The caller the claims describe; a token that describes nobody usable is refused."""
    issuer = str(claims.get("iss", ""))
    token_id = _text(claims, "jti")
    if _text(claims, "SubjectNameID"):
        return _professional(claims, issuer, token_id)
    if _text(claims, "ins"):
        return _patient(claims, issuer, token_id)
    if claims.get("carnet_role") == "operator":
        return Caller(kind=ActorKind.OPERATOR, subject=str(claims["sub"]), auth_method=AuthMethod.PRO_SANTE_CONNECT,
                      issuer=issuer, token_id=token_id, name=_text(claims, "name"))  # fmt: skip
    client_id = _text(claims, "client_id") or _text(claims, "azp")
    if client_id and _scopes(claims):
        return Caller(kind=ActorKind.APP, subject=client_id, auth_method=AuthMethod.APP_TOKEN, issuer=issuer,
                      token_id=token_id, client_id=client_id, scopes=_scopes(claims), ins=_text(claims, "patient"),
                      name=_text(claims, "client_name") or client_id)  # fmt: skip
    raise Unauthenticated("le jeton ne désigne ni un professionnel, ni un patient, ni une application")


def _professional(claims: dict[str, Any], issuer: str, token_id: str | None) -> Caller:
    national_id = str(claims["SubjectNameID"]).strip()
    if not NATIONAL_ID.match(national_id):
        raise Unauthenticated(f"identifiant national invalide (SubjectNameID={national_id!r}): 8+RPPS ou 0+ADELI")
    methods = [_AMR[m] for m in _amr(claims) if m in _AMR]
    if not methods:
        raise Unauthenticated("mode d'authentification absent (amr: cps, e-cps ou cpe)")
    method = methods[0]
    exercise: dict[str, Any] = {}
    activity: dict[str, Any] = {}
    ref = claims.get("SubjectRefPro")
    if isinstance(ref, dict) and isinstance(ref.get("exercices"), list) and ref["exercices"]:
        exercise = ref["exercices"][0] if isinstance(ref["exercices"][0], dict) else {}
        activities = exercise.get("activities")
        if isinstance(activities, list) and activities and isinstance(activities[0], dict):
            activity = activities[0]
    given, family = _text(claims, "given_name"), _text(claims, "family_name")
    name = " ".join(part for part in (given, family) if part) or _text(claims, "name")
    common: dict[str, Any] = dict(
        subject=national_id, issuer=issuer, token_id=token_id, name=name,
        organisation_id=_text(activity, "identifiantStructure"), organisation_name=_text(activity, "raisonSocialeSite"),
    )  # fmt: skip
    if method == AuthMethod.CPE:
        acting_for = _text(claims, "acting_for")
        if not acting_for:
            raise Unauthenticated("un jeton CPE doit nommer le professionnel pour qui la personne agit (acting_for)")
        return Caller(kind=ActorKind.SECRETARIAT, auth_method=method, acting_for=acting_for, **common)
    profession = _text(exercise, "codeProfession")
    if not profession:
        raise Unauthenticated("profession absente (SubjectRefPro.exercices[0].codeProfession)")
    return Caller(kind=ActorKind.PROFESSIONAL, auth_method=method, profession=profession,
                  specialty=_text(exercise, "codeSavoirFaire"), **common)  # fmt: skip


def _patient(claims: dict[str, Any], issuer: str, token_id: str | None) -> Caller:
    represents: list[str] = []
    for item in claims.get("represents") or []:
        value = item.get("ins") if isinstance(item, dict) else item
        if isinstance(value, str) and value.strip():
            represents.append(value.strip())
    given, family = _text(claims, "given_name"), _text(claims, "family_name")
    return Caller(kind=ActorKind.PATIENT, subject=str(claims["ins"]).strip(), auth_method=AuthMethod.FRANCE_CONNECT,
                  issuer=issuer, token_id=token_id, ins=str(claims["ins"]).strip(), represents_ins=tuple(represents),
                  name=" ".join(p for p in (given, family) if p) or None)  # fmt: skip

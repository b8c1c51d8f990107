"""The catalogue of referenced apps: data categories, the commission's checklist, the referencing workflow's states,
and the reading of an app's OAuth scopes as data categories. Plain values and pure functions, no I/O.

Data categories (one list, :data:`CATEGORIES`): the record's document classes (JDV_J06-XdsClassCode-CISIS, TRE_A03
codes and labels as in ``reference/nos/JDV_J06_XdsClassCode_CISIS.csv``) and the space's own categories (health
profile, vitals, vaccinations, agenda, reimbursements). A convention grants some of them; the holder's connection
becomes a grant (``carnet.access``) whose class codes are these category codes, so the access decision bounds the
app to them.

The workflow (docs/catalogue.md)::

    applied ──review──▶ reviewed ──sign──▶ referenced ──withdraw──▶ withdrawn
       │                   │  ▲                │
       └──────refuse───────┴──┘ (re-review)    └── convention ends: no new connection, tokens refused
                     ▼
                  refused
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import re
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from urllib.parse import urlsplit

__all__ = [
    "CATEGORIES",
    "CLASS_SYSTEM",
    "DOCUMENT_CODES",
    "STATUS_LABELS",
    "Assessment",
    "Category",
    "Criterion",
    "Opinion",
    "Role",
    "ScopeRequest",
    "Status",
    "category",
    "category_label",
    "consent_scopes",
    "criteria",
    "months_later",
    "ordered",
    "parse_scopes",
    "read_scopes",
    "redirect_uri_problem",
]

# TRE_A03-ClasseDocument, the code system of the JDV_J06 class codes (reference/nos/JDV_J06_XdsClassCode_CISIS.csv).
CLASS_SYSTEM = "https://mos.esante.gouv.fr/NOS/TRE_A03-ClasseDocument/FHIR/TRE-A03-ClasseDocument"
CLASS_OID = "1.2.250.1.213.1.1.4.1"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"


class Status(StrEnum):
    """Where an app stands in the referencing workflow."""

    APPLIED = "applied"  # the publisher's application is filed
    REVIEWED = "reviewed"  # the commission gave its opinion
    REFERENCED = "referenced"  # the operator signed the convention: in the catalogue
    REFUSED = "refused"  # the operator refused the referencing
    WITHDRAWN = "withdrawn"  # referencing withdrawn: every access ended


STATUS_LABELS = {
    Status.APPLIED: ("candidature déposée", "application filed"),
    Status.REVIEWED: ("avis de la commission rendu", "commission's opinion given"),
    Status.REFERENCED: ("référencée", "referenced"),
    Status.REFUSED: ("référencement refusé", "referencing refused"),
    Status.WITHDRAWN: ("référencement retiré", "referencing withdrawn"),
}


class Role(StrEnum):
    """Who acts in the referencing workflow (docs/catalogue.md, "Roles")."""

    APPLICANT = "applicant"  # the publisher's account
    COMMISSION = "commission"  # a member of the referencing commission
    OPERATOR = "operator"  # the platform operator, who signs or refuses the convention and withdraws


class Opinion(StrEnum):
    FAVOURABLE = "favourable"
    UNFAVOURABLE = "unfavourable"


@dataclass(frozen=True, slots=True)
class Category:
    """A data category an app may be granted: ``code`` is a J06 class code or a space category."""

    code: str
    kind: str  # "document" (a J06 class of the record) or "space"
    fr: str
    en: str
    scopes: tuple[str, ...]  # the SMART on FHIR scopes (read) that stand for it on the consent screen

    def label(self, lang: str = "fr") -> str:
        return self.en if lang == "en" else self.fr


def _document(code: str, fr: str, en: str) -> Category:
    return Category(code, "document", fr, en, (f"patient/DocumentReference.rs?category={CLASS_SYSTEM}|{code}",))


# The one list of data categories. Document labels are JDV_J06's (French) exactly; a unit test checks them against
# reference/nos/JDV_J06_XdsClassCode_CISIS.csv.
CATEGORIES: tuple[Category, ...] = (
    _document("10", "Compte rendu", "Report"),
    _document("11", "Synthèse", "Summary"),
    _document("31", "Imagerie médicale", "Medical imaging"),
    _document("42", "Prescription", "Prescription"),
    _document("43", "Dispensation", "Dispensation"),
    _document("44", "Plan de soins, protocole de soins", "Care plan, care protocol"),
    _document("45", "Traitement administré", "Administered treatment"),
    _document("52", "Certificat, déclaration", "Certificate, declaration"),
    _document("60", "Données de remboursement", "Reimbursement data"),
    _document("90", "Autres documents déposés par le patient", "Other documents deposited by the patient"),
    Category("profile", "space", "Profil médical (questionnaire de santé, allergies)",
             "Health profile (questionnaire, allergies)",
             ("patient/QuestionnaireResponse.rs", "patient/AllergyIntolerance.rs")),
    Category("vitals", "space", "Constantes de santé", "Vital signs",
             (f"patient/Observation.rs?category={OBSERVATION_CATEGORY}|vital-signs",)),
    Category("vaccinations", "space", "Vaccinations", "Vaccinations", ("patient/Immunization.rs",)),
    Category("agenda", "space", "Agenda", "Agenda", ("patient/Appointment.rs",)),
    Category("reimbursements", "space", "Remboursements", "Reimbursements", ("patient/ExplanationOfBenefit.rs",)),
)  # fmt: skip
_BY_CODE = {c.code: c for c in CATEGORIES}
DOCUMENT_CODES = frozenset(c.code for c in CATEGORIES if c.kind == "document")


def category(code: str) -> Category | None:
    """The category of ``code``, or None."""
    return _BY_CODE.get(code)


def category_label(code: str, lang: str = "fr") -> str:
    """The label of a category code (a J06 class or a space category, with or without the access decision's
    ``space:`` namespace); the code itself when unknown."""
    found = _BY_CODE.get(code) or _BY_CODE.get(code.removeprefix("space:"))
    if found is None and code.startswith("space:"):
        from carnet.access.matrix import SPACE_CATEGORIES

        labels = SPACE_CATEGORIES.get(code)
        if labels is None:
            return code
        text = labels[0] if lang == "fr" else labels[1]  # as in a sentence: "les allergies", "the allergies"
        text = text.split(" ", 1)[1] if text.startswith(("les ", "le ", "la ", "the ")) else text.removeprefix("l'")
        return text[:1].upper() + text[1:]
    return found.label(lang) if found else code


def ordered(codes: frozenset[str] | set[str] | list[str]) -> list[str]:
    """Category codes in the order of :data:`CATEGORIES` (unknown codes last, sorted)."""
    known = [c.code for c in CATEGORIES if c.code in codes]
    return known + sorted(set(codes) - set(known))


# --- the commission's checklist ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Criterion:
    """One criterion of the referencing checklist (``carnet/catalogue/data/criteria.csv``)."""

    id: str
    domain: str  # interoperability | security | ethics | quality | accessibility
    mandatory: bool  # a favourable opinion needs every mandatory criterion met
    fr: str
    en: str
    source: str


@functools.cache
def criteria() -> tuple[Criterion, ...]:
    """The checklist the commission reviews every application against, as shipped data (reviewable as a table)."""
    text = resources.files("carnet.catalogue").joinpath("data", "criteria.csv").read_text(encoding="utf-8")
    rows = [row for row in csv.DictReader(text.splitlines()) if row.get("id")]
    return tuple(Criterion(r["id"].strip(), r["domain"].strip(), r["mandatory"].strip() == "yes", r["fr"].strip(),
                           r["en"].strip(), r["source"].strip()) for r in rows)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Assessment:
    """The commission's finding on one criterion: met or not, and why."""

    criterion: str
    met: bool
    comment: str


# --- an application's input rules ------------------------------------------------------------------------------

_LOOPBACK = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})


def redirect_uri_problem(uri: str) -> str | None:
    """Why ``uri`` cannot be a registered redirect URI (RFC 6749 §3.1.2, OAuth 2.0 for native apps), or None:
    absolute, https (http only on the loopback interface), no fragment, no user information."""
    if len(uri) > 500:
        return "adresse de retour trop longue (500 caractères au plus)"
    try:
        parts = urlsplit(uri)
        host = parts.hostname
    except ValueError:
        return f"adresse de retour illisible : {uri[:80]}"
    if parts.scheme not in ("https", "http") or not parts.netloc or not host:
        return f"adresse de retour non absolue ou d'un schéma autre que https : {uri[:80]}"
    if parts.scheme == "http" and host not in _LOOPBACK:
        return f"adresse de retour en http hors de la boucle locale (127.0.0.1) : {uri[:80]}"
    if parts.fragment or "#" in uri:
        return f"adresse de retour avec un fragment (#) : {uri[:80]}"
    if parts.username or parts.password:
        return f"adresse de retour avec identifiant ou mot de passe : {uri[:80]}"
    return None


# --- scopes ------------------------------------------------------------------------------------------------------

_SCOPE = re.compile(r"^patient/([A-Z][A-Za-z]+)\.([a-z*]+)(?:\?category=([^\s&]+))?$")
_READ_PERMISSIONS = frozenset({"r", "s", "rs", "read"})
CONTEXT_SCOPES = frozenset({"launch/patient"})
# Resource types and the space category each stands for (the document classes are named by ``category=``).
_RESOURCE_CATEGORY = {
    "QuestionnaireResponse": "profile",
    "AllergyIntolerance": "profile",
    "Observation": "vitals",
    "Immunization": "vaccinations",
    "Appointment": "agenda",
    "ExplanationOfBenefit": "reimbursements",
}
# The coarse scopes a token carries for each kind of category (carnet.auth.scopes checks them at each call; the
# grant's categories bound the app further in the access decision).
_TOKEN_SCOPES = {
    "document": ("patient/DocumentReference.rs", "patient/Binary.r"),
    "profile": ("patient/QuestionnaireResponse.rs", "patient/AllergyIntolerance.rs"),
    "vitals": ("patient/Observation.rs",),
    "vaccinations": ("patient/Immunization.rs",),
    "agenda": ("patient/Appointment.rs",),
    "reimbursements": ("patient/ExplanationOfBenefit.rs",),
}


@dataclass(frozen=True, slots=True)
class ScopeRequest:
    """What an authorization request asks for: the categories, or why it cannot be granted."""

    categories: frozenset[str]
    error: str | None = None  # invalid_scope
    description: str | None = None
    beyond: frozenset[str] = frozenset()  # categories asked for that the convention does not grant


def _class_of(value: str) -> str | None:
    system, bar, code = value.rpartition("|")
    if bar and system not in (CLASS_SYSTEM, f"urn:oid:{CLASS_OID}"):
        return None
    return code if code in DOCUMENT_CODES else None


def parse_scopes(scope: str | None, convention: frozenset[str]) -> ScopeRequest:
    """The categories a SMART ``scope`` parameter asks for, checked against the convention's categories.

    No scope (or only ``launch/patient``) asks for every category of the convention. ``patient/DocumentReference.rs``
    without ``category`` asks for every document class of the convention; ``?category=<TRE_A03>|<code>`` for one.
    ``patient/Patient.r`` and ``patient/Binary.r`` add no category (the patient in context; the content of the
    documents granted). Conventions grant reading only: a write permission is refused.
    """
    words = (scope or "").split()
    asked: set[str] = set()
    named = False
    for word in words:
        if word in CONTEXT_SCOPES:
            continue
        match = _SCOPE.match(word)
        if match is None:
            return ScopeRequest(frozenset(), "invalid_scope", f"portée non prise en charge : « {word[:120]} »")
        resource, permission, query = match.groups()
        if permission not in _READ_PERMISSIONS:
            why = "une application référencée lit les données que le titulaire lui ouvre, elle ne les modifie pas"
            return ScopeRequest(frozenset(), "invalid_scope", f"portée « {word[:120]} » : {why} (.rs)")
        if resource in ("Patient", "Binary") and query is None:
            continue
        named = True
        if resource == "DocumentReference":
            if query is None:
                documents = {c for c in convention if c in DOCUMENT_CODES}
                asked |= documents or {"10"}  # no class in the convention: the request goes beyond it
                continue
            code = _class_of(query)
            if code is None:
                return ScopeRequest(frozenset(), "invalid_scope", f"catégorie de document inconnue (JDV_J06) : "
                                    f"« {query[:120]} »")  # fmt: skip
            asked.add(code)
        elif resource in _RESOURCE_CATEGORY and (query is None or (resource == "Observation" and query in (
                "vital-signs", f"{OBSERVATION_CATEGORY}|vital-signs"))):  # fmt: skip
            asked.add(_RESOURCE_CATEGORY[resource])
        else:
            return ScopeRequest(frozenset(), "invalid_scope", f"portée non prise en charge : « {word[:120]} »")
    if not named:
        asked = set(convention)
    beyond = frozenset(asked - convention)
    if beyond:
        labels = ", ".join(category_label(c) for c in ordered(beyond))
        return ScopeRequest(frozenset(asked), "invalid_scope", "catégories de données hors de la convention de "
                            f"l'application : {labels}", beyond)  # fmt: skip
    if not asked:
        return ScopeRequest(frozenset(), "invalid_scope", "aucune catégorie de données demandée")
    return ScopeRequest(frozenset(asked))


def read_scopes(categories: frozenset[str]) -> list[str]:
    """The scopes of an app token for these categories: the patient in context, then each category's resources."""
    out = ["launch/patient", "patient/Patient.r"]
    for code in ordered(categories):
        found = _BY_CODE.get(code)
        if found is None:
            continue
        for scope in _TOKEN_SCOPES["document" if found.kind == "document" else code]:
            if scope not in out:
                out.append(scope)
    return out


def consent_scopes(categories: frozenset[str]) -> list[str]:
    """The SMART scopes (granular, v2) that stand for these categories on the consent screen."""
    out: list[str] = []
    for code in ordered(categories):
        found = _BY_CODE.get(code)
        if found is not None:
            out.extend(found.scopes)
    return out


def months_later(start: dt.datetime, months: int) -> dt.datetime:
    """``start`` plus ``months`` calendar months (the last day of a shorter month)."""
    import calendar

    month = start.month - 1 + months
    year, month = start.year + month // 12, month % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day)

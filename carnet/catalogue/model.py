"""The catalogue of referenced apps: data categories, the commission's checklist, the referencing workflow's states,
and the reading of an app's OAuth scopes as data categories. Plain values and pure functions, no I/O.

Data categories (one list, :data:`CATEGORIES`): the record's document classes (JDV_J06-XdsClassCode-CISIS, TRE_A03
codes and labels as in ``reference/nos/JDV_J06_XdsClassCode_CISIS.csv``) and the space's own categories (health
profile, vitals, vaccinations, agenda, reimbursements). A convention grants some of them; the holder's connection
becomes a grant (``carnet.access``) whose class codes are these category codes, so the access decision bounds the
app to them.

Feed categories (:data:`FEEDS`): the space's categories an app may **add to** (vitals, vaccinations, allergies,
agenda), granted by a convention separately from the categories it reads. The holder's connection makes them a
second grant that writes only (``can_read=False``), so an app feeds exactly what its convention and the holder
allow, and reads only what it reads. Documents are never fed by apps here; the health questionnaire is the
holder's alone; reimbursements come from the insurer.

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
    "FEEDS",
    "FEED_CODES",
    "STATUS_LABELS",
    "Assessment",
    "Category",
    "Criterion",
    "Feed",
    "Opinion",
    "Role",
    "ScopeRequest",
    "Status",
    "category",
    "category_label",
    "consent_scopes",
    "consent_feed_scopes",
    "criteria",
    "feed_problem",
    "months_later",
    "ordered",
    "parse_scopes",
    "read_scopes",
    "redirect_uri_problem",
    "token_scopes",
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


@dataclass(frozen=True, slots=True)
class Feed:
    """A category of the space an app may feed (add to), with the FHIR resource it creates.

    ``scope`` stands for it on the consent screen (SMART v2, granular); ``token_scope`` is the coarse scope its
    token carries (``carnet.auth.scopes.require_scope`` checks it on the create; the write grant bounds it further).
    """

    code: str  # a class code of the grants (carnet.access.model.GRANT_ALIASES maps it to its space: code)
    resource: str
    fr: str
    en: str
    scope: str
    token_scope: str

    def label(self, lang: str = "fr") -> str:
        return self.en if lang == "en" else self.fr


# The space's categories whose services accept an app's write under a write grant (carnet/space/profile.py:
# vitals, vaccinations, allergies; carnet/space/agenda.py: the agenda, never in the past, and the app cancels the
# events it added: ``.u``). Not fed by apps: the
# record's documents (deposits by apps are out of scope), the health questionnaire (the holder's alone), the
# reimbursements (the insurer's feed).
FEEDS: tuple[Feed, ...] = (
    Feed("vitals", "Observation", "Constantes de santé", "Vital signs",
         f"patient/Observation.c?category={OBSERVATION_CATEGORY}|vital-signs", "patient/Observation.c"),
    Feed("vaccinations", "Immunization", "Vaccinations", "Vaccinations", "patient/Immunization.c",
         "patient/Immunization.c"),
    Feed("allergies", "AllergyIntolerance", "Allergies et intolérances", "Allergies and intolerances",
         "patient/AllergyIntolerance.c", "patient/AllergyIntolerance.c"),
    Feed("agenda", "Appointment", "Agenda", "Agenda", "patient/Appointment.cu", "patient/Appointment.cu"),
)  # fmt: skip
_FEED_BY_CODE = {f.code: f for f in FEEDS}
_FEED_BY_RESOURCE = {f.resource: f for f in FEEDS}
FEED_CODES = frozenset(_FEED_BY_CODE)
_ORDER = [c.code for c in CATEGORIES]
_ORDER.insert(_ORDER.index("vaccinations") + 1, "allergies")


def feed_problem(code: str) -> str | None:
    """Why ``code`` cannot be a feed category (in French), or None when an app may feed it."""
    if code in FEED_CODES:
        return None
    if code in DOCUMENT_CODES:
        return f"{code} : une application référencée ne dépose pas de documents (elle les lit seulement)"
    if code == "profile":
        return "profile : le questionnaire de santé est rempli par le titulaire seul (les allergies : « allergies »)"
    if code == "reimbursements":
        return "reimbursements : les remboursements viennent de l'Assurance Maladie seule"
    return f"{code[:40]} : catégorie inconnue"


def category(code: str) -> Category | None:
    """The category of ``code``, or None."""
    return _BY_CODE.get(code)


def category_label(code: str, lang: str = "fr") -> str:
    """The label of a category code (a J06 class or a space category, with or without the access decision's
    ``space:`` namespace); the code itself when unknown."""
    found: Category | Feed | None = _BY_CODE.get(code) or _BY_CODE.get(code.removeprefix("space:"))
    found = found or _FEED_BY_CODE.get(code)
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
    """Category codes in the order of :data:`CATEGORIES` (the feeds' "allergies" after the vaccinations, as in
    :data:`FEEDS`; unknown codes last, sorted)."""
    known = [code for code in _ORDER if code in codes]
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
_V2 = re.compile(r"^c?r?u?d?s?$")  # SMART v2 permissions, in their fixed order
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
_VITAL_SIGNS = ("vital-signs", f"{OBSERVATION_CATEGORY}|vital-signs")
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
    """What an authorization request asks for: the categories read and fed, or why it cannot be granted."""

    categories: frozenset[str]
    error: str | None = None  # invalid_scope
    description: str | None = None
    beyond: frozenset[str] = frozenset()  # categories asked for reading that the convention does not grant
    feeds: frozenset[str] = frozenset()  # the categories the app will feed (add to)
    feed_beyond: frozenset[str] = frozenset()  # categories asked for feeding that the convention does not grant


def _class_of(value: str) -> str | None:
    system, bar, code = value.rpartition("|")
    if bar and system not in (CLASS_SYSTEM, f"urn:oid:{CLASS_OID}"):
        return None
    return code if code in DOCUMENT_CODES else None


def _rights(permission: str) -> tuple[bool, bool] | None:
    """(reads, writes) of a SMART permission: v1 ``read``, ``write``, ``*``; v2 ``c r u d s`` in order."""
    if permission in ("read", "write", "*"):
        return permission != "write", permission != "read"
    if permission and _V2.match(permission):
        return bool(set(permission) & {"r", "s"}), bool(set(permission) & {"c", "u", "d"})
    return None


def _refused(description: str) -> ScopeRequest:
    return ScopeRequest(frozenset(), "invalid_scope", description)


def _feed_of(word: str, resource: str, query: str | None) -> Feed | str:
    """The feed category of a write scope, or why an app may not write there."""
    found = _FEED_BY_RESOURCE.get(resource)
    if found is not None and (query is None or (resource == "Observation" and query in _VITAL_SIGNS)):
        return found
    if resource in ("DocumentReference", "Binary"):
        why = "une application référencée ne dépose pas de documents, elle lit ceux que le titulaire lui ouvre (.rs)"
    elif resource == "QuestionnaireResponse":
        why = "le questionnaire de santé est rempli par le titulaire seul"
    else:
        why = ("une application référencée n'alimente que les constantes de santé, les vaccinations, les allergies "
               "et l'agenda")  # fmt: skip
    return f"portée « {word[:120]} » : {why}"


def parse_scopes(scope: str | None, convention: frozenset[str], feeds: frozenset[str] = frozenset()) -> ScopeRequest:
    """The categories a SMART ``scope`` parameter asks to read and to feed, checked against the convention's
    read categories (``convention``) and feed categories (``feeds``).

    No scope (or only ``launch/patient``) asks for every category of the convention, read and fed.
    ``patient/DocumentReference.rs`` without ``category`` asks for every document class of the convention;
    ``?category=<TRE_A03>|<code>`` for one. ``patient/Patient.r`` and ``patient/Binary.r`` add no category (the
    patient in context; the content of the documents granted). A write permission (v2 ``c``, ``u``, ``cu``,
    ``cruds``…, v1 ``write``, ``*``) asks to feed the category of a feedable resource (:data:`FEEDS`; ``cruds``
    asks to read it too); a write anywhere else (documents, the questionnaire, reimbursements, the patient) is
    refused with the reason, as is any category beyond the convention, read or fed.
    """
    words = (scope or "").split()
    asked: set[str] = set()
    fed: set[str] = set()
    named = False
    for word in words:
        if word in CONTEXT_SCOPES:
            continue
        match = _SCOPE.match(word)
        rights = _rights(match.group(2)) if match else None
        if match is None or rights is None:
            return _refused(f"portée non prise en charge : « {word[:120]} »")
        resource, _permission, query = match.groups()
        reads, writes = rights
        if writes:
            feed = _feed_of(word, resource, query)
            if isinstance(feed, str):
                return _refused(feed)
            fed.add(feed.code)
            named = True
        if not reads:
            continue
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
                return _refused(f"catégorie de document inconnue (JDV_J06) : « {query[:120]} »")
            asked.add(code)
        elif resource in _RESOURCE_CATEGORY and (query is None or (resource == "Observation" and
                                                                   query in _VITAL_SIGNS)):  # fmt: skip
            asked.add(_RESOURCE_CATEGORY[resource])
        else:
            return _refused(f"portée non prise en charge : « {word[:120]} »")
    if not named:
        asked, fed = set(convention), set(feeds)
    beyond, feed_beyond = frozenset(asked - convention), frozenset(fed - feeds)
    if beyond or feed_beyond:
        said = []
        if beyond:
            said.append("catégories de données hors de la convention de l'application : "
                        + ", ".join(category_label(c) for c in ordered(beyond)))  # fmt: skip
        if feed_beyond:
            said.append("catégories que la convention ne permet pas à l'application d'alimenter : "
                        + ", ".join(category_label(c) for c in ordered(feed_beyond)))  # fmt: skip
        return ScopeRequest(frozenset(asked), "invalid_scope", " ; ".join(said), beyond, frozenset(fed), feed_beyond)
    if not asked and not fed:
        return _refused("aucune catégorie de données demandée")
    return ScopeRequest(frozenset(asked), feeds=frozenset(fed))


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


def token_scopes(categories: frozenset[str], feeds: frozenset[str] = frozenset()) -> list[str]:
    """The scopes of an app token: those of the categories it reads, then the create of each category it feeds."""
    return read_scopes(categories) + [f.token_scope for f in FEEDS if f.code in feeds]


def consent_scopes(categories: frozenset[str]) -> list[str]:
    """The SMART scopes (granular, v2) that stand for these categories on the consent screen."""
    out: list[str] = []
    for code in ordered(categories):
        found = _BY_CODE.get(code)
        if found is not None:
            out.extend(found.scopes)
    return out


def consent_feed_scopes(feeds: frozenset[str]) -> list[str]:
    """The SMART scopes (granular, v2) that stand for these feed categories on the consent screen."""
    return [f.scope for f in FEEDS if f.code in feeds]


def months_later(start: dt.datetime, months: int) -> dt.datetime:
    """``start`` plus ``months`` calendar months (the last day of a shorter month)."""
    import calendar

    month = start.month - 1 + months
    year, month = start.year + month // 12, month % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day)

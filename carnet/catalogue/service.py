"""Use cases of the catalogue: the referencing workflow (apply, review, sign, refuse, withdraw) and the holder's
connections of referenced apps (connect, redeem the authorization code, disconnect), each traced in the same
transaction.

Referencing acts name no patient: their audit entries have no patient (the operator's trail). A connection is one
or two grants of the holder's directory of grants (``carnet.access.service.add_grant``: the MANAGE_CONSENT decision,
traced in the holder's history): one that reads the categories the holder let it read, one that only writes the
categories the holder let it feed. Disconnection and withdrawal end every grant of the connection at once (a
withdrawal as the platform, traced in each holder's history). Dates come from ``uow.clock``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from carnet.access import service as access
from carnet.access.model import Action, Actor, ActorKind, AuthMethod
from carnet.audit import service as audit
from carnet.catalogue.model import (
    CATEGORIES,
    FEED_CODES,
    Assessment,
    Opinion,
    Role,
    Status,
    category_label,
    criteria,
    feed_problem,
    months_later,
    ordered,
    redirect_uri_problem,
)
from carnet.catalogue.store import AppRow, CatalogueRepository, ConnectionRow, ReviewRow
from carnet.clock import ensure_utc
from carnet.errors import Conflict, Forbidden, NotFound, ValidationError

if TYPE_CHECKING:
    from carnet.storage.uow import UnitOfWork

CODE_LIFETIME = dt.timedelta(seconds=60)
TOKEN_LIFETIME = 3600  # seconds; never beyond the convention's end
MIN_MONTHS, MAX_MONTHS = 1, 60  # a convention's duration
_PKCE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
_ACCOUNT = re.compile(r"^[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}$")

# The platform acting on the holders' grants when an app loses its referencing.
CATALOGUE_SYSTEM = Actor(kind=ActorKind.SYSTEM, id="catalogue", auth_method=AuthMethod.SYSTEM,
                         name="Catalogue des applications référencées")  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class Member:
    """A person of the referencing workflow: the publisher's account, a commission member or the operator.

    They act at the operator's desk (the ``carnet catalogue`` command on the platform host, docs/catalogue.md):
    the audit trail records them as ``operator`` actors authenticated by ``cli``, with their role in the detail.
    """

    role: Role
    id: str  # the person's account (an e-mail address)
    name: str | None = None
    kind: ActorKind = field(default=ActorKind.OPERATOR, init=False)
    auth_method: AuthMethod = field(default=AuthMethod.CLI, init=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class ApplicationIn:
    """A publisher's application for referencing."""

    name: str
    publisher: str
    description: str
    categories: list[str]
    redirect_uris: list[str]
    security_statement: str
    interoperability_statement: str
    ethics_commitments: list[str]
    website: str | None = None
    feeds: list[str] = field(default_factory=list)  # the categories the app asks to feed (carnet.catalogue.FEEDS)


def _member(member: Member, role: Role) -> None:
    labels = {Role.APPLICANT: "le compte de l'éditeur", Role.COMMISSION: "un membre de la commission de référencement",
              Role.OPERATOR: "l'opérateur de la plateforme"}  # fmt: skip
    if member.role is not role:
        raise Forbidden(f"seul {labels[role]} fait cela (rôle donné : {member.role.value})")
    if not _ACCOUNT.match(member.id or ""):
        raise ValidationError(f"compte de la personne illisible : « {member.id[:80]} » (une adresse e-mail)",
                              field="account")  # fmt: skip


def _repo(uow: UnitOfWork) -> CatalogueRepository:
    return CatalogueRepository(uow.session)


def _trace(uow: UnitOfWork, member: Member | Actor, action: str, app: AppRow, patient_id: str | None = None,
           **detail: Any) -> None:  # fmt: skip
    role = {"role": member.role.value} if isinstance(member, Member) else {}
    audit.record(uow=uow, actor=member, action=action, patient_id=patient_id,
                 detail={"app": app.id, "app_name": app.name, **role, **detail})  # fmt: skip


def get_app(*, uow: UnitOfWork, app_id: str) -> AppRow:
    """One app of the catalogue by id (its client id), whatever its state; NotFound when unknown."""
    row = _repo(uow).app(app_id) if app_id else None
    if row is None:
        raise NotFound(f"application {app_id[:40]} introuvable au catalogue", field="app")
    return row


def list_apps(*, uow: UnitOfWork, status: Status | None = None) -> list[AppRow]:
    """Every app of the catalogue (or those in ``status``), by name."""
    return _repo(uow).apps(status.value if status else None)


def reviews(*, uow: UnitOfWork, app_id: str) -> list[ReviewRow]:
    """The commission's reviews of an app, oldest first."""
    return _repo(uow).reviews(app_id)


def is_live(app: AppRow, now: dt.datetime) -> bool:
    """Referenced, and its convention still runs."""
    ends = app.convention_ends_at
    return app.status == Status.REFERENCED.value and ends is not None and ensure_utc(ends) > now


def referenced(*, uow: UnitOfWork) -> list[AppRow]:
    """The catalogue the holders browse: referenced apps whose convention runs (no personal data: not traced)."""
    now = uow.clock.now()
    return [a for a in _repo(uow).apps(Status.REFERENCED.value) if is_live(a, now)]


# --- referencing ----------------------------------------------------------------------------------------------


def _text(value: str, name: str, label: str, problems: list[str], *, low: int, high: int) -> str:
    text = " ".join((value or "").split()) if name not in ("description",) else (value or "").strip()
    if len(text) < low:
        problems.append(f"{label} : {low} caractères au moins")
    elif len(text) > high:
        problems.append(f"{label} : {high} caractères au plus")
    return text


def _problems(application: ApplicationIn) -> tuple[list[str], dict[str, Any]]:
    """Every problem of an application at once (the publisher corrects them in one go), and the cleaned values."""
    problems: list[str] = []
    out: dict[str, Any] = {
        "name": _text(application.name, "name", "nom de l'application", problems, low=2, high=120),
        "publisher": _text(application.publisher, "publisher", "éditeur", problems, low=2, high=200),
        "description": _text(application.description, "description", "description", problems, low=20, high=4000),
        "security_statement": _text(application.security_statement, "security", "déclaration de sécurité",
                                    problems, low=20, high=8000),
        "interoperability_statement": _text(application.interoperability_statement, "interop",
                                            "déclaration d'interopérabilité", problems, low=20, high=8000),
    }  # fmt: skip
    known = {c.code for c in CATEGORIES}
    asked = [c.strip() for c in application.categories if c.strip()]
    unknown = [c for c in asked if c not in known]
    if unknown:
        problems.append("catégories de données inconnues : " + ", ".join(unknown[:10])
                        + " (catégories : " + ", ".join(c.code for c in CATEGORIES) + ")")  # fmt: skip
    feeds = [c.strip() for c in application.feeds if c.strip()]
    unfeedable = [p for p in dict.fromkeys(feed_problem(c) for c in feeds) if p]
    if unfeedable:
        problems.append("catégories à alimenter impossibles : " + " ; ".join(unfeedable[:10])
                        + " (une application alimente : " + ", ".join(ordered(FEED_CODES)) + ")")  # fmt: skip
    if not asked and not feeds:
        problems.append("au moins une catégorie de données demandée (à lire ou à alimenter)")
    out["categories"] = ordered(set(asked) & known)
    out["feeds"] = ordered(set(feeds) & FEED_CODES)
    uris = [u.strip() for u in application.redirect_uris if u.strip()]
    if not uris:
        problems.append("au moins une adresse de retour (redirect URI)")
    if len(uris) > 10:
        problems.append("10 adresses de retour au plus")
    problems.extend(p for p in (redirect_uri_problem(u) for u in uris[:10]) if p)
    out["redirect_uris"] = list(dict.fromkeys(uris))
    commitments = [" ".join(c.split()) for c in application.ethics_commitments if c.strip()]
    if not commitments:
        problems.append("au moins un engagement éthique")
    if any(len(c) > 1000 for c in commitments) or len(commitments) > 30:
        problems.append("engagements éthiques : 30 au plus, de 1000 caractères au plus")
    out["ethics_commitments"] = commitments
    website = (application.website or "").strip() or None
    if website is not None:
        problem = redirect_uri_problem(website)
        if problem or not website.startswith("https://"):
            problems.append(f"site de l'application : une adresse https ({website[:80]})")
    out["website"] = website
    return problems, out


def apply(*, uow: UnitOfWork, member: Member, application: ApplicationIn) -> str:
    """The publisher files an application (every problem refused at once, nothing stored); returns the app's id,
    which is its OAuth ``client_id`` once referenced."""
    _member(member, Role.APPLICANT)
    problems, values = _problems(application)
    if problems:
        raise ValidationError("candidature refusée : " + " ; ".join(problems), field="application")
    repo = _repo(uow)
    if repo.app_named(values["name"]) is not None:
        raise Conflict(f"une application nommée « {values['name']} » est déjà au catalogue ou en cours d'examen",
                       field="name")  # fmt: skip
    now = uow.clock.now()
    row = AppRow(publisher_account=member.id, categories_asked=values.pop("categories"), status=Status.APPLIED.value,
                 feed_asked=values.pop("feeds"), applied_at=now, categories_granted=[], feed_granted=[],
                 created_at=now, updated_at=now, **values)  # fmt: skip
    repo.add(row)
    uow.flush()
    _trace(uow, member, "catalogue.apply", row, categories=row.categories_asked, feeds=row.feed_asked,
           redirect_uris=row.redirect_uris)  # fmt: skip
    return row.id


def review(*, uow: UnitOfWork, member: Member, app_id: str, assessments: list[Assessment], opinion: Opinion,
           comment: str) -> str:  # fmt: skip
    """A commission member reviews the application against every criterion of the checklist (each met or not,
    with a comment) and gives the commission's opinion; returns the review's id."""
    _member(member, Role.COMMISSION)
    app = get_app(uow=uow, app_id=app_id)
    if app.status not in (Status.APPLIED.value, Status.REVIEWED.value):
        raise Conflict(f"l'application est « {app.status} » : seule une candidature en cours s'examine", field="status")
    if member.id == app.publisher_account:
        raise Forbidden("le compte de l'éditeur n'examine pas sa propre candidature")
    checklist = {c.id: c for c in criteria()}
    problems: list[str] = []
    seen: dict[str, Assessment] = {}
    for item in assessments:
        if item.criterion not in checklist:
            problems.append(f"critère inconnu : {item.criterion[:40]}")
        elif item.criterion in seen:
            problems.append(f"critère examiné deux fois : {item.criterion}")
        elif not 2 <= len(item.comment.strip()) <= 2000:
            problems.append(f"critère {item.criterion} : un commentaire de 2 à 2000 caractères")
        seen[item.criterion] = item
    missing = [c for c in checklist if c not in seen]
    if missing:
        problems.append("critères non examinés : " + ", ".join(missing))
    text = " ".join(comment.split())
    if not 2 <= len(text) <= 4000:
        problems.append("avis : un commentaire de 2 à 4000 caractères")
    unmet = [c.id for c in checklist.values() if c.mandatory and c.id in seen and not seen[c.id].met]
    if opinion is Opinion.FAVOURABLE and unmet:
        problems.append("un avis favorable demande chaque critère obligatoire rempli ; non remplis : "
                        + ", ".join(unmet))  # fmt: skip
    if problems:
        raise ValidationError("examen refusé : " + " ; ".join(problems), field="review")
    now = uow.clock.now()
    row = ReviewRow(app_id=app.id, round=len(_repo(uow).reviews(app.id)) + 1, reviewer=member.id,
                    opinion=opinion.value, comment=text, reviewed_at=now,
                    assessments=[{"criterion": a.criterion, "met": a.met, "comment": a.comment.strip()}
                                 for a in (seen[c] for c in checklist)], created_at=now, updated_at=now)  # fmt: skip
    _repo(uow).add(row)
    app.status = Status.REVIEWED.value
    app.updated_at = now
    uow.flush()
    _trace(uow, member, "catalogue.review", app, opinion=opinion.value, unmet=[a.criterion for a in seen.values()
                                                                               if not a.met])  # fmt: skip
    return row.id


def _latest_review(uow: UnitOfWork, app: AppRow) -> ReviewRow | None:
    found = _repo(uow).reviews(app.id)
    return found[-1] if found else None


def sign(*, uow: UnitOfWork, member: Member, app_id: str, categories: list[str], months: int,
         comment: str | None = None, feeds: list[str] | None = None) -> dt.datetime:  # fmt: skip
    """The operator signs the convention after the commission's favourable opinion: the data categories granted for
    reading and for feeding (some of those asked for, each) and the duration; the app enters the catalogue. Returns
    the convention's end."""
    _member(member, Role.OPERATOR)
    app = get_app(uow=uow, app_id=app_id)
    if app.status != Status.REVIEWED.value:
        raise Conflict(f"l'application est « {app.status} » : une convention se signe après l'avis de la commission",
                       field="status")  # fmt: skip
    latest = _latest_review(uow, app)
    if latest is None or latest.opinion != Opinion.FAVOURABLE.value:
        raise Conflict("l'avis de la commission n'est pas favorable : la convention ne peut pas être signée",
                       field="opinion")  # fmt: skip
    if member.id in (latest.reviewer, app.publisher_account):
        raise Forbidden("l'opérateur qui signe n'est ni l'éditeur ni le membre de la commission qui a examiné")
    granted = [c.strip() for c in categories if c.strip()]
    problems: list[str] = []
    beyond = [c for c in granted if c not in app.categories_asked]
    if beyond:
        problems.append("catégories non demandées par l'éditeur : " + ", ".join(category_label(c) if c in
                        {x.code for x in CATEGORIES} else c for c in beyond))  # fmt: skip
    fed = [c.strip() for c in feeds or [] if c.strip()]
    feed_beyond = [c for c in fed if c not in app.feed_asked]
    if feed_beyond:
        problems.append("catégories à alimenter non demandées par l'éditeur : " + ", ".join(
            category_label(c) if c in FEED_CODES else c[:40] for c in feed_beyond))  # fmt: skip
    if not granted and not fed:
        problems.append("au moins une catégorie de données accordée (à lire ou à alimenter)")
    if not MIN_MONTHS <= months <= MAX_MONTHS:
        problems.append(f"durée de la convention : de {MIN_MONTHS} à {MAX_MONTHS} mois")
    if problems:
        raise ValidationError("convention refusée : " + " ; ".join(problems), field="convention")
    now = uow.clock.now()
    app.status = Status.REFERENCED.value
    app.categories_granted = ordered(set(granted))
    app.feed_granted = ordered(set(fed))
    app.decided_by, app.decided_at = member.id, now
    app.decision_comment = " ".join((comment or "").split()) or None
    app.convention_ends_at = months_later(now, months)
    app.updated_at = now
    uow.flush()
    _trace(uow, member, "catalogue.sign", app, categories=app.categories_granted, feeds=app.feed_granted,
           months=months, ends=app.convention_ends_at.isoformat())  # fmt: skip
    return app.convention_ends_at


def refuse(*, uow: UnitOfWork, member: Member, app_id: str, reason: str) -> None:
    """The operator refuses the referencing (whatever the opinion), saying why."""
    _member(member, Role.OPERATOR)
    app = get_app(uow=uow, app_id=app_id)
    if app.status not in (Status.APPLIED.value, Status.REVIEWED.value):
        raise Conflict(f"l'application est « {app.status} » : seule une candidature en cours se refuse", field="status")
    text = " ".join(reason.split())
    if not 5 <= len(text) <= 4000:
        raise ValidationError("motif du refus : de 5 à 4000 caractères", field="reason")
    now = uow.clock.now()
    app.status = Status.REFUSED.value
    app.decided_by, app.decided_at, app.decision_comment, app.updated_at = member.id, now, text, now
    uow.flush()
    _trace(uow, member, "catalogue.refuse", app)


def withdraw(*, uow: UnitOfWork, member: Member, app_id: str, reason: str) -> int:
    """The operator withdraws the referencing: the app leaves the catalogue and loses every access at once (each
    holder's connection ended and its grants — reading and feeding — revoked, traced in their history; its tokens are
    refused from now on).
    Returns the number of connections ended."""
    _member(member, Role.OPERATOR)
    app = get_app(uow=uow, app_id=app_id)
    if app.status != Status.REFERENCED.value:
        raise Conflict(f"l'application est « {app.status} » : seul un référencement se retire", field="status")
    text = " ".join(reason.split())
    if not 5 <= len(text) <= 4000:
        raise ValidationError("motif du retrait : de 5 à 4000 caractères", field="reason")
    now = uow.clock.now()
    app.status = Status.WITHDRAWN.value
    app.withdrawn_by, app.withdrawn_at, app.withdrawal_reason, app.updated_at = member.id, now, text, now
    ended = 0
    for connection in _repo(uow).open_connections_of_app(app.id):
        _end(uow, CATALOGUE_SYSTEM, connection, "withdrawn")
        _trace(uow, CATALOGUE_SYSTEM, "catalogue.withdrawal_disconnect", app, connection.patient_id,
               connection=connection.id)  # fmt: skip
        ended += 1
    uow.flush()
    _trace(uow, member, "catalogue.withdraw", app, connections_ended=ended)
    return ended


# --- the holder's connections ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Connected:
    """A holder's connection with its app, and whether it still gives access."""

    connection: ConnectionRow
    app: AppRow
    active: bool


def _grant_ids(connection: ConnectionRow) -> list[str]:
    """The grants a connection became: reading, feeding (either may be absent)."""
    return [g for g in (connection.grant_id, connection.feed_grant_id) if g]


def _grant_open(uow: UnitOfWork, connection: ConnectionRow, now: dt.datetime) -> bool:
    """Whether one grant of the connection still runs (the holder may revoke one of them in "qui peut accéder": the
    other one keeps its effect; the access decision bounds each use to its own grant)."""
    for grant_id in _grant_ids(connection):
        grant = uow.access.grant(grant_id)
        if grant is not None and grant.revoked_at is None and (grant.valid_until is None
                                                               or ensure_utc(grant.valid_until) > now):  # fmt: skip
            return True
    return False


def connections(*, uow: UnitOfWork, actor: Actor, patient_id: str) -> list[Connected]:
    """The apps connected to the holder's space (the MANAGE_CONSENT decision; the reading traced)."""
    granted = access.enforce_on_record(uow=uow, actor=actor, patient_id=patient_id, action=Action.MANAGE_CONSENT)
    repo, now = _repo(uow), uow.clock.now()
    found = []
    for row in repo.connections_of_patient(patient_id):
        app = repo.app(row.app_id)
        if app is not None:
            active = row.ended_at is None and _grant_open(uow, row, now) and is_live(app, now)
            found.append(Connected(row, app, active))
    audit.record(uow=uow, actor=actor, action="catalogue.connections", patient_id=patient_id,
                 detail={"returned": len(found)}, **granted.audit_kwargs())  # fmt: skip
    return found


def _end(uow: UnitOfWork, actor: Actor, connection: ConnectionRow, reason: str) -> None:
    """End a connection and revoke every grant of it, reading and feeding (through the access service: decided and
    traced)."""
    now = uow.clock.now()
    for grant_id in _grant_ids(connection):
        grant = uow.access.grant(grant_id)
        if grant is not None and grant.revoked_at is None:
            access.revoke_grant(uow=uow, actor=actor, patient_id=connection.patient_id, grant_id=grant.id)
    connection.ended_at, connection.ended_reason, connection.updated_at = now, reason, now
    connection.code_hash = connection.code_challenge = None


def _code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def connect(*, uow: UnitOfWork, actor: Actor, patient_id: str, app_id: str, categories: frozenset[str],
            redirect_uri: str, code_challenge: str, feeds: frozenset[str] = frozenset()) -> str:  # fmt: skip
    """The holder (or their representative) accepts on the consent screen: the connection becomes grants to the app
    until the convention's end — one reading ``categories``, one only writing ``feeds`` (the categories it may add
    to) —; a previous connection of the same app is replaced. Returns the authorization code (single use, 60
    seconds, bound to the redirect URI and the PKCE challenge)."""
    app = get_app(uow=uow, app_id=app_id)
    now = uow.clock.now()
    if not is_live(app, now):
        raise Forbidden(f"l'application « {app.name} » n'est pas (ou plus) référencée au catalogue")
    beyond = categories - set(app.categories_granted)
    if beyond:
        raise ValidationError("catégories hors de la convention de l'application : "
                              + ", ".join(category_label(c) for c in ordered(beyond)), field="scope")  # fmt: skip
    feed_beyond = feeds - set(app.feed_granted)
    if feed_beyond:
        raise ValidationError("catégories que la convention ne permet pas à l'application d'alimenter : "
                              + ", ".join(category_label(c) for c in ordered(feed_beyond)), field="scope")  # fmt: skip
    if not categories and not feeds:
        raise ValidationError("aucune catégorie de données à ouvrir à l'application", field="scope")
    if redirect_uri not in app.redirect_uris:
        raise ValidationError("adresse de retour non enregistrée pour cette application", field="redirect_uri")
    if not _PKCE.match(code_challenge or ""):
        raise ValidationError("code_challenge PKCE (S256) absent ou mal formé", field="code_challenge")
    patient = uow.patients.get(patient_id)
    if patient is None or not patient.ins_matricule:
        raise ValidationError("ce dossier n'a pas d'INS : une application ne peut pas y être connectée",
                              field="patient")  # fmt: skip
    repo = _repo(uow)
    for old in repo.connections_of_patient(patient_id):
        if old.app_id == app.id and old.ended_at is None:
            _end(uow, actor, old, "replaced")
    # Two grants rather than one reading and writing: the access decision matches a write against the grants that
    # write and a read against those that read, so the app reads only what it reads and feeds only what it feeds.
    grant_id = feed_grant_id = None
    if categories:
        grant_id = access.add_grant(uow=uow, actor=actor, patient_id=patient_id, grantee_kind="app",
                                    grantee_id=app.id, can_read=True, can_write=False,
                                    class_codes=frozenset(categories), valid_until=app.convention_ends_at)  # fmt: skip
    if feeds:
        feed_grant_id = access.add_grant(uow=uow, actor=actor, patient_id=patient_id, grantee_kind="app",
                                         grantee_id=app.id, can_read=False, can_write=True,
                                         class_codes=frozenset(feeds), valid_until=app.convention_ends_at)  # fmt: skip
    code = secrets.token_urlsafe(32)
    row = ConnectionRow(app_id=app.id, patient_id=patient_id, grant_id=grant_id, categories=ordered(categories),
                        feed_grant_id=feed_grant_id, feed_categories=ordered(feeds), connected_by=actor.id,
                        code_hash=_code_hash(code), code_expires_at=now + CODE_LIFETIME,
                        code_challenge=code_challenge, redirect_uri=redirect_uri, created_at=now,
                        updated_at=now)  # fmt: skip
    repo.add(row)
    uow.flush()
    _trace(uow, actor, "catalogue.connect", app, patient_id, connection=row.id, categories=row.categories,
           feeds=row.feed_categories)  # fmt: skip
    return code


def disconnect(*, uow: UnitOfWork, actor: Actor, patient_id: str, connection_id: str) -> AppRow:
    """The holder disconnects an app: its grants (reading and feeding) are revoked and its tokens are refused from
    now on."""
    repo = _repo(uow)
    row = repo.connection(connection_id) if connection_id else None
    if row is None or row.patient_id != patient_id:
        raise NotFound("connexion introuvable", field="connection")
    app = get_app(uow=uow, app_id=row.app_id)
    if row.ended_at is not None:
        raise ValidationError(f"l'application « {app.name} » est déjà déconnectée", field="connection")
    access.enforce_on_record(uow=uow, actor=actor, patient_id=patient_id, action=Action.MANAGE_CONSENT)
    _end(uow, actor, row, "disconnected")
    uow.flush()
    _trace(uow, actor, "catalogue.disconnect", app, patient_id, connection=row.id)
    return app


def refuse_request(*, uow: UnitOfWork, app_id: str, patient_id: str, reason: str) -> None:
    """Trace in the holder's history an authorization request refused (categories beyond the convention...)."""
    app = get_app(uow=uow, app_id=app_id)
    actor = Actor(kind=ActorKind.APP, id=app.id, auth_method=AuthMethod.APP_TOKEN, name=app.name)
    audit.record(uow=uow, actor=actor, action="catalogue.authorize_refused", patient_id=patient_id, outcome="denied",
                 detail={"app": app.id, "app_name": app.name, "reason": reason[:300]})  # fmt: skip


# --- the token endpoint ---------------------------------------------------------------------------------------


class TokenRequestError(Exception):
    """A token request refused (RFC 6749 §5.2): ``error`` and a French ``description``."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


@dataclass(frozen=True, slots=True)
class Issued:
    """What a redeemed code gives: the connection, its app, the holder's INS and the token's lifetime."""

    connection_id: str
    app_id: str
    app_name: str
    patient_id: str
    patient_ins: str
    categories: frozenset[str]
    lifetime: int
    feeds: frozenset[str] = frozenset()


def redeem(*, uow: UnitOfWork, client_id: str, code: str, redirect_uri: str | None, verifier: str | None) -> Issued:
    """The app exchanges its authorization code (once, within 60 seconds, with the same redirect URI and the PKCE
    verifier) for the token of its connection; traced in the holder's history."""
    repo = _repo(uow)
    row = repo.connection_by_code(_code_hash(code)) if code else None
    if row is None:
        raise TokenRequestError("invalid_grant", "code d'autorisation inconnu ou déjà utilisé")
    now = uow.clock.now()
    if row.app_id != client_id:
        raise TokenRequestError("invalid_grant", "code d'autorisation émis pour une autre application")
    expires = row.code_expires_at
    row.code_hash = None  # single use, whatever happens next
    row.updated_at = now
    if expires is None or ensure_utc(expires) <= now:
        raise TokenRequestError("invalid_grant", "code d'autorisation expiré")
    if redirect_uri != row.redirect_uri:
        raise TokenRequestError("invalid_grant", "redirect_uri différente de celle de la demande d'autorisation")
    if verifier is None or not _PKCE.match(verifier):
        raise TokenRequestError("invalid_grant", "code_verifier absent ou mal formé (PKCE)")
    computed = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    if not hmac.compare_digest(computed, row.code_challenge or ""):
        raise TokenRequestError("invalid_grant", "code_verifier ne correspond pas au code_challenge (PKCE)")
    app = get_app(uow=uow, app_id=row.app_id)
    refusal = _refusal(uow, row, app, now)
    if refusal:
        raise TokenRequestError("invalid_grant", refusal)
    patient = uow.patients.get(row.patient_id)
    if patient is None or not patient.ins_matricule:
        raise TokenRequestError("invalid_grant", "dossier du titulaire introuvable")
    ends = ensure_utc(app.convention_ends_at) if app.convention_ends_at else now
    lifetime = max(1, min(TOKEN_LIFETIME, int((ends - now).total_seconds())))
    actor = Actor(kind=ActorKind.APP, id=app.id, auth_method=AuthMethod.APP_TOKEN, name=app.name)
    _trace(uow, actor, "catalogue.token", app, row.patient_id, connection=row.id)
    return Issued(row.id, app.id, app.name, row.patient_id, patient.ins_matricule, frozenset(row.categories),
                  lifetime, frozenset(row.feed_categories or ()))  # fmt: skip


def _refusal(uow: UnitOfWork, row: ConnectionRow, app: AppRow, now: dt.datetime) -> str | None:
    if app.status == Status.WITHDRAWN.value:
        return f"le référencement de l'application « {app.name} » a été retiré"
    if not is_live(app, now):
        return f"l'application « {app.name} » n'est pas référencée ou sa convention a pris fin"
    if row.ended_at is not None or not _grant_open(uow, row, now):
        return f"le titulaire a déconnecté l'application « {app.name} »"
    return None


def token_refusal(*, uow: UnitOfWork, connection_id: object, app_id: object) -> str | None:
    """Why a token of the catalogue no longer gives access (app withdrawn, convention ended, connection ended or
    grant revoked), or None while it does: checked at every call that presents it."""
    if not isinstance(connection_id, str) or not isinstance(app_id, str):
        return "jeton d'application sans connexion"
    row = _repo(uow).connection(connection_id)
    app = _repo(uow).app(app_id)
    if row is None or app is None or row.app_id != app.id:
        return "connexion de l'application inconnue"
    return _refusal(uow, row, app, uow.clock.now())


def app_target(uow: UnitOfWork, app_id: str) -> dict[str, Any]:
    """An app as the grants directory names it (``carnet.web.patient_access``): its name and publisher."""
    app = _repo(uow).app(app_id)
    if app is None:
        return {"id": app_id, "name": app_id, "detail": None, "known": False}
    return {"id": app.id, "name": app.name, "detail": f"application référencée — {app.publisher}", "known": True}

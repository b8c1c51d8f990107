"""What every endpoint needs: the platform, a unit of work, the authenticated caller, the actor on a record.

Emergency access is asked for explicitly with two headers (docs/api.md):
``X-Carnet-Access-Mode: emergency`` (or ``regulation`` for SAMU / centre 15) and
``X-Carnet-Justification: <percent-encoded UTF-8 text>``; both end up in the decision and the audit trail.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated
from urllib.parse import unquote

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from carnet.access.model import Actor, ActorKind, AuthMethod, Context, Mode
from carnet.access.service import context as access_context
from carnet.auth.claims import Caller, caller_from_claims
from carnet.auth.tokens import TokenValidator
from carnet.bootstrap import Platform
from carnet.errors import Forbidden, Unauthenticated
from carnet.storage.uow import UnitOfWork

MODE_HEADER = "X-Carnet-Access-Mode"
JUSTIFICATION_HEADER = "X-Carnet-Justification"


async def get_platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


def get_uow(platform: Annotated[Platform, Depends(get_platform)]) -> Iterator[UnitOfWork]:
    """A unit of work for the request; the endpoint commits, anything else rolls back."""
    with platform.uow() as uow:
        yield uow


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise Unauthenticated("authentification requise : en-tête Authorization: Bearer <jeton> absent")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("en-tête Authorization invalide : « Bearer <jeton> » attendu")
    return token.strip()


async def get_caller(request: Request) -> Caller:
    """The verified caller; cached on the request so several dependencies share one validation.

    Async (no thread hop per request): a token seen before is answered from memory; a new one is verified in
    the thread pool, since fetching an issuer's keys is network I/O.
    """
    cached = getattr(request.state, "caller", None)
    if isinstance(cached, Caller):
        return cached
    validator: TokenValidator = request.app.state.token_validator
    token = bearer_token(request)
    claims = validator.remembered(token)
    if claims is None:
        claims = await run_in_threadpool(validator.validate, token)
    caller = caller_from_claims(claims)
    request.state.caller = caller
    return caller


CallerDep = Annotated[Caller, Depends(get_caller)]
UowDep = Annotated[UnitOfWork, Depends(get_uow)]


def own_patient_id(uow: UnitOfWork, caller: Caller) -> str:
    """The record of a signed-in holder, from the INS in their token."""
    row = uow.patients.by_ins(caller.ins or "")
    if row is None:
        raise Forbidden("aucun espace santé ne correspond à l'INS de ce compte")
    return row.id


def searched_patient_id(uow: UnitOfWork, caller: Caller, found: dict[str, list[str]]) -> str:
    """The record a search is about: its ``patient`` parameter, or the signed-in holder's own record."""
    from carnet.api import _paging as p
    from carnet.api.outcome import FhirError

    reference = p.one(found, "patient")
    if reference is not None:
        return p.reference_id(reference, "Patient", "patient")
    if caller.kind == ActorKind.PATIENT:
        return own_patient_id(uow, caller)
    raise FhirError("paramètre patient obligatoire (Patient/<id>)", field="patient")


def actor_on(uow: UnitOfWork, caller: Caller, patient_id: str | None = None) -> Actor:
    """The access-control actor for this caller acting on ``patient_id`` (their own record when None).

    A signed-in person acting on someone else's record acts as their legal representative (the decision checks
    that they are one); the represented records are those their token names.
    """
    if caller.kind == ActorKind.PATIENT:
        own = uow.patients.by_ins(caller.ins or "")
        own_id = own.id if own is not None else f"fc:{caller.subject}"
        if patient_id is None or patient_id == own_id:
            if own is None:
                raise Forbidden("aucun espace santé ne correspond à l'INS de ce compte")
            return Actor(kind=ActorKind.PATIENT, id=own_id, auth_method=caller.auth_method, name=caller.name)
        represented = frozenset(
            row.id for row in (uow.patients.by_ins(ins) for ins in caller.represents_ins) if row is not None
        )
        return Actor(kind=ActorKind.REPRESENTATIVE, id=own_id, auth_method=caller.auth_method, name=caller.name,
                     represented_patient_ids=represented)  # fmt: skip
    return Actor(
        kind=caller.kind,
        id=caller.subject,
        auth_method=caller.auth_method,
        name=caller.name,
        profession=caller.profession,
        specialty=caller.specialty,
        organisation_id=caller.organisation_id,
        organisation_name=caller.organisation_name,
        acting_for=caller.acting_for,
    )


def request_context(request: Request, uow: UnitOfWork) -> Context:
    """The decision context: now, and the access mode and justification the caller asked for."""
    raw_mode = request.headers.get(MODE_HEADER, Mode.NORMAL.value).strip().lower()
    try:
        mode = Mode(raw_mode)
    except ValueError:
        from carnet.api.outcome import FhirError

        raise FhirError(f"{MODE_HEADER} : « {raw_mode} » inconnu (normal, emergency, regulation)",
                        field=MODE_HEADER) from None  # fmt: skip
    raw = request.headers.get(JUSTIFICATION_HEADER)
    justification = unquote(raw).strip() if raw else None
    return access_context(uow, mode=mode, justification=justification or None)


def is_app(caller: Caller) -> bool:
    return caller.kind == ActorKind.APP and caller.auth_method == AuthMethod.APP_TOKEN

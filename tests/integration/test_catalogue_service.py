"""The referencing workflow on both backends: apply, review against the checklist, sign or refuse, withdraw; the
holder's connection as a grant of the directory, its code redeemed once, disconnection; a withdrawn app loses every
access at once; bad input refused with every reason and nothing stored; each act traced."""

from __future__ import annotations

import base64
import hashlib
import secrets

import pytest
from sqlalchemy import select

from carnet.access import service as access
from carnet.access.model import Action, Actor, ActorKind, AuthMethod, DocumentFacts
from carnet.audit.store import AuditRow
from carnet.bootstrap import Platform
from carnet.catalogue import service as catalogue
from carnet.catalogue.model import Opinion, Role, Status
from carnet.clock import FrozenClock
from carnet.errors import Conflict, Forbidden, NotFound, ValidationError
from tests.builders import qualified_patient
from tests.catalogue_builders import CALLBACK, COMMISSION, OPERATOR, PUBLISHER, all_met, referenced_app, tensio

SUMMARY = DocumentFacts(id="doc-vsm", type_code="60591-5", class_code="11", author_id="810000000017")
REPORT = DocumentFacts(id="doc-cr", type_code="11488-4", class_code="10", author_id="810000000017")


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def _holder(patient_id: str) -> Actor:
    return Actor(kind=ActorKind.PATIENT, id=patient_id, auth_method=AuthMethod.FRANCE_CONNECT)


def _as_app(app_id: str) -> Actor:
    return Actor(kind=ActorKind.APP, id=app_id, auth_method=AuthMethod.APP_TOKEN, name="Tensio")


def _actions(platform: Platform, patient_id: str | None = None) -> list[str]:
    with platform.uow() as uow:
        stmt = select(AuditRow.action).order_by(AuditRow.id)
        if patient_id is not None:
            stmt = stmt.where(AuditRow.patient_id == patient_id)
        return list(uow.session.scalars(stmt))


def _connected(platform: Platform, patient_id: str, app_id: str, categories: frozenset[str]) -> tuple[str, str]:
    verifier, challenge = _pkce()
    with platform.uow() as uow:
        code = catalogue.connect(uow=uow, actor=_holder(patient_id), patient_id=patient_id, app_id=app_id,
                                 categories=categories, redirect_uri=CALLBACK, code_challenge=challenge)  # fmt: skip
        uow.commit()
    return code, verifier


def _reads(platform: Platform, app_id: str, patient_id: str, document: DocumentFacts) -> bool:
    with platform.uow() as uow:
        facts = access.facts_for(uow, uow.patients.get(patient_id))  # type: ignore[arg-type]
        return access.evaluate(uow=uow, actor=_as_app(app_id), action=Action.READ, facts=facts, document=document,
                               ctx=access.context(uow)).allowed  # fmt: skip


def test_the_whole_workflow_from_application_to_withdrawal(platform: Platform) -> None:
    app_id = referenced_app(platform, granted=("11", "vitals"))
    with platform.uow() as uow:
        app = catalogue.get_app(uow=uow, app_id=app_id)
        assert app.status == Status.REFERENCED.value and app.categories_granted == ["11", "vitals"]
        assert app.categories_asked == ["10", "11", "vitals"] and app.convention_ends_at is not None
        assert app.convention_ends_at.date().isoformat() == "2028-11-22"  # 24 months after the frozen day
        (review,) = catalogue.reviews(uow=uow, app_id=app_id)
        assert review.opinion == "favourable" and len(review.assessments) == 9
        assert [a.id for a in catalogue.referenced(uow=uow)] == [app_id]
    assert _actions(platform)[-3:] == ["catalogue.apply", "catalogue.review", "catalogue.sign"]

    patient_id = qualified_patient(platform)
    code, verifier = _connected(platform, patient_id, app_id, frozenset({"11"}))
    assert _reads(platform, app_id, patient_id, SUMMARY) and not _reads(platform, app_id, patient_id, REPORT)
    with platform.uow() as uow:
        issued = catalogue.redeem(uow=uow, client_id=app_id, code=code, redirect_uri=CALLBACK, verifier=verifier)
        uow.commit()
        (grant,) = [g for g in uow.access.grants(patient_id) if g.grantee_kind == "app"]
        assert (grant.grantee_id, grant.class_codes, grant.can_write) == (app_id, ["11"], False)
        assert grant.valid_until == app.convention_ends_at
    assert issued.categories == frozenset({"11"}) and issued.lifetime == 3600
    with platform.uow() as uow:  # a code is spent once
        with pytest.raises(catalogue.TokenRequestError, match="inconnu ou déjà utilisé"):
            catalogue.redeem(uow=uow, client_id=app_id, code=code, redirect_uri=CALLBACK, verifier=verifier)
        assert catalogue.token_refusal(uow=uow, connection_id=issued.connection_id, app_id=app_id) is None

    with platform.uow() as uow:
        assert catalogue.withdraw(uow=uow, member=OPERATOR, app_id=app_id, reason="faille de sécurité signalée") == 1
        uow.commit()
    assert not _reads(platform, app_id, patient_id, SUMMARY)
    with platform.uow() as uow:
        refusal = catalogue.token_refusal(uow=uow, connection_id=issued.connection_id, app_id=app_id)
        assert refusal is not None and "retiré" in refusal
        assert catalogue.referenced(uow=uow) == []
        (row,) = catalogue.connections(uow=uow, actor=_holder(patient_id), patient_id=patient_id)
        assert not row.active and row.connection.ended_reason == "withdrawn"
    history = _actions(platform, patient_id)
    assert {"consent.grant", "catalogue.connect", "catalogue.token", "consent.grant_revoked",
            "catalogue.withdrawal_disconnect"} <= set(history)  # fmt: skip
    assert _actions(platform)[-1] == "catalogue.withdraw"


def test_the_holder_disconnects_and_the_token_is_refused(platform: Platform) -> None:
    app_id = referenced_app(platform)
    patient_id = qualified_patient(platform)
    code, verifier = _connected(platform, patient_id, app_id, frozenset({"11", "vitals"}))
    with platform.uow() as uow:
        issued = catalogue.redeem(uow=uow, client_id=app_id, code=code, redirect_uri=CALLBACK, verifier=verifier)
        (connected,) = catalogue.connections(uow=uow, actor=_holder(patient_id), patient_id=patient_id)
        assert connected.active
        catalogue.disconnect(uow=uow, actor=_holder(patient_id), patient_id=patient_id,
                             connection_id=issued.connection_id)  # fmt: skip
        uow.commit()
    assert not _reads(platform, app_id, patient_id, SUMMARY)
    with platform.uow() as uow:
        assert "déconnecté" in (catalogue.token_refusal(uow=uow, connection_id=issued.connection_id, app_id=app_id)
                                or "")  # fmt: skip
        with pytest.raises(ValidationError, match="déjà déconnectée"):
            catalogue.disconnect(uow=uow, actor=_holder(patient_id), patient_id=patient_id,
                                 connection_id=issued.connection_id)  # fmt: skip
        with pytest.raises(NotFound):
            catalogue.disconnect(uow=uow, actor=_holder("someone-else"), patient_id="someone-else",
                                 connection_id=issued.connection_id)  # fmt: skip
    assert "catalogue.disconnect" in _actions(platform, patient_id)


def test_revoking_the_grant_in_the_directory_refuses_the_token_too(platform: Platform) -> None:
    app_id = referenced_app(platform)
    patient_id = qualified_patient(platform)
    code, verifier = _connected(platform, patient_id, app_id, frozenset({"11"}))
    with platform.uow() as uow:
        issued = catalogue.redeem(uow=uow, client_id=app_id, code=code, redirect_uri=CALLBACK, verifier=verifier)
        (grant,) = [g for g in uow.access.grants(patient_id) if g.grantee_kind == "app"]
        access.revoke_grant(uow=uow, actor=_holder(patient_id), patient_id=patient_id, grant_id=grant.id)
        uow.commit()
    with platform.uow() as uow:
        assert catalogue.token_refusal(uow=uow, connection_id=issued.connection_id, app_id=app_id) is not None


def test_the_code_is_bound_to_the_app_the_redirect_uri_the_verifier_and_its_minute(
    platform: Platform, clock: FrozenClock
) -> None:
    import datetime as dt

    app_id = referenced_app(platform)
    patient_id = qualified_patient(platform)
    cases = [
        ({"client_id": "another-app"}, "autre application"),
        ({"redirect_uri": "http://127.0.0.1:8765/ailleurs"}, "redirect_uri différente"),
        ({"verifier": "x" * 50}, "ne correspond pas"),
        ({"verifier": None}, "absent ou mal formé"),
    ]
    for change, reason in cases:
        code, verifier = _connected(platform, patient_id, app_id, frozenset({"11"}))
        values = {"client_id": app_id, "code": code, "redirect_uri": CALLBACK, "verifier": verifier, **change}
        with platform.uow() as uow:
            with pytest.raises(catalogue.TokenRequestError, match=reason):
                catalogue.redeem(uow=uow, **values)  # type: ignore[arg-type]
    code, verifier = _connected(platform, patient_id, app_id, frozenset({"11"}))
    clock.advance(dt.timedelta(seconds=61))
    with platform.uow() as uow, pytest.raises(catalogue.TokenRequestError, match="expiré"):
        catalogue.redeem(uow=uow, client_id=app_id, code=code, redirect_uri=CALLBACK, verifier=verifier)
    with platform.uow() as uow:  # each new connection replaced the previous one: one remains open
        found = catalogue.connections(uow=uow, actor=_holder(patient_id), patient_id=patient_id)
        assert [c.active for c in found].count(True) == 1
        assert {c.connection.ended_reason for c in found if not c.active} == {"replaced"}


def test_a_connection_beyond_the_convention_is_refused(platform: Platform) -> None:
    app_id = referenced_app(platform, granted=("11",))
    patient_id = qualified_patient(platform)
    with pytest.raises(ValidationError, match="hors de la convention de l'application : Constantes de santé"):
        _connected(platform, patient_id, app_id, frozenset({"11", "vitals"}))
    with platform.uow() as uow:
        assert [g for g in uow.access.grants(patient_id) if g.grantee_kind == "app"] == []


def test_bad_applications_are_refused_with_every_reason_and_nothing_stored(platform: Platform) -> None:
    bad = tensio(name="T", categories=["11", "jambon"], redirect_uris=["http://tensio-app.fr/cb", "https://x/#f"],
                 security_statement="ok", ethics_commitments=[], website="ftp://tensio")  # fmt: skip
    with platform.uow() as uow:
        with pytest.raises(ValidationError) as refused:
            catalogue.apply(uow=uow, member=PUBLISHER, application=bad)
        for reason in ("nom de l'application : 2 caractères au moins", "catégories de données inconnues : jambon",
                       "http hors de la boucle locale", "fragment", "déclaration de sécurité : 20 caractères",
                       "au moins un engagement éthique", "site de l'application"):  # fmt: skip
            assert reason in refused.value.message
        with pytest.raises(Forbidden, match="compte de l'éditeur"):
            catalogue.apply(uow=uow, member=COMMISSION, application=tensio())
        assert catalogue.list_apps(uow=uow) == []


def test_review_sign_and_refuse_keep_their_rules(platform: Platform) -> None:
    with platform.uow() as uow:
        app_id = catalogue.apply(uow=uow, member=PUBLISHER, application=tensio())
        with pytest.raises(Conflict, match="déjà au catalogue"):
            catalogue.apply(uow=uow, member=PUBLISHER, application=tensio())
        with pytest.raises(Conflict, match="après l'avis de la commission"):
            catalogue.sign(uow=uow, member=OPERATOR, app_id=app_id, categories=["11"], months=12)
        with pytest.raises(ValidationError) as refused:
            catalogue.review(uow=uow, member=COMMISSION, app_id=app_id, assessments=all_met()[:5],
                             opinion=Opinion.FAVOURABLE, comment="ok")  # fmt: skip
        assert "critères non examinés" in refused.value.message
        with pytest.raises(ValidationError, match="critère obligatoire rempli ; non remplis : SECU-HDS"):
            catalogue.review(uow=uow, member=COMMISSION, app_id=app_id, assessments=all_met(**{"SECU-HDS": "non"}),
                             opinion=Opinion.FAVOURABLE, comment="favorable")  # fmt: skip
        reviewer = catalogue.Member(role=Role.COMMISSION, id=PUBLISHER.id)
        with pytest.raises(Forbidden, match="propre candidature"):
            catalogue.review(uow=uow, member=reviewer, app_id=app_id, assessments=all_met(),
                             opinion=Opinion.FAVOURABLE, comment="favorable")  # fmt: skip
        catalogue.review(uow=uow, member=COMMISSION, app_id=app_id, assessments=all_met(**{"SECU-HDS": "non"}),
                         opinion=Opinion.UNFAVOURABLE, comment="hébergeur non certifié")  # fmt: skip
        with pytest.raises(Conflict, match="pas favorable"):
            catalogue.sign(uow=uow, member=OPERATOR, app_id=app_id, categories=["11"], months=12)
        catalogue.review(uow=uow, member=COMMISSION, app_id=app_id, assessments=all_met(),
                         opinion=Opinion.FAVOURABLE, comment="hébergeur certifié depuis")  # fmt: skip
        with pytest.raises(ValidationError) as refused:
            catalogue.sign(uow=uow, member=OPERATOR, app_id=app_id, categories=["11", "agenda"], months=61)
        assert (
            "non demandées par l'éditeur : Agenda" in refused.value.message
            and "de 1 à 60 mois" in refused.value.message
        )
        with pytest.raises(Forbidden, match="ni l'éditeur ni le membre"):
            catalogue.sign(uow=uow, member=catalogue.Member(role=Role.OPERATOR, id=COMMISSION.id), app_id=app_id,
                           categories=["11"], months=12)  # fmt: skip
        with pytest.raises(ValidationError, match="motif du refus"):
            catalogue.refuse(uow=uow, member=OPERATOR, app_id=app_id, reason="non")
        catalogue.refuse(uow=uow, member=OPERATOR, app_id=app_id, reason="service redondant avec l'existant")
        with pytest.raises(Conflict, match="seul un référencement se retire"):
            catalogue.withdraw(uow=uow, member=OPERATOR, app_id=app_id, reason="sans objet")
        assert catalogue.get_app(uow=uow, app_id=app_id).status == Status.REFUSED.value
        uow.commit()

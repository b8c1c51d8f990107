"""Writing audit entries in the same transaction as the change they trace, and reading a holder's history.

Every entry says when (UTC, from the injected clock), who (kind, id, name, profession, organisation,
authentication method), on whose record, what, with which decision and reasons, in which mode (normal,
emergency, regulation) and for which request; :mod:`carnet.audit.store` chains it to the patient's chain.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from carnet.audit.model import AccessMode, decision_json, jsonable
from carnet.audit.store import AuditRow

if TYPE_CHECKING:
    from carnet.storage.uow import UnitOfWork

__all__ = [
    "ACTION_LABELS",
    "AccessEntry",
    "AuditActor",
    "action_label",
    "build_entry",
    "current_request_id",
    "entry_values",
    "history",
    "history_rows",
    "profession_label",
    "record",
    "record_now",
    "request_context",
    "to_access_entry",
]


class _HasValue(Protocol):
    @property
    def value(self) -> str: ...


class AuditActor(Protocol):
    """Whoever acts: ``kind.value`` and ``id`` are required; ``name``, ``profession`` (or ``profession_code``),
    ``organisation_name`` and ``auth_method`` are read when the object has them."""

    @property
    def kind(self) -> _HasValue: ...

    @property
    def id(self) -> str: ...


_request_id: ContextVar[str | None] = ContextVar("carnet_audit_request_id", default=None)


def current_request_id() -> str | None:
    """The request id set by :func:`request_context` for the code running now, if any."""
    return _request_id.get()


@contextmanager
def request_context(request_id: str) -> Iterator[None]:
    """Every entry recorded inside the block carries ``request_id`` (unless given one explicitly)."""
    token = _request_id.set(request_id)
    try:
        yield
    finally:
        _request_id.reset(token)


# Keys whose value may be clinical content or free text about the patient: never written to the trail (the
# threat: the audit trail, read by administrators, becoming a copy of the record). Which keys were erased is.
_ERASED_KEYS = frozenset({"content", "body", "text", "query", "clinical", "clinical_text"})


def _masked(detail: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if detail is None:
        return None
    erased: list[str] = []

    def walk(value: Any, path: str) -> Any:
        if isinstance(value, Mapping):
            out = {}
            for key, item in value.items():
                where = f"{path}.{key}" if path else str(key)
                if str(key) in _ERASED_KEYS:
                    erased.append(where)
                    continue
                out[str(key)] = walk(item, where)
            return out
        if isinstance(value, list | tuple):
            return [walk(item, f"{path}[{i}]") for i, item in enumerate(value)]
        return value

    result: dict[str, Any] = walk(detail, "")
    if erased:
        result["erased"] = sorted(erased)
    return jsonable(result)


def _text(value: Any, limit: int) -> str | None:
    """An attribute as short text: strings as they are, enums by value, objects by ``code``; cut to ``limit``."""
    if value is None:
        return None
    if not isinstance(value, str):
        value = getattr(value, "code", None) or getattr(value, "value", None) or str(value)
        value = str(getattr(value, "value", value))
    return value[:limit] if value else None


def entry_values(
    *,
    at: dt.datetime,
    actor: AuditActor,
    action: str,
    patient_id: str | None,
    outcome: str = "success",
    detail: Mapping[str, Any] | None = None,
    mode: AccessMode | str = AccessMode.NORMAL,
    decision: Any = None,
    request_id: str | None = None,
    actor_name: str | None = None,
    actor_profession: str | None = None,
    actor_organisation: str | None = None,
    auth_method: str | None = None,
) -> dict[str, Any]:
    """The columns of one entry, not yet chained: explicit arguments win over what the actor object carries."""
    profession = actor_profession or getattr(actor, "profession", None) or getattr(actor, "profession_code", None)
    organisation = (
        actor_organisation or getattr(actor, "organisation_name", None) or getattr(actor, "organisation", None)
    )
    if organisation is not None and not isinstance(organisation, str):
        organisation = getattr(organisation, "name", None) or str(organisation)
    return {
        "at": at,
        "actor_kind": str(actor.kind.value),
        "actor_id": str(actor.id)[:64],
        "actor_name": _text(actor_name or getattr(actor, "name", None), 200),
        "actor_profession": _text(profession, 16),
        "actor_organisation": _text(organisation, 255),
        "auth_method": _text(auth_method or getattr(actor, "auth_method", None), 40),
        "action": action[:40],
        "patient_id": patient_id,
        "outcome": outcome[:10],
        "mode": AccessMode(mode).value,
        "decision": decision_json(decision),
        "detail": _masked(detail),
        "request_id": _text(request_id or current_request_id(), 64),
    }


def build_entry(**kwargs: Any) -> AuditRow:
    """One entry as an :class:`AuditRow`, not yet chained (same arguments as :func:`entry_values`)."""
    return AuditRow(**entry_values(**kwargs))


def record(
    *,
    uow: UnitOfWork,
    actor: AuditActor,
    action: str,
    patient_id: str | None,
    outcome: str = "success",
    detail: dict[str, Any] | None = None,
    mode: AccessMode | str = AccessMode.NORMAL,
    decision: Any = None,
    request_id: str | None = None,
    actor_name: str | None = None,
    actor_profession: str | None = None,
    actor_organisation: str | None = None,
    auth_method: str | None = None,
) -> None:
    """Append one audit entry to the current unit of work (lost only if the change itself is lost)."""
    uow.audit.append_values(
        entry_values(
            at=uow.clock.now(),
            actor=actor,
            action=action,
            patient_id=patient_id,
            outcome=outcome,
            detail=detail,
            mode=mode,
            decision=decision,
            request_id=request_id,
            actor_name=actor_name,
            actor_profession=actor_profession,
            actor_organisation=actor_organisation,
            auth_method=auth_method,
        )
    )


def record_now(
    *,
    uow: UnitOfWork,
    actor: AuditActor,
    action: str,
    patient_id: str | None,
    outcome: str = "denied",
    detail: dict[str, Any] | None = None,
    mode: AccessMode | str = AccessMode.NORMAL,
    decision: Any = None,
    request_id: str | None = None,
) -> AuditRow:
    """Trace a refused attempt in its own transaction: it stays traced though the unit of work is rolled back."""
    row = build_entry(
        at=uow.clock.now(),
        actor=actor,
        action=action,
        patient_id=patient_id,
        outcome=outcome,
        detail=detail,
        mode=mode,
        decision=decision,
        request_id=request_id,
    )
    uow.append_audit_now(row)
    return row


# --- the holder's access history --------------------------------------------------------------------------------

ACTION_LABELS = {
    "identity.create": "création de l'identité",
    "identity.read": "consultation de l'identité",
    "identity.find_by_ins": "recherche du dossier par INS",
    "identity.search": "recherche d'identité",
    "identity.collisions": "recherche de doublons",
    "identity.insi_call": "appel au téléservice INSi",
    "identity.attach_ins": "rattachement de l'INS",
    "identity.change_traits": "modification des traits d'identité",
    "identity.merge": "fusion de dossiers",
    "identity.merged_into": "dossier fusionné dans un autre",
    "identity.history": "consultation de l'historique de l'identité",
    "identity.insi_match": "qualification par le téléservice INSi",
    "identity.id_document": "contrôle d'une pièce d'identité",
    "identity.exception_attestation": "procédure d'exception (attestation du médecin)",
    "document.deposit": "dépôt d'un document",
    "document.deposit_repeat": "nouvel envoi d'un document déjà déposé",
    "document.list": "liste des documents",
    "document.list_authored": "liste des documents rédigés par un professionnel",
    "document.search": "recherche dans les documents",
    "document.read": "lecture d'un document",
    "document.read_metadata": "consultation de la fiche d'un document",
    "document.hide": "masquage d'un document aux professionnels",
    "document.show": "démasquage d'un document",
    "document.hold_back": "document rendu invisible au patient",
    "document.release": "document rendu visible au patient",
    "document.representatives": "visibilité d'un document pour les représentants légaux",
    "document.delete": "suppression d'un document",
    "document.deposit_denied": "dépôt refusé",
    "audit.history": "consultation de l'historique des accès",
    "document.replace": "remplacement d'un document",
    "document.set_representative_visibility": "visibilité d'un document pour les représentants légaux",
    "record.list": "accès à la liste des documents",
    "record.search": "recherche dans le dossier",
    "record.read": "accès au dossier",
    "record.manage_consent": "gestion des accès au dossier",
    "record.read_audit": "consultation de l'historique des accès",
    "consent.medecin_traitant": "déclaration du médecin traitant",
    "consent.care_team_join": "entrée dans l'équipe de soins, le patient informé",
    "consent.care_team_refusal": "refus d'un membre de l'équipe de soins",
    "consent.explicit": "consentement du patient recueilli en consultation",
    "consent.explicit_withdrawn": "retrait d'un consentement",
    "consent.opposition": "opposition à un professionnel ou à un établissement",
    "consent.opposition_lifted": "levée d'une opposition",
    "consent.emergency_setting": "réglage de l'accès en urgence",
    "consent.space_status": "changement d'état de l'espace santé",
    "consent.grant": "autorisation d'accès donnée",
    "consent.grant_revoked": "retrait d'une autorisation d'accès",
    "consent.representative": "enregistrement d'un représentant légal",
    "consent.list": "consultation des réglages d'accès",
    "consent.read": "consultation d'un réglage d'accès",
    "emergency.declare": "déclaration d'un accès en urgence (bris de glace)",
    "message.send": "envoi d'un message",
    "message.send_denied": "envoi d'un message refusé",
    "message.receive": "réception d'un message",
    "message.read": "lecture d'un message",
    "message.list": "liste des messages",
    "message.search": "recherche dans les messages",
    "message.mark_read": "accusé de lecture d'un message",
    "message.close": "clôture d'une conversation",
    "message.close_denied": "clôture d'une conversation refusée",
    "message.mailbox": "création de la messagerie sécurisée du patient",
    "message.mailbox_denied": "accès à une messagerie refusé",
    "message.attach": "document du dossier joint à un message",
    "message.attachment": "lecture d'une pièce jointe",
    "message.offer": "document reçu par messagerie, à intégrer",
    "message.offer_integrated": "document reçu par messagerie intégré au dossier",
    "message.offer_rejected": "document reçu par messagerie écarté",
    "sharing.share": "partage d'un document (dossier et messageries)",
    "sharing.share_repeat": "nouveau partage d'un document déjà partagé",
    "sharing.share_refused": "partage d'un document refusé",
    "sharing.release": "envoi au patient d'un document rendu visible",
    "sharing.report": "rapport de conformité des partages",
    "profile.vital_add": "ajout d'une mesure (constantes de santé)",
    "profile.vital_list": "consultation des constantes de santé",
    "profile.vital_read": "consultation d'une mesure",
    "profile.vital_remove": "retrait d'une mesure saisie par erreur",
    "profile.vital_refused": "mesure refusée",
    "profile.immunization_add": "ajout d'une vaccination",
    "profile.immunization_list": "consultation des vaccinations",
    "profile.immunization_read": "consultation d'une vaccination",
    "profile.immunization_refused": "vaccination refusée",
    "profile.allergy_add": "ajout d'une allergie",
    "profile.allergy_list": "consultation des allergies",
    "profile.allergy_read": "consultation d'une allergie",
    "profile.allergy_refused": "allergie refusée",
    "profile.questionnaire_save": "mise à jour du profil médical (questionnaire de santé)",
    "profile.questionnaire_read": "consultation du profil médical",
    "profile.questionnaire_list": "consultation des versions du profil médical",
    "profile.questionnaire_refused": "mise à jour du profil médical refusée",
    "catalogue.apply": "candidature d'une application au référencement",
    "catalogue.review": "examen d'une application par la commission de référencement",
    "catalogue.sign": "signature de la convention de référencement d'une application",
    "catalogue.refuse": "refus du référencement d'une application",
    "catalogue.withdraw": "retrait du référencement d'une application",
    "catalogue.withdrawal_disconnect": "application déconnectée : son référencement a été retiré",
    "catalogue.connections": "consultation des applications connectées",
    "catalogue.connect": "connexion d'une application référencée",
    "catalogue.disconnect": "déconnexion d'une application référencée",
    "catalogue.authorize_refused": "demande d'accès d'une application refusée",
    "catalogue.token": "jeton d'accès remis à une application connectée",
    "space.export": "export du dossier",
    "space.everything": "lecture de tout le dossier (Patient/$everything)",
    "space.campaign_create": "création d'une campagne d'ouverture des espaces santé",
    "space.campaign_member": "inclusion dans une campagne d'ouverture de l'espace santé",
    "space.campaign_run": "envoi des informations d'une campagne d'ouverture",
    "space.inform": "information sur la création de l'espace santé (courriel ou courrier)",
    "space.open": "ouverture de l'espace santé, sans opposition dans les six semaines",
    "space.oppose": "opposition à la création de l'espace santé",
    "space.oppose_refused": "opposition à la création de l'espace santé refusée",
    "space.close": "fermeture de l'espace santé",
    "space.reopen": "réouverture de l'espace santé",
    "space.purge": "suppression des documents d'un espace fermé, durée de conservation écoulée",
    "space.purge_blobs": "effacement des contenus des documents supprimés",
    "space.admin_read": "consultation des données administratives de l'espace",
    "space.contact_update": "mise à jour des coordonnées",
    "space.representative_contact": "enregistrement des coordonnées d'un représentant légal",
    "space.majority": "majorité : l'espace passe au titulaire, ses représentants perdent l'accès",
    "space.protection": "enregistrement d'une mesure de protection",
    "space.protection_end": "fin de la mesure de protection : l'espace passe au titulaire",
    "space.letters_export": "courriers remis à l'impression",
    "agenda.event_add": "ajout d'un événement à l'agenda",
    "agenda.event_list": "consultation de l'agenda",
    "agenda.event_read": "consultation d'un événement de l'agenda",
    "agenda.event_cancel": "annulation d'un événement de l'agenda",
    "agenda.event_refused": "événement de l'agenda refusé",
    "agenda.feed_token": "adresse secrète de l'agenda (iCalendar) créée",
    "agenda.feed_regenerate": "nouvelle adresse secrète de l'agenda (l'ancienne ne fonctionne plus)",
    "agenda.feed_revoke": "adresse secrète de l'agenda révoquée",
    "agenda.feed_read": "lecture de l'agenda par son adresse secrète (iCalendar)",
    "agenda.reminder": "rappel d'un événement de l'agenda",
    "reimbursement.import": "import des données de remboursement de l'Assurance Maladie",
    "reimbursement.import_refused": "import des données de remboursement refusé",
    "reimbursement.list": "consultation des remboursements",
    "reimbursement.read": "consultation d'un remboursement",
}

OUTCOME_LABELS = {"success": "réussi", "denied": "refusé", "failure": "échec", "error": "erreur"}
KIND_LABELS = {
    "professional": "professionnel de santé",
    "secretariat": "secrétariat",
    "patient": "titulaire",
    "representative": "représentant légal",
    "app": "application référencée",
    "system": "système",
    "operator": "opérateur de la plateforme",
}


def action_label(action: str) -> str:
    """The French label of an action code (the code itself when it has none)."""
    return ACTION_LABELS.get(action, action)


@dataclass(frozen=True, slots=True)
class AccessEntry:
    """One line of the holder's access history."""

    id: int
    chain_seq: int
    at: dt.datetime
    actor_kind: str
    actor_id: str
    actor_name: str | None
    actor_profession: str | None
    profession_label: str | None
    actor_organisation: str | None
    auth_method: str | None
    action: str
    action_label: str
    mode: AccessMode
    outcome: str
    document_id: str | None
    reasons: tuple[str, ...]
    request_id: str | None

    @property
    def emergency(self) -> bool:
        return self.mode.is_emergency

    @property
    def who(self) -> str:
        """``Dr Ada Lovelace (Médecin, CH de Reims)``; the id when the name is unknown."""
        name = self.actor_name or f"{KIND_LABELS.get(self.actor_kind, self.actor_kind)} {self.actor_id}"
        extra = ", ".join(p for p in (self.profession_label, self.actor_organisation) if p)
        return f"{name} ({extra})" if extra else name

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "chain_seq": self.chain_seq,
            "at": self.at.isoformat(),
            "who": {
                "kind": self.actor_kind,
                "id": self.actor_id,
                "name": self.actor_name,
                "profession": self.actor_profession,
                "profession_label": self.profession_label,
                "organisation": self.actor_organisation,
                "auth_method": self.auth_method,
            },
            "action": self.action,
            "what": self.action_label,
            "mode": self.mode.value,
            "emergency": self.emergency,
            "outcome": self.outcome,
            "document": self.document_id,
            "reasons": list(self.reasons),
            "request_id": self.request_id,
        }


def profession_label(code: str | None) -> str | None:
    """The TRE_G15 label of a profession code (``10`` → ``Médecin``)."""
    if not code:
        return None
    from carnet.record.valuesets import value_sets

    return value_sets().profession.label(code)


def to_access_entry(row: AuditRow) -> AccessEntry:
    """The history line of one entry."""
    detail = row.detail or {}
    reasons: list[str] = []
    if row.decision:
        reasons += [str(r) for r in row.decision.get("reasons", [])]
    if detail.get("reason"):
        reasons.append(str(detail["reason"]))
    document = detail.get("document")
    return AccessEntry(
        id=row.id,
        chain_seq=row.chain_seq,
        at=row.at,
        actor_kind=row.actor_kind,
        actor_id=row.actor_id,
        actor_name=row.actor_name,
        actor_profession=row.actor_profession,
        profession_label=profession_label(row.actor_profession),
        actor_organisation=row.actor_organisation,
        auth_method=row.auth_method,
        action=row.action,
        action_label=action_label(row.action),
        mode=AccessMode(row.mode),
        outcome=row.outcome,
        document_id=str(document) if document else None,
        reasons=tuple(reasons),
        request_id=row.request_id,
    )


def history_rows(*, uow: UnitOfWork, actor: AuditActor, patient_id: str) -> list[AuditRow]:
    """The patient's entries in chain order; reading them is itself traced (after they are read)."""
    rows = uow.audit.chain(patient_id)
    record(uow=uow, actor=actor, action="audit.history", patient_id=patient_id, detail={"returned": len(rows)})
    return rows


def history(*, uow: UnitOfWork, actor: AuditActor, patient_id: str) -> list[AccessEntry]:
    """The holder's access history, oldest first (who, when, what, mode, outcome); the reading is traced."""
    return [to_access_entry(row) for row in history_rows(uow=uow, actor=actor, patient_id=patient_id)]

"""French texts of the notifications (``string.Template``; missing fields are replaced by neutral words)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from string import Template
from typing import Any


class NotificationKind(StrEnum):
    FIRST_ACCESS = "first_access"
    DOCUMENT_ADDED = "document_added"
    DOCUMENT_REPLACED = "document_replaced"
    DOCUMENT_DELETED = "document_deleted"
    EMERGENCY_ACCESS = "emergency_access"
    SPACE = "space"  # the life of the space (carnet/space): opening, opposition, closure, majority; text in "reason"
    AGENDA_REMINDER = "agenda_reminder"  # carnet/space/agenda.py: the day before an event


@dataclass(frozen=True)
class Rendered:
    title: str
    body: str


_TEMPLATES: dict[NotificationKind, tuple[Template, Template]] = {
    NotificationKind.FIRST_ACCESS: (
        Template("Premier accès à votre dossier médical"),
        Template(
            "Le $date à $time, $actor a consulté votre dossier médical pour la première fois.\n"
            "Si vous ne connaissez pas ce professionnel, vous pouvez vous opposer à son accès "
            "depuis la rubrique « Qui a accès » de votre espace."
        ),
    ),
    NotificationKind.DOCUMENT_ADDED: (
        Template("Nouveau document dans votre dossier médical"),
        Template("Le $date à $time, $actor a ajouté le document « $document » à votre dossier médical."),
    ),
    NotificationKind.DOCUMENT_REPLACED: (
        Template("Document mis à jour dans votre dossier médical"),
        Template(
            "Le $date à $time, $actor a remplacé le document « $document » de votre dossier médical "
            "par une nouvelle version."
        ),
    ),
    NotificationKind.DOCUMENT_DELETED: (
        Template("Document supprimé de votre dossier médical"),
        Template("Le $date à $time, $actor a supprimé le document « $document » de votre dossier médical."),
    ),
    NotificationKind.EMERGENCY_ACCESS: (
        Template("Accès en urgence à votre dossier médical"),
        Template(
            "Le $date à $time, $actor a accédé à votre dossier médical en situation d'urgence.\nMotif indiqué : $reason"
        ),
    ),
    NotificationKind.AGENDA_REMINDER: (
        Template("Rappel : $document demain"),
        Template("Rappel de votre agenda santé : « $document » le $event_at$place."),
    ),
    NotificationKind.SPACE: (Template("Votre espace santé"), Template("$reason")),
}

_FOOTER = (
    "\n\nRetrouvez le détail dans l'historique des accès de votre espace santé.\n"
    "Ce message vous est envoyé automatiquement, merci de ne pas y répondre. "
    "Vous pouvez désactiver ces courriels dans les préférences de votre espace."
)


def render(kind: NotificationKind, *, at: dt.datetime, actor_label: str, detail: Mapping[str, Any]) -> Rendered:
    """The title and body of a notification in French (times in UTC, as stored)."""
    title_t, body_t = _TEMPLATES[kind]
    at = at.astimezone(dt.UTC)
    fields = {
        "actor": actor_label or "un utilisateur",
        "date": at.strftime("%d/%m/%Y"),
        "time": at.strftime("%H h %M (UTC)"),
        "document": str(detail.get("document_title") or "sans titre"),
        "reason": str(detail.get("reason") or "non précisé"),
        "event_at": str(detail.get("event_at") or ""),
        "place": f", {detail['place']}" if detail.get("place") else "",
    }
    return Rendered(title=title_t.substitute(fields), body=body_t.substitute(fields))


def email_body(rendered: Rendered) -> str:
    return "Bonjour,\n\n" + rendered.body + _FOOTER + "\n"

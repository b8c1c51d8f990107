"""The portals' messages in French (default) and English; the language comes from ``?lang=`` or the ``lang``
cookie."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request

from carnet.web.i18n_agenda import MESSAGES as _agenda_messages
from carnet.web.i18n_catalogue import MESSAGES as _catalogue_messages
from carnet.web.i18n_export import MESSAGES as _export_messages
from carnet.web.i18n_lifecycle import MESSAGES as _lifecycle_messages
from carnet.web.i18n_messages import MESSAGES as _message_messages
from carnet.web.i18n_pro import MESSAGES as _pro_messages
from carnet.web.i18n_profile import MESSAGES as _profile_messages
from carnet.web.i18n_signin import MESSAGES as _signin_messages
from carnet.web.i18n_space import MESSAGES as _space_messages

LANGUAGES = ("fr", "en")
DEFAULT = "fr"
COOKIE = "lang"

MESSAGES: dict[str, dict[str, str]] = {
    "fr": {
        "site.name": "Carnet",
        "site.tagline": "Mon espace santé",
        "skip": "Aller au contenu",
        "nav.label": "Navigation principale",
        "nav.home": "Accueil",
        "nav.documents": "Mes documents",
        "lang.switch": "English",
        "lang.switch.label": "Switch to English",
        "signin": "Se connecter",
        "signout": "Se déconnecter",
        "signin.title": "Connexion",
        "signin.intro": "Connectez-vous avec votre compte FranceConnect (patients) ou Pro Santé Connect "
        "(professionnels).",
        "signin.failed": "La connexion a échoué",
        "signin.retry": "Réessayer",
        "signin.dev": "Environnement de développement : le fournisseur d'identité de démonstration liste des "
        "personnes fictives.",
        "home.hello": "Bonjour {name}",
        "home.notifications": "Mes notifications",
        "home.no_notifications": "Aucune notification.",
        "home.mark_read": "Marquer comme lue",
        "home.latest": "Mes derniers documents",
        "home.all_documents": "Voir tous mes documents",
        "home.pro": "Espace professionnel",
        "home.pro.todo": "L'accès professionnel au dossier est en cours de construction.",
        "docs.title": "Mes documents",
        "docs.none": "Aucun document.",
        "docs.search": "Rechercher dans mes documents",
        "docs.search.button": "Rechercher",
        "docs.search.results": "{count} résultat(s) pour « {query} »",
        "docs.search.clear": "Effacer la recherche",
        "docs.filter": "Filtrer mes documents",
        "docs.filter.class": "Catégorie",
        "docs.filter.all": "Toutes",
        "docs.filter.by": "Déposé par",
        "docs.filter.by.pro": "Un professionnel de santé",
        "docs.filter.by.me": "Moi",
        "docs.filter.from": "Du",
        "docs.filter.to": "Au",
        "docs.filter.apply": "Filtrer",
        "docs.filter.clear": "Retirer les filtres",
        "docs.filter.refused": "Un filtre n'a pas été compris et n'est pas appliqué.",
        "docs.duplicate": "Doublon possible",
        "docs.hidden": "Masqué aux professionnels",
        "docs.col.title": "Document",
        "docs.col.date": "Date",
        "docs.col.author": "Auteur",
        "doc.download": "Télécharger le fichier original",
        "doc.back": "Retour à mes documents",
        "doc.not_rendered": "Ce document n'a pas de rendu à l'écran ; téléchargez-le pour le consulter.",
        "doc.hide": "Masquer aux professionnels",
        "doc.show": "Rendre visible aux professionnels",
        "doc.hidden_notice": "Ce document est masqué : les professionnels qui accèdent à votre dossier ne le voient "
        "pas.",
        "doc.visible_notice": "Ce document est visible des professionnels autorisés à accéder à votre dossier.",
        "doc.hidden_done": "Le document est maintenant masqué aux professionnels.",
        "doc.shown_done": "Le document est de nouveau visible des professionnels.",
        "error.title": "Une erreur est survenue",
        "error.forbidden": "Accès refusé",
        "error.not_found": "Page introuvable",
        "error.csrf": "Le formulaire a expiré ; rechargez la page et recommencez.",
        "error.home": "Retour à l'accueil",
        "footer.text": "Carnet — service public numérique de santé (démonstration). Données fictives.",
        "footer.accessibility": "Accessibilité : partiellement conforme (audit à venir)",
        "history.title": "Historique des accès",
        "history.intro": "Qui a consulté ou modifié votre dossier, quand, et comment. Les accès en urgence sont "
        "signalés.",
        "history.filter": "Filtrer",
        "history.filter.who": "Personne (nom, profession, établissement)",
        "history.filter.mode": "Mode d'accès",
        "history.filter.mode.all": "Tous",
        "history.filter.mode.emergency": "Urgence seulement",
        "history.filter.apply": "Appliquer",
        "history.count": "{shown} accès affiché(s) sur {total}",
        "history.col.when": "Quand",
        "history.col.who": "Qui",
        "history.col.what": "Quoi",
        "history.col.how": "Comment",
        "history.document": "voir le document",
        "history.none": "Aucun accès ne correspond.",
        "history.outcome.success": "autorisé",
        "history.outcome.denied": "refusé",
        "history.outcome.other": "échec",
        "nav.history": "Historique des accès",
    },
    "en": {
        "site.name": "Carnet",
        "site.tagline": "My health space",
        "skip": "Skip to content",
        "nav.label": "Main navigation",
        "nav.home": "Home",
        "nav.documents": "My documents",
        "lang.switch": "Français",
        "lang.switch.label": "Passer en français",
        "signin": "Sign in",
        "signout": "Sign out",
        "signin.title": "Sign in",
        "signin.intro": "Sign in with your FranceConnect account (patients) or Pro Santé Connect (professionals).",
        "signin.failed": "Sign-in failed",
        "signin.retry": "Try again",
        "signin.dev": "Development environment: the demonstration identity provider lists fictitious people.",
        "home.hello": "Hello {name}",
        "home.notifications": "My notifications",
        "home.no_notifications": "No notifications.",
        "home.mark_read": "Mark as read",
        "home.latest": "My latest documents",
        "home.all_documents": "See all my documents",
        "home.pro": "Professional space",
        "home.pro.todo": "Professional access to records is being built.",
        "docs.title": "My documents",
        "docs.none": "No documents.",
        "docs.search": "Search my documents",
        "docs.search.button": "Search",
        "docs.search.results": "{count} result(s) for “{query}”",
        "docs.search.clear": "Clear the search",
        "docs.filter": "Filter my documents",
        "docs.filter.class": "Category",
        "docs.filter.all": "All",
        "docs.filter.by": "Deposited by",
        "docs.filter.by.pro": "A health professional",
        "docs.filter.by.me": "Me",
        "docs.filter.from": "From",
        "docs.filter.to": "To",
        "docs.filter.apply": "Filter",
        "docs.filter.clear": "Remove the filters",
        "docs.filter.refused": "A filter was not understood and is not applied.",
        "docs.duplicate": "Possible duplicate",
        "docs.hidden": "Hidden from professionals",
        "docs.col.title": "Document",
        "docs.col.date": "Date",
        "docs.col.author": "Author",
        "doc.download": "Download the original file",
        "doc.back": "Back to my documents",
        "doc.not_rendered": "This document cannot be shown on screen; download it to read it.",
        "doc.hide": "Hide from professionals",
        "doc.show": "Show to professionals",
        "doc.hidden_notice": "This document is hidden: professionals who access your record do not see it.",
        "doc.visible_notice": "This document is visible to the professionals allowed to access your record.",
        "doc.hidden_done": "The document is now hidden from professionals.",
        "doc.shown_done": "The document is visible to professionals again.",
        "error.title": "Something went wrong",
        "error.forbidden": "Access denied",
        "error.not_found": "Page not found",
        "error.csrf": "The form has expired; reload the page and try again.",
        "error.home": "Back to the home page",
        "footer.text": "Carnet — digital public health service (demonstration). Fictitious data.",
        "footer.accessibility": "Accessibility: partially compliant (audit to come)",
        "history.title": "Access history",
        "history.intro": "Who read or changed your record, when, and how. Emergency accesses are marked.",
        "history.filter": "Filter",
        "history.filter.who": "Person (name, profession, organisation)",
        "history.filter.mode": "Access mode",
        "history.filter.mode.all": "All",
        "history.filter.mode.emergency": "Emergency only",
        "history.filter.apply": "Apply",
        "history.count": "{shown} access(es) shown out of {total}",
        "history.col.when": "When",
        "history.col.who": "Who",
        "history.col.what": "What",
        "history.col.how": "How",
        "history.document": "see the document",
        "history.none": "No access matches.",
        "history.outcome.success": "allowed",
        "history.outcome.denied": "refused",
        "history.outcome.other": "failed",
        "nav.history": "Access history",
    },
}


def _merge(*tables: dict[str, dict[str, str]]) -> None:
    """Add the messages of the other portals' tables; a key defined twice is a programming error."""
    for table in tables:
        for lang, messages in table.items():
            clash = MESSAGES[lang].keys() & messages.keys()
            if clash:
                raise RuntimeError(f"message keys defined twice: {sorted(clash)}")
            MESSAGES[lang].update(messages)


_merge(
    _pro_messages,
    _space_messages,
    _message_messages,
    _signin_messages,
    _catalogue_messages,
    _profile_messages,
    _agenda_messages,
    _export_messages,
    _lifecycle_messages,
)


def language(request: Request) -> str:
    """The page language: ``?lang=`` first, then the ``lang`` cookie, then French."""
    asked = request.query_params.get("lang") or request.cookies.get(COOKIE) or DEFAULT
    return asked if asked in LANGUAGES else DEFAULT


def translator(lang: str) -> Callable[..., str]:
    """``t(key, **values)``: the message in ``lang`` (French when missing), formatted with ``values``."""
    messages = MESSAGES.get(lang, MESSAGES[DEFAULT])

    def t(key: str, **values: object) -> str:
        text = messages.get(key) or MESSAGES[DEFAULT].get(key, key)
        return text.format(**values) if values else text

    return t

"""The messages of the page to choose a sign-in provider (patients' or professionals'), French default and English,
merged into ``carnet.web.i18n.MESSAGES``."""

from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {
    "fr": {
        "signin.choose.title": "Choisir comment se connecter",
        "signin.choose.intro": "Choisissez le service d'identification qui correspond à votre situation. Une fois "
        "connecté, vous reviendrez à la page demandée.",
        "signin.choose.unknown": "Ce moyen de connexion n'existe pas ; choisissez l'un de ceux-ci.",
        "signin.choose.patient": "Vous êtes patient ou représentant légal",
        "signin.choose.patient.hint": "Pour accéder à votre espace santé (ou à celui d'une personne que vous "
        "représentez).",
        "signin.choose.professional": "Vous êtes professionnel de santé",
        "signin.choose.professional.hint": "Avec votre carte CPS, votre e-CPS ou votre carte d'établissement (CPE).",
        "signin.choose.other": "Autres moyens de connexion",
        "signin.choose.other.hint": "Les autres services d'identification reconnus par cette plateforme.",
        "signin.choose.with": "Se connecter avec {label}",
    },
    "en": {
        "signin.choose.title": "Choose how to sign in",
        "signin.choose.intro": "Choose the identification service that matches your situation. Once signed in, you "
        "will come back to the page you asked for.",
        "signin.choose.unknown": "This sign-in option does not exist; choose one of these.",
        "signin.choose.patient": "You are a patient or a legal representative",
        "signin.choose.patient.hint": "To open your health space (or the space of someone you represent).",
        "signin.choose.professional": "You are a health professional",
        "signin.choose.professional.hint": "With your CPS card, your e-CPS or your staff card (CPE).",
        "signin.choose.other": "Other sign-in options",
        "signin.choose.other.hint": "The other identification services this platform accepts.",
        "signin.choose.with": "Sign in with {label}",
    },
}

"""The messages of the catalogue of referenced apps and of its consent screen, French default and English, merged
into ``carnet.web.i18n.MESSAGES``."""

from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {
    "fr": {
        "nav.apps": "Applications",
        "catalogue.title": "Applications référencées",
        "catalogue.intro": "Ces applications ont été examinées par la commission de référencement et ont signé une "
        "convention qui fixe les données qu'elles peuvent lire ou ajouter à votre espace, avec votre accord. Vous "
        "choisissez lesquelles connecter à votre espace, et vous pouvez les déconnecter à tout moment.",
        "catalogue.mine": "Mes applications connectées",
        "catalogue.mine.none": "Aucune application n'est connectée à cet espace.",
        "catalogue.list": "Le catalogue",
        "catalogue.list.none": "Aucune autre application référencée pour le moment.",
        "catalogue.publisher": "Éditeur : {publisher}",
        "catalogue.categories": "Données que la convention lui permet de lire, avec votre accord :",
        "catalogue.feeds": "Données que la convention lui permet d'ajouter à votre espace, avec votre accord :",
        "catalogue.convention_until": "Convention valable jusqu'au {date}.",
        "catalogue.connected": "Connectée",
        "catalogue.connected_since": "depuis le {date}",
        "catalogue.reads": "lit :",
        "catalogue.adds": "ajoute :",
        "catalogue.disconnect": "Déconnecter",
        "catalogue.how_to_connect": "Pour la connecter, ouvrez l'application : elle vous renverra ici pour "
        "donner votre accord.",
        "catalogue.website": "Site de l'application",
        "catalogue.done.deconnectee": "L'application « {app} » est déconnectée : elle n'a plus accès à vos données.",
        "catalogue.done.connectee": "L'application « {app} » est connectée.",
        "catalogue.done.refusee": "Vous avez refusé l'accès à l'application « {app} ».",
        "catalogue.patients": "Seuls le titulaire d'un espace santé et ses représentants légaux connectent une "
        "application.",
        "catalogue.consent.title": "Autoriser « {app} » à accéder à vos données",
        "catalogue.consent.invalid": "Demande d'autorisation invalide",
        "catalogue.consent.data": "Ce que l'application pourra lire",
        "catalogue.consent.scopes": "portées SMART on FHIR :",
        "catalogue.consent.read_only": "L'application pourra lire ces données ; elle ne pourra ni les modifier ni "
        "lire les documents que vous avez masqués.",
        "catalogue.consent.feeds": "Ce que l'application pourra ajouter à votre espace",
        "catalogue.consent.feeds_note": "L'application pourra ajouter ces données à votre espace, en son nom (elles "
        "y seront marquées comme venant d'elle) ; elle ne pourra ni modifier ni supprimer les vôtres, ni ajouter de "
        "documents, ni un événement passé à votre agenda.",
        "catalogue.consent.until": "Au plus tard jusqu'au {date}, fin de sa convention de référencement.",
        "catalogue.consent.revoke": "Vous pourrez la déconnecter à tout moment depuis « Applications » ou « Qui peut "
        "accéder ».",
        "catalogue.consent.accept": "Autoriser l'accès",
        "catalogue.consent.refuse": "Refuser",
    },
    "en": {
        "nav.apps": "Apps",
        "catalogue.title": "Referenced apps",
        "catalogue.intro": "These apps were reviewed by the referencing commission and signed a convention that sets "
        "which data they may read or add to your space, with your consent. You choose which ones to connect to your "
        "space, and you may disconnect them at any time.",
        "catalogue.mine": "My connected apps",
        "catalogue.mine.none": "No app is connected to this space.",
        "catalogue.list": "The catalogue",
        "catalogue.list.none": "No other referenced app for now.",
        "catalogue.publisher": "Publisher: {publisher}",
        "catalogue.categories": "Data its convention lets it read, with your consent:",
        "catalogue.feeds": "Data its convention lets it add to your space, with your consent:",
        "catalogue.convention_until": "Convention valid until {date}.",
        "catalogue.connected": "Connected",
        "catalogue.connected_since": "since {date}",
        "catalogue.reads": "reads:",
        "catalogue.adds": "adds:",
        "catalogue.disconnect": "Disconnect",
        "catalogue.how_to_connect": "To connect it, open the app: it will send you back here to give your consent.",
        "catalogue.website": "The app's website",
        "catalogue.done.deconnectee": "The app “{app}” is disconnected: it no longer has access to your data.",
        "catalogue.done.connectee": "The app “{app}” is connected.",
        "catalogue.done.refusee": "You refused access to the app “{app}”.",
        "catalogue.patients": "Only the holder of a health space and their legal representatives connect an app.",
        "catalogue.consent.title": "Allow “{app}” to access your data",
        "catalogue.consent.invalid": "Invalid authorization request",
        "catalogue.consent.data": "What the app will be able to read",
        "catalogue.consent.scopes": "SMART on FHIR scopes:",
        "catalogue.consent.read_only": "The app will be able to read these data; it will neither change them nor read "
        "the documents you hid.",
        "catalogue.consent.feeds": "What the app will be able to add to your space",
        "catalogue.consent.feeds_note": "The app will be able to add these data to your space, in its own name (they "
        "will be marked as coming from it); it will neither change nor delete yours, nor add documents, nor a past "
        "event to your agenda.",
        "catalogue.consent.until": "Until {date} at the latest, the end of its referencing convention.",
        "catalogue.consent.revoke": "You may disconnect it at any time from “Apps” or “Who may access”.",
        "catalogue.consent.accept": "Allow access",
        "catalogue.consent.refuse": "Refuse",
    },
}

"""The messages of « Mon export » (the export archive of the space), French default and English, merged into
``carnet.web.i18n.MESSAGES``."""

from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {
    "fr": {
        "export.title": "Exporter mes données",
        "export.intro": "Téléchargez en une seule archive ZIP tout le contenu de cet espace santé, pour le garder ou "
        "le confier à un autre service.",
        "export.contents": "Ce que contient l'archive",
        "export.contents.documents": "chaque document du dossier, dans son format d'origine (comptes rendus CDA en "
        "XML, vos fichiers PDF et photos tels que déposés) ;",
        "export.contents.fhir": "toutes les données structurées (identité, documents, réglages d'accès, messages, "
        "historique, profil de santé…) dans un fichier FHIR R4, le format standard des logiciels de santé ;",
        "export.contents.history": "l'historique des accès à votre dossier, en tableur (CSV) ;",
        "export.contents.index": "une page index.html à ouvrir dans un navigateur, même sans connexion, avec un "
        "lien vers chaque document ;",
        "export.contents.manifest": "la liste des fichiers avec leur empreinte SHA-256, pour vérifier qu'aucun n'a "
        "été modifié.",
        "export.note.held_back": "Un document qu'un professionnel garde jusqu'à la consultation d'annonce n'y figure "
        "pas encore.",
        "export.note.traced": "L'export est inscrit dans l'historique des accès de cet espace.",
        "export.note.private": "L'archive contient des données de santé : enregistrez-la dans un endroit sûr.",
        "export.button": "Télécharger l'archive",
        "export.refused": "Vous ne pouvez pas exporter cet espace santé.",
    },
    "en": {
        "export.title": "Export my data",
        "export.intro": "Download everything in this health space as one ZIP archive, to keep it or to hand it to "
        "another service.",
        "export.contents": "What the archive holds",
        "export.contents.documents": "each document of the record in its original format (CDA reports as XML, your "
        "PDF files and photos as you added them);",
        "export.contents.fhir": "all the structured data (identity, documents, access settings, messages, history, "
        "health profile…) in a FHIR R4 file, the standard format of health software;",
        "export.contents.history": "the history of the accesses to your record, as a spreadsheet (CSV);",
        "export.contents.index": "an index.html page to open in a browser, even offline, with a link to each document;",
        "export.contents.manifest": "the list of the files with their SHA-256 fingerprint, to check that none was "
        "changed.",
        "export.note.held_back": "A document a professional keeps until the announcement consultation is not in it "
        "yet.",
        "export.note.traced": "The export is written in this space's access history.",
        "export.note.private": "The archive holds health data: keep it somewhere safe.",
        "export.button": "Download the archive",
        "export.refused": "You cannot export this health space.",
    },
}

"""The professional portal's messages (French default, English), merged into ``carnet.web.i18n.MESSAGES``."""

from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {
    "fr": {
        "pro.nav.home": "Accueil",
        "pro.nav.search": "Rechercher un patient",
        "pro.secretariat": "Secrétariat : vous agissez pour le professionnel de votre cabinet ; vous ne lisez pas "
        "les documents médicaux.",
        "pro.search.title": "Rechercher un patient",
        "pro.search.by_ins": "Par matricule INS",
        "pro.search.ins": "Matricule INS (15 caractères)",
        "pro.search.by_traits": "Par traits d'identité",
        "pro.search.birth_name": "Nom de naissance",
        "pro.search.first_name": "Premier prénom de naissance",
        "pro.search.birth_date": "Date de naissance",
        "pro.search.sex": "Sexe",
        "pro.search.sex.any": "Indifférent",
        "pro.search.sex.f": "Féminin",
        "pro.search.sex.m": "Masculin",
        "pro.search.button": "Rechercher",
        "pro.search.results": "{count} patient(s) trouvé(s)",
        "pro.search.none": "Aucun patient ne correspond.",
        "pro.search.born": "Né(e) le {date}, sexe {sex}, lieu de naissance (INSEE) {place}",
        "pro.search.not_qualified": "Identité non qualifiée : aucun document ne peut être déposé pour ce patient.",
        "pro.search.collision": "Attention, risque de doublon : une autre identité ressemble à celle-ci.",
    },
    "en": {
        "pro.nav.home": "Home",
        "pro.nav.search": "Find a patient",
        "pro.secretariat": "Secretariat: you act for the professional of your practice; you do not read medical "
        "documents.",
        "pro.search.title": "Find a patient",
        "pro.search.by_ins": "By INS number",
        "pro.search.ins": "INS number (15 characters)",
        "pro.search.by_traits": "By identity traits",
        "pro.search.birth_name": "Birth name",
        "pro.search.first_name": "First birth first name",
        "pro.search.birth_date": "Birth date",
        "pro.search.sex": "Sex",
        "pro.search.sex.any": "Any",
        "pro.search.sex.f": "Female",
        "pro.search.sex.m": "Male",
        "pro.search.button": "Search",
        "pro.search.results": "{count} patient(s) found",
        "pro.search.none": "No patient matches.",
        "pro.search.born": "Born on {date}, sex {sex}, birth place (INSEE) {place}",
        "pro.search.not_qualified": "Identity not qualified: no document can be deposited for this patient.",
        "pro.search.collision": "Warning, possible duplicate: another identity looks like this one.",
    },
}

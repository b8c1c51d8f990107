"""``carnet catalogue`` end to end through the real entry point: apply (categories to read and to feed), review with
the filled checklist, sign (``--categorie``, ``--alimente``), list, withdraw; bad input said on stderr with its reasons
(exit 1, or 2 for an unreadable file), nothing stored."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.clirun import Carnet

APPLICATION = {
    "name": "Tensio",
    "publisher": "Tensio SAS",
    "description": "Carnet de suivi de la tension artérielle, relié aux synthèses de votre médecin.",
    "categories": ["11", "vitals"],
    "feeds": ["vitals", "agenda"],
    "redirect_uris": ["https://tensio-app.fr/oauth/retour"],
    "security_statement": "Hébergement certifié HDS, chiffrement TLS 1.3, journalisation des accès.",
    "interoperability_statement": "Lecture FHIR R4 (DocumentReference, Observation), SMART on FHIR, PKCE.",
    "ethics_commitments": ["Aucune revente des données"],
}


def test_the_referencing_workflow_at_the_operators_desk(carnet: Carnet, backend: str, tmp_path: Path) -> None:
    application = tmp_path / "candidature.json"
    application.write_text(json.dumps(APPLICATION), encoding="utf-8")
    app_id = carnet.ok("catalogue", "apply", str(application), "--compte", "contact@tensio-app.fr").stdout.strip()
    checklist = carnet.ok("catalogue", "criteria", "--json").json()
    grid = tmp_path / "grille.json"
    grid.write_text(json.dumps({c["id"]: {"met": True, "comment": "vérifié sur pièces"} for c in checklist}))
    carnet.ok("catalogue", "review", app_id, "--compte", "claire@sante.gouv.fr", "--grille", str(grid), "--avis",
              "favourable", "--commentaire", "dossier complet")  # fmt: skip
    same = carnet("catalogue", "sign", app_id, "--compte", "claire@sante.gouv.fr", "--categorie", "11", "--mois", "12")
    assert same.code == 1 and "ni l'éditeur ni le membre de la commission" in same.stderr
    beyond = carnet("catalogue", "sign", app_id, "--compte", "olivier@assurance-maladie.fr", "--categorie", "agenda",
                    "--mois", "0")  # fmt: skip
    assert (
        beyond.code == 1 and "non demandées par l'éditeur : Agenda" in beyond.stderr and "1 à 60 mois" in beyond.stderr
    )
    feed_beyond = carnet("catalogue", "sign", app_id, "--compte", "olivier@assurance-maladie.fr", "--categorie", "11",
                         "--alimente", "vaccinations", "--feed", "11", "--mois", "12")  # fmt: skip
    assert feed_beyond.code == 1 and "catégories à alimenter non demandées par l'éditeur : Vaccinations, 11" in (
        feed_beyond.stderr)  # fmt: skip
    signed = carnet.ok("catalogue", "sign", app_id, "--compte", "olivier@assurance-maladie.fr", "--categorie", "11",
                       "--alimente", "vitals", "--mois", "12")  # fmt: skip
    assert "référencée jusqu'au" in signed.stdout
    (listed,) = carnet.ok("catalogue", "list", "--json").json()
    assert (listed["id"], listed["status"], listed["categories_granted"], listed["opinion"]) == (
        app_id, "referenced", ["11"], "favourable")  # fmt: skip
    assert (listed["feeds_asked"], listed["feeds_granted"]) == (["vitals", "agenda"], ["vitals"])
    text = carnet.ok("catalogue", "list", "--statut", "referenced").stdout
    assert "lit : Synthèse" in text and "alimente : Constantes de santé" in text
    withdrawn = carnet.ok("catalogue", "withdraw", app_id, "--compte", "olivier@assurance-maladie.fr", "--motif",
                          "manquement constaté")  # fmt: skip
    assert "0 connexion(s) terminée(s)" in withdrawn.stdout
    assert carnet.ok("catalogue", "list", "--statut", "referenced").stdout.strip() == "aucune application"


def test_bad_input_is_refused_with_its_reasons(carnet: Carnet, tmp_path: Path) -> None:
    broken = tmp_path / "casse.json"
    broken.write_text("{pas du json", encoding="utf-8")
    unreadable = carnet("catalogue", "apply", str(broken), "--compte", "contact@tensio-app.fr")
    assert unreadable.code == 2 and "n'est pas du JSON valide" in unreadable.stderr
    bad = tmp_path / "mauvaise.json"
    bad.write_text(json.dumps({**APPLICATION, "categories": ["jambon"], "redirect_uris": ["http://tensio-app.fr/cb"],
                               "feeds": ["11"]}))  # fmt: skip
    refused = carnet("catalogue", "apply", str(bad), "--compte", "contact@tensio-app.fr")
    assert refused.code == 1 and "Traceback" not in refused.stderr
    assert "catégories de données inconnues : jambon" in refused.stderr and "boucle locale" in refused.stderr
    assert "11 : une application référencée ne dépose pas de documents" in refused.stderr
    feeds = tmp_path / "feeds.json"
    feeds.write_text(json.dumps({**APPLICATION, "feeds": "vitals agenda"}))
    assert "catégorie inconnue" in carnet("catalogue", "apply", str(feeds), "--compte", "a@b.fr").stderr
    extra = tmp_path / "extra.json"
    extra.write_text(json.dumps({**APPLICATION, "prix": 3}))
    assert "champs inconnus : prix" in carnet("catalogue", "apply", str(extra), "--compte", "a@b.fr").stderr
    account = carnet("catalogue", "apply", str(bad), "--compte", "pas-un-compte")
    assert account.code == 1 and "compte de la personne illisible" in account.stderr
    assert carnet("catalogue", "review", "inconnue", "--compte", "c@d.fr", "--grille", str(bad), "--avis",
                  "favourable", "--commentaire", "ok").code == 1  # fmt: skip
    assert carnet.ok("catalogue", "list").stdout.strip() == "aucune application"

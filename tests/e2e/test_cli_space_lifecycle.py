"""``carnet space`` (the space's life) end to end through the real entry point: a campaign from a population file,
run twice (nobody informed twice, said so), its PDF letter, the front desk's opposition with the letter's code, the
daily jobs; bad input said on stderr with its reasons (exit 1, or 2 for an unreadable file), never a traceback."""

from __future__ import annotations

import datetime as dt
import io
import re
from pathlib import Path

import pypdf

from tests.e2e.clirun import Carnet, Run
from tests.e2e.test_cli import DOMINIQUE, SECRETARIAT, add_patient

DOMINIQUE_INS = "279035121518989"


def no_traceback(run: Run) -> None:
    assert "Traceback" not in run.stderr, str(run)


def qualified_dominique(carnet: Carnet) -> str:
    patient_id: str = add_patient(carnet, DOMINIQUE, "--insi")["id"]
    carnet.ok("patient", "qualify", patient_id, "--document", "CN", *SECRETARIAT)
    return patient_id


def test_a_campaign_informs_by_post_once_and_the_front_desk_opposes(
    carnet: Carnet, backend: str, tmp_path: Path
) -> None:
    qualified_dominique(carnet)
    population = tmp_path / "population.csv"
    population.write_text(f"ins;adresse;code_postal;ville\n{DOMINIQUE_INS};12 rue des Lilas;51100;Reims\n"
                          "277076322082910;;;\n", encoding="utf-8")  # fmt: skip
    created = carnet.ok("space", "campaign", "create", "--name", "Marne, novembre", "--population", str(population))
    assert "1 personne(s) incluse(s), 1 ignorée(s)" in created.stdout
    assert "ignorée : 277076322082910 — INS inconnu de l'index des patients" in created.stdout
    found = re.search(r"Campagne (\S+) « Marne, novembre » créée", created.stdout)
    assert found is not None
    campaign_id = found.group(1)

    letters = tmp_path / "courriers"
    first = carnet.ok("space", "campaign", "run", campaign_id, "--courriers", str(letters))
    assert "1 personne(s) informée(s) : 0 courriel(s), 1 courrier(s)." in first.stdout
    assert f"1 courrier(s) PDF écrit(s) dans {letters}." in first.stdout
    (pdf,) = letters.glob("*.pdf")
    text = pypdf.PdfReader(io.BytesIO(pdf.read_bytes())).pages[0].extract_text()
    assert "Mme Dominique PAT-TROIS" in text and "51100 REIMS" in text
    code = re.search(r"Code d'opposition : (\S{14})", text)
    assert code is not None

    second = carnet.ok("space", "campaign", "run", campaign_id)
    assert "0 personne(s) informée(s)" in second.stdout
    assert "1 personne(s) déjà informée(s) par une exécution précédente : personne n'est informé deux fois." in (
        second.stdout)  # fmt: skip
    assert carnet.ok("space", "letters", "--output", str(tmp_path / "encore")).stdout.strip() == (
        "Aucun courrier à imprimer.")  # fmt: skip
    status = carnet.ok("space", "campaign", "status", campaign_id, "--json").json()
    assert (status["members"], status["informed"], status["letters"], status["opposed"]) == (1, 1, 1, 0)
    opens_on = dt.date.fromisoformat(status["next_opening"])  # six weeks after today (the real clock)
    assert abs((opens_on - dt.timedelta(days=42) - dt.date.today()).days) <= 1  # Paris day vs the host's
    assert "Aucun espace à ouvrir aujourd'hui." in carnet.ok("space", "open-due").stdout

    opposed = carnet.ok("space", "oppose", code.group(1), "--guichet", "agent-1", "--nom", "Accueil de Reims")
    assert "Opposition enregistrée" in opposed.stdout
    twice = carnet("space", "oppose", code.group(1), "--guichet", "agent-1")
    assert twice.code == 1 and "déjà enregistrée" in twice.stderr
    no_traceback(twice)
    assert carnet.ok("space", "campaign", "status", campaign_id, "--json").json()["opposed"] == 1
    assert "0 espace(s) fermé(s) depuis plus de 10 an(s) purgé(s)" in carnet.ok("space", "purge-due").stdout
    assert "0 espace(s) confié(s)" in carnet.ok("space", "majority-due").stdout


def test_bad_input_is_refused_with_its_reasons(carnet: Carnet, tmp_path: Path) -> None:
    neither = carnet("space", "campaign", "create", "--name", "X")
    assert neither.code == 1 and "--population FICHIER ou --all-qualified" in neither.stderr
    missing = carnet("space", "campaign", "create", "--name", "X", "--population", str(tmp_path / "absent.csv"))
    assert missing.code == 2 and "fichier illisible" in missing.stderr
    bad = tmp_path / "mauvais.csv"
    bad.write_text("ins;email\n12345;pas-une-adresse\n279035121518989;ok@example.org\n", encoding="utf-8")
    refused = carnet("space", "campaign", "create", "--name", "X", "--population", str(bad))
    assert refused.code == 1 and "rien n'a été enregistré" in refused.stderr
    assert "ligne 2, ins : Le matricule INS doit comporter 15 caractères" in refused.stderr
    unknown = carnet("space", "campaign", "run", "inconnue")
    assert unknown.code == 1 and "campagne inconnue introuvable" in unknown.stderr
    unreadable = carnet("space", "oppose", "1234", "--guichet", "agent-1")
    assert unreadable.code == 1 and "code d'opposition illisible" in unreadable.stderr
    nobody = carnet("space", "oppose", "AAAA-BBBB-CCCC", "--guichet", "agent-1")
    assert nobody.code == 1 and "code d'opposition inconnu" in nobody.stderr
    no_one = carnet("space", "protection", "set", DOMINIQUE_INS, "--mesure", "tutelle")
    assert no_one.code == 1 and f"aucun patient avec l'INS {DOMINIQUE_INS}" in no_one.stderr
    date = carnet("space", "protection", "set", DOMINIQUE_INS, "--mesure", "tutelle", "--jusqu-au", "demain")
    assert date.code == 1 and "date AAAA-MM-JJ attendue" in date.stderr
    assert carnet.ok("space", "campaign", "list").stdout.strip() == "aucune campagne"
    for run in (neither, missing, refused, unknown, unreadable, nobody, no_one, date):
        no_traceback(run)

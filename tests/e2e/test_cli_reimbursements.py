"""``carnet space reimbursements import`` and ``carnet space agenda-reminders`` through the real entry point, both
backends: a feed imported once (run twice), a bad file refused whole with every line, field and reason on stderr
(exit 1, nothing imported), an unreadable file or an unknown format (exit 2); the reminders' job runs idempotently."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.clirun import Carnet
from tests.e2e.test_cli import DOMINIQUE, DOMINIQUE_INS, SECRETARIAT, add_patient

HEADER = "line_id;ins;care_date;act_code;act_label;professional;paid;reimbursed;left_to_pay"


def test_the_feed_is_imported_once_and_a_bad_file_is_refused_whole(
    carnet: Carnet, backend: str, tmp_path: Path
) -> None:
    patient = add_patient(carnet, DOMINIQUE, "--insi", *SECRETARIAT)
    carnet.ok("patient", "qualify", patient["id"], "--document", "CN", *SECRETARIAT)
    feed = tmp_path / "remboursements.csv"
    feed.write_text(f"{HEADER}\n"
                    f"AM-1;{DOMINIQUE_INS};2026-10-02;GS;Consultation;Dr Claire MOREAU;30.00;20.00;\n"
                    f"AM-2;{DOMINIQUE_INS};2026-10-15;;Pharmacie;;12.40;8.06;\n", encoding="utf-8")  # fmt: skip
    first = carnet.ok("space", "reimbursements", "import", str(feed))
    assert "lignes importées : 2 ; déjà importées : 0 ; espaces concernés : 1" in first.stdout
    again = carnet.ok("space", "reimbursements", "import", str(feed), "--format", "csv")
    assert "lignes importées : 0 ; déjà importées : 2" in again.stdout

    bad = tmp_path / "mauvais.json"
    bad.write_text(json.dumps({"lines": [
        {"line_id": "AM-3", "ins": DOMINIQUE_INS, "care_date": "2026-10-20", "act_label": "Radio", "paid": "10",
         "reimbursed": "5"},
        {"line_id": "AM-4", "ins": DOMINIQUE_INS, "care_date": "hier", "act_label": "Radio", "paid": "10",
         "reimbursed": "50"},
    ]}), encoding="utf-8")  # fmt: skip
    refused = carnet("space", "reimbursements", "import", str(bad))
    assert refused.code == 1 and "Traceback" not in refused.stderr, str(refused)
    assert "ligne 2 : care_date : « hier » n'est pas une date AAAA-MM-JJ" in refused.stderr
    assert "ligne 2 : reimbursed : le remboursement dépasse la somme payée" in refused.stderr
    assert "2 erreur(s) dans mauvais.json ; rien n'a été importé" in refused.stderr
    fixed = carnet.ok("space", "reimbursements", "import", str(feed))
    assert "lignes importées : 0" in fixed.stdout, "AM-3 was not imported with the bad file"

    missing = carnet("space", "reimbursements", "import", str(tmp_path / "absent.csv"))
    assert missing.code == 2 and "lecture de" in missing.stderr
    odd = tmp_path / "flux.txt"
    odd.write_text("x", encoding="utf-8")
    unknown = carnet("space", "reimbursements", "import", str(odd))
    assert unknown.code == 2 and "--format csv" in unknown.stderr


def test_the_reminders_job_runs_twice_without_sending_twice(carnet: Carnet, backend: str) -> None:
    first = carnet.ok("space", "agenda-reminders")
    assert "rappels écrits : 0 ; déjà envoyés : 0" in first.stdout
    assert "rappels écrits : 0" in carnet.ok("space", "agenda-reminders").stdout


def test_a_cnam_hr_document_of_the_record_is_read_once(carnet: Carnet, backend: str, tmp_path: Path) -> None:
    from tests.builders import CDA_EXAMPLES, example

    patient = add_patient(carnet, DOMINIQUE, "--insi", *SECRETARIAT)
    carnet.ok("patient", "qualify", patient["id"], "--document", "CN", *SECRETARIAT)
    filled = example("CNAM-HR_2021.01_sans-info.xml").replace(
        b'<code code="no-known-procedures" displayName="Pas d\'acte ou intervention connu" '
        b'codeSystem="2.16.840.1.113883.5.1150.1"/>',
        b'<code code="YYYY010" displayName="Radiographie du thorax" codeSystem="1.2.250.1.213.2.5"/>'
        b'<effectiveTime value="20190315"/>',
        1,
    )
    document = tmp_path / "cnam-hr.xml"
    document.write_bytes(filled)
    added = carnet.ok("doc", "add", str(document), "--patient", DOMINIQUE_INS, "--json").json()
    assert "lignes importées : 1 ; déjà importées : 0" in carnet.ok("space", "reimbursements", "import-cda",
                                                                    added["id"]).stdout  # fmt: skip
    assert "lignes importées : 0 ; déjà importées : 1" in carnet.ok("space", "reimbursements", "import-cda",
                                                                    added["id"]).stdout  # fmt: skip
    vaccination = carnet.ok("doc", "add", str(CDA_EXAMPLES / "VAC_2023.01.xml"), "--patient", DOMINIQUE_INS, "--json")
    other = carnet("space", "reimbursements", "import-cda", vaccination.json()["id"])
    assert other.code == 1 and "n'est pas un historique des remboursements CNAM-HR" in other.stderr

"""The document commands through the real entry point: check (the vendors' checker), add, list."""

from __future__ import annotations

from pathlib import Path

from tests.builders import CDA_EXAMPLES
from tests.e2e.clirun import Carnet
from tests.e2e.test_cli import DOMINIQUE, DOMINIQUE_INS, SECRETARIAT, add_patient, no_traceback

VSM = CDA_EXAMPLES / "VSM_1.4_2022.01.xml"


def test_doc_check_of_an_official_example_exits_0_with_its_metadata(carnet: Carnet) -> None:
    report = carnet.ok("doc", "check", str(VSM), "--json").json()
    assert report["depositable"] is True
    assert report["metadata"]["type_code"] == "SYNTH"
    assert report["patient_ins"] == {"matricule": DOMINIQUE_INS, "oid": "1.2.250.1.213.1.4.10"}


def test_doc_check_lists_every_problem_with_its_xpath_and_exits_1(carnet: Carnet, tmp_path: Path) -> None:
    broken = VSM.read_bytes().replace(b'code="SYNTH"', b'code="NOPE"', 1)
    broken = broken.replace(b'extension="279035121518989"', b'extension="279035121518988"', 1)
    path = tmp_path / "broken.xml"
    path.write_bytes(broken)
    run = carnet("doc", "check", str(path))
    assert run.code == 1, str(run)
    assert "type_code_unknown" in run.stdout and "ins_invalid" in run.stdout
    assert "/ClinicalDocument/code" in run.stdout
    assert "recordTarget/patientRole/id" in run.stdout
    assert "Non déposable" in run.stdout
    no_traceback(run)


def test_doc_check_of_an_xxe_attack_is_refused_without_reading_the_file(carnet: Carnet, tmp_path: Path) -> None:
    path = tmp_path / "xxe.xml"
    path.write_text('<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><ClinicalDocument>&e;</ClinicalDocument>')
    run = carnet("doc", "check", str(path), "--json")
    assert run.code == 1
    assert [p["code"] for p in run.json()["problems"]] == ["xml_doctype"]
    assert "root:" not in run.stdout


def test_doc_add_then_list_and_search(carnet: Carnet, backend: str) -> None:
    patient = add_patient(carnet, DOMINIQUE, "--insi", *SECRETARIAT)
    carnet.ok("patient", "qualify", patient["id"], "--document", "CN", *SECRETARIAT)
    added = carnet.ok("doc", "add", str(VSM), "--patient", DOMINIQUE_INS, "--json").json()
    assert added["created"] is True
    again = carnet.ok("doc", "add", str(VSM), "--patient", DOMINIQUE_INS, "--json").json()
    assert (again["created"], again["id"]) == (False, added["id"])
    listed = carnet.ok("doc", "list", DOMINIQUE_INS, "--json").json()
    assert [item["id"] for item in listed["items"]] == [added["id"]]
    found = carnet.ok("doc", "list", DOMINIQUE_INS, "--query", "ischemique", "--json").json()
    assert found["total"] == 1
    assert carnet.ok("doc", "list", DOMINIQUE_INS, "--type", "11502-2", "--json").json()["total"] == 0


def test_doc_add_for_another_patient_is_refused_as_wrong_patient(carnet: Carnet) -> None:
    patient = add_patient(carnet, DOMINIQUE, "--insi", *SECRETARIAT)
    carnet.ok("patient", "qualify", patient["id"], "--document", "CN", *SECRETARIAT)
    other = CDA_EXAMPLES / "eDISP-MED_2024.01.xml"
    run = carnet("doc", "add", str(other), "--patient", DOMINIQUE_INS)
    assert run.code == 1, str(run)
    assert "wrong_patient" in run.stderr
    no_traceback(run)
    assert carnet.ok("doc", "list", DOMINIQUE_INS, "--json").json()["total"] == 0

"""The ``carnet`` command, run for real: a subprocess of ``python -m carnet`` in a clean environment.

Every run gets a copy of the environment without any ``CARNET_*`` variable, a data folder in tmp, no demo
data, and tmp as working directory (so no ``.env`` file is read). Commands that touch the database run on
both backends: SQLite (the default file in the data folder) and PostgreSQL (a fresh database per test).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from carnet.storage.migrate import head_revision
from tests.e2e.clirun import Carnet, Run

DOMINIQUE_INS = "279035121518989"  # CI-SIS example patient, known to the INSi sandbox


def traits(birth_name: str, first_names: str, sex: str, birth_date: str, birth_place: str) -> tuple[str, ...]:
    """The ``patient add`` options for these identity traits."""
    return (
        "--birth-name",
        birth_name,
        "--first-names",
        first_names,
        "--sex",
        sex,
        "--birth-date",
        birth_date,
        "--birth-place",
        birth_place,
    )


DOMINIQUE = traits("PAT-TROIS", "DOMINIQUE MARIE-LOUISE", "F", "1979-03-28", "51215")
ZOE = traits("Lefèvre", "Zoé Anne", "F", "1990-02-14", "75056")
PAUL = traits("Martin", "Paul", "M", "1985-05-05", "69123")
SECRETARIAT = ("--actor-kind", "secretariat", "--actor-id", "CPE-1")
UNREACHABLE_PASSWORD = "pw-s3cr3t-e2e"


def no_traceback(run: Run) -> None:
    assert "Traceback" not in run.stderr, str(run)


def add_patient(carnet: Carnet, traits: tuple[str, ...], *extra: str) -> dict[str, Any]:
    run = carnet.ok("patient", "add", *traits, "--json", *extra)
    patient: dict[str, Any] = run.json()
    return patient


def show(carnet: Carnet, patient_id: str) -> dict[str, Any]:
    shown: dict[str, Any] = carnet.ok("patient", "show", patient_id, "--json").json()
    return shown


# --- ins check (no database) ---------------------------------------------------------------------------------


def test_ins_check_of_a_valid_matricule_exits_0_and_prints_its_parts(carnet: Carnet, tmp_path: Path) -> None:
    run = carnet.ok("ins", "check", DOMINIQUE_INS)
    assert f"Matricule valide : {DOMINIQUE_INS}" in run.stdout
    parts = dict(line.split(None, 1) for line in run.stdout.splitlines()[1:])
    assert parts == {
        "sex": "F",
        "year": "79",
        "month": "03",
        "department": "51",
        "commune": "215",
        "order": "189",
        "key": "89",
        "born_abroad": "False",
    }
    assert not (tmp_path / "data" / "carnet.sqlite3").exists(), "checking a matricule needs no database"


def test_ins_check_json_gives_the_sex_department_and_key(carnet: Carnet) -> None:
    parsed = carnet.ok("ins", "check", DOMINIQUE_INS, "--json").json()
    assert parsed["valid"] is True
    assert parsed["matricule"] == DOMINIQUE_INS
    assert (parsed["sex"], parsed["department"], parsed["key"]) == ("F", "51", "89")


def test_ins_check_accepts_a_corsican_matricule(carnet: Carnet) -> None:
    parsed = carnet.ok("ins", "check", "253072A07300443", "--json").json()
    assert parsed["valid"] is True
    assert parsed["department"] == "2A"
    assert parsed["key"] == "43"


def test_ins_check_with_a_wrong_key_exits_1_with_the_reason_on_stderr(carnet: Carnet) -> None:
    run = carnet("ins", "check", "279035121518988")
    assert run.code == 1, str(run)
    assert "Clé" in run.stderr
    assert "89 attendu" in run.stderr
    assert run.stdout == ""
    no_traceback(run)


def test_ins_check_json_of_an_invalid_matricule_exits_1_naming_the_key_part(carnet: Carnet) -> None:
    run = carnet("ins", "check", "279035121518988", "--json")
    assert run.code == 1, str(run)
    answer = run.json()
    assert answer["valid"] is False
    assert answer["part"] == "key"
    assert "Clé" in answer["reason"]


def test_ins_check_of_a_13_character_matricule_names_the_length_part(carnet: Carnet) -> None:
    text = carnet("ins", "check", "2790351215189")
    assert text.code == 1, str(text)
    assert "(length)" in text.stderr and "15 caractères" in text.stderr
    as_json = carnet("ins", "check", "2790351215189", "--json")
    assert as_json.code == 1, str(as_json)
    assert as_json.json()["part"] == "length"


def test_ins_check_accepts_an_nia_with_the_ins_nia_oid(carnet: Carnet) -> None:
    parsed = carnet.ok("ins", "check", "779035121518933", "--oid", "1.2.250.1.213.1.4.9", "--json").json()
    assert parsed["valid"] is True
    assert parsed["oid"] == "1.2.250.1.213.1.4.9"
    assert parsed["key"] == "33"


def test_ins_check_refuses_the_social_security_oid_which_is_not_an_ins(carnet: Carnet) -> None:
    run = carnet("ins", "check", DOMINIQUE_INS, "--oid", "1.2.250.1.213.1.4.13")
    assert run.code == 1, str(run)
    assert "1.2.250.1.213.1.4.13" in run.stderr and "pas un INS" in run.stderr
    assert run.stdout == ""
    no_traceback(run)


# --- config --------------------------------------------------------------------------------------------------


def test_config_prints_the_effective_settings_with_the_secret_key_masked(carnet: Carnet, tmp_path: Path) -> None:
    secret = "e2e-known-secret-value-that-must-never-be-printed"
    run = carnet("config", env={"CARNET_SECRET_KEY": secret})
    assert run.code == 0, str(run)
    settings = dict(line.split(None, 1) for line in run.stdout.splitlines())
    assert settings["secret_key"] == "**********"
    assert settings["env"] == "development"
    assert settings["demo_data"] == "False"
    assert settings["database_url"] == f"sqlite:///{(tmp_path / 'data' / 'carnet.sqlite3').resolve()}"
    assert secret not in run.stdout + run.stderr


def test_config_masks_the_password_of_a_postgresql_url(carnet: Carnet) -> None:
    run = carnet("config", "--json", env={"CARNET_DATABASE_URL": "postgresql://carnet:hunter2-e2e@db.example/carnet"})
    assert run.code == 0, str(run)
    assert "hunter2-e2e" not in run.stdout + run.stderr
    assert run.json()["database_url"] == "postgresql://carnet:***@db.example/carnet"


def test_production_with_the_development_defaults_refuses_to_start_naming_the_secret_key(carnet: Carnet) -> None:
    run = carnet("config", env={"CARNET_ENV": "production"})
    assert run.code == 2, str(run)
    assert "CARNET_SECRET_KEY" in run.stderr
    assert run.stdout == ""
    no_traceback(run)


# --- db ------------------------------------------------------------------------------------------------------


def test_db_upgrade_then_db_current_shows_the_head_revision(carnet: Carnet, backend: str) -> None:
    before = carnet("db", "current")
    assert before.code == 1, str(before)
    assert "révision actuelle : aucune" in before.stdout

    upgraded = carnet.ok("db", "upgrade")
    assert f"révision {head_revision()} ({backend})" in upgraded.stdout

    current = carnet.ok("db", "current")
    assert f"révision actuelle : {head_revision()} ; dernière : {head_revision()}" in current.stdout


def test_an_unreachable_database_says_injoignable_without_traceback_or_password(carnet: Carnet) -> None:
    url = f"postgresql://carnet:{UNREACHABLE_PASSWORD}@127.0.0.1:1/carnet"
    run = carnet("db", "upgrade", env={"CARNET_DATABASE_URL": url})
    assert run.code == 1, str(run)
    assert "injoignable" in run.stderr
    assert "127.0.0.1:1" in run.stderr
    assert UNREACHABLE_PASSWORD not in run.stdout + run.stderr
    no_traceback(run)


def test_a_malformed_database_url_is_refused_with_a_message_not_a_traceback(carnet: Carnet) -> None:
    run = carnet("db", "upgrade", env={"CARNET_DATABASE_URL": f"postgresql://carnet:{UNREACHABLE_PASSWORD}@h:abc/c"})
    assert run.code == 1, str(run)
    assert UNREACHABLE_PASSWORD not in run.stdout + run.stderr
    no_traceback(run)


def test_config_masks_a_malformed_database_url_instead_of_crashing(carnet: Carnet) -> None:
    run = carnet("config", "--json", env={"CARNET_DATABASE_URL": f"postgresql://carnet:{UNREACHABLE_PASSWORD}@h:abc/c"})
    assert run.code == 0, str(run)
    assert UNREACHABLE_PASSWORD not in run.stdout + run.stderr
    no_traceback(run)


# --- demo and search -----------------------------------------------------------------------------------------


def created(demo_run: Run) -> int:
    match = re.search(r"(\d+) identités créées", demo_run.stdout)
    assert match, str(demo_run)
    return int(match.group(1))


def test_demo_is_idempotent_and_its_patients_are_found_by_ins_and_by_name_but_an_unknown_ins_is_not(
    carnet: Carnet, backend: str
) -> None:
    first = carnet.ok("demo")
    assert created(first) > 0
    assert re.search(r"; 32 documents de démonstration déposés", first.stdout), str(first)
    again = carnet.ok("demo")
    assert created(again) == 0
    assert re.search(r"[1-9]\d* déjà présentes", again.stdout), str(again)
    assert "; 0 documents de démonstration déposés" in again.stdout, "demo documents are deposited once"

    found = carnet.ok("patient", "find", "--ins", DOMINIQUE_INS, "--json").json()
    assert len(found) == 1
    assert found[0]["birth_name"] == "PAT-TROIS"
    assert found[0]["status"] == "QUAL"
    assert found[0]["ins"]["matricule"] == DOMINIQUE_INS
    listed = carnet.ok("doc", "list", DOMINIQUE_INS, "--json").json()
    assert listed["total"] == 8
    assert {item["patient_id"] for item in listed["items"]} == {found[0]["id"]}

    by_name = carnet.ok("patient", "find", "--name", "pat-trois")
    assert len(by_name.stdout.splitlines()) == 1, "the demo loaded twice must not duplicate anyone"
    assert found[0]["id"] in by_name.stdout
    assert "[QUAL" in by_name.stdout

    unknown = carnet("patient", "find", "--ins", "180017505612375")  # well-formed, nobody has it
    assert unknown.code == 1, str(unknown)
    assert "Aucun patient trouvé" in unknown.stderr
    assert unknown.stdout == ""
    no_traceback(unknown)


# --- patient add / qualify / show / merge --------------------------------------------------------------------


def test_patient_add_creates_a_provisional_identity_with_normalised_names(carnet: Carnet, backend: str) -> None:
    text = carnet.ok("patient", "add", *ZOE)
    assert "LEFEVRE ZOE ANNE" in text.stdout
    assert "[PROV" in text.stdout

    patient = add_patient(carnet, ZOE)
    assert patient["status"] == "PROV"
    assert patient["ins"] is None
    names = (patient["birth_name"], patient["first_name"], patient["birth_first_names"])
    assert names == ("LEFEVRE", "ZOE", "ZOE ANNE")
    assert patient["insi_outcome"] is None
    first_id = text.stdout.split()[0]
    assert [c["patient_id"] for c in patient["collisions"]] == [first_id], "the same person typed twice is flagged"


def test_insi_recovers_the_ins_and_an_identity_card_then_qualifies_it(carnet: Carnet, backend: str) -> None:
    patient = add_patient(carnet, DOMINIQUE, "--insi")
    assert patient["status"] == "RECUP"
    assert patient["insi_outcome"] == "00"
    assert patient["ins"]["matricule"] == DOMINIQUE_INS
    pid = patient["id"]

    refused = carnet("patient", "qualify", pid, "--exception", *SECRETARIAT)
    assert refused.code == 1, str(refused)
    assert "secrétariat" in refused.stderr
    no_traceback(refused)

    assert show(carnet, pid)["status"] == "RECUP", "refused qualifications change nothing"

    qualified = carnet.ok("patient", "qualify", pid, "--document", "CN", *SECRETARIAT, "--json").json()
    assert qualified["status"] == "QUAL"

    shown = show(carnet, pid)
    assert shown["status"] == "QUAL"
    steps = [(e["kind"], e["from_status"], e["to_status"]) for e in shown["history"]]
    assert steps == [("created", None, "PROV"), ("status", "PROV", "RECUP"), ("status", "RECUP", "QUAL")]
    assert shown["history"][-1]["actor_id"] == "CPE-1"
    assert shown["history"][-1]["document_type"] == "CN"


def test_patient_qualify_without_an_actor_is_refused_because_qualification_is_traced(carnet: Carnet) -> None:
    run = carnet("patient", "qualify", "any-patient", "--document", "CN")
    assert run.code != 0, str(run)
    assert "--actor-kind" in run.stderr and "--actor-id" in run.stderr
    no_traceback(run)


def test_invalid_traits_are_refused_with_the_reason_and_nothing_is_written(carnet: Carnet, backend: str) -> None:
    digit = carnet("patient", "add", *traits("Dup0nt", "Jean", "M", "1990-01-10", "75056"))
    assert digit.code == 1, str(digit)
    assert "« 0 »" in digit.stderr
    assert "nom de naissance" in digit.stderr and "[birth_name]" in digit.stderr
    no_traceback(digit)

    impossible = carnet("patient", "add", *traits("Dupont", "Jean", "M", "1990-02-30", "75056"))
    assert impossible.code == 1, str(impossible)
    assert "1990-02-30" in impossible.stderr and "[birth_date]" in impossible.stderr
    no_traceback(impossible)

    nothing = carnet("patient", "find", "--name", "Dup")
    assert nothing.code == 1, str(nothing)
    assert nothing.stdout == ""


def test_merging_a_duplicate_keeps_both_histories(carnet: Carnet, backend: str) -> None:
    survivor = add_patient(carnet, PAUL)["id"]
    duplicate = add_patient(carnet, PAUL)
    assert [c["patient_id"] for c in duplicate["collisions"]] == [survivor]
    absorbed = duplicate["id"]
    carnet.ok("patient", "qualify", absorbed, "--document", "CN", *SECRETARIAT)

    merged = carnet.ok("patient", "merge", survivor, absorbed, *SECRETARIAT)
    assert merged.stdout.startswith(survivor)

    history = show(carnet, survivor)["history"]
    events = {(e["patient_id"], e["kind"], e["to_status"]) for e in history}
    assert (survivor, "created", "PROV") in events
    assert (absorbed, "created", "PROV") in events, "the absorbed record's creation stays in the history"
    assert (absorbed, "status", "VALI") in events, "so does its document check"
    assert {"merge", "merged_into"} <= {e["kind"] for e in history}

    followed = show(carnet, absorbed)
    assert followed["id"] == survivor, "the absorbed record leads to the surviving one"


# --- bench ---------------------------------------------------------------------------------------------------


def test_bench_identity_help_exits_0_and_describes_its_options(carnet: Carnet) -> None:
    run = carnet.ok("bench", "identity", "--help")
    assert "Usage: carnet bench identity" in run.stdout
    assert "--patients" in run.stdout

"""No code path reads or writes the health profile without the access decision, and the profile's data is official.

The ``profile_*`` tables are reached only through :mod:`carnet.space.profile_store`, imported by the profile's
use cases alone (each asks the decision first); the vitals table, the vaccines and the questionnaire are checked
against the reference and FHIR.
"""

from __future__ import annotations

import ast
import csv
import json
from pathlib import Path

from fhir.resources.R4B.questionnaire import Questionnaire

from carnet.space import profile
from carnet.space.profile_model import questionnaire, vaccines, vital_kinds

PACKAGE = Path(__file__).resolve().parents[2] / "carnet"
REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference"
ALLOWED = {
    "carnet/space/profile.py": "the profile's use cases: every public function asks the access decision first",
    "carnet/space/profile_store.py": "the tables themselves",
    "carnet/space/lifecycle_purge.py": "the retention purge of a closed space (a system job, traced space.purge)",
    "carnet/storage/models.py": "imports every table for the migrations",
}


def _imports_store(path: Path) -> bool:
    tree = ast.parse(path.read_text("utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "carnet.space.profile_store":
            return True
        if (
            isinstance(node, ast.ImportFrom)
            and node.module == "carnet.space"
            and any(alias.name == "profile_store" for alias in node.names)
        ):
            return True
        if isinstance(node, ast.Import) and any(alias.name == "carnet.space.profile_store" for alias in node.names):
            return True
    return False


def test_only_the_profile_use_cases_reach_the_profile_tables() -> None:
    offenders = [
        path.relative_to(PACKAGE.parent).as_posix()
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.relative_to(PACKAGE.parent).as_posix() not in ALLOWED and _imports_store(path)
    ]
    assert offenders == []


def test_every_public_use_case_that_touches_a_row_asks_the_decision() -> None:
    tree = ast.parse((PACKAGE / "space" / "profile.py").read_text("utf-8"))
    guards = {"_read", "_write", "enforce", "decide"}
    role_lookups = {"patient_of"}  # the patient of an item, to choose the caller's role before the decision
    unchecked = []
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef) or node.name.startswith("_") or node.name in role_lookups:
            continue
        calls = {n.func.attr if isinstance(n.func, ast.Attribute) else getattr(n.func, "id", "")
                 for n in ast.walk(node) if isinstance(n, ast.Call)}  # fmt: skip
        if not calls & guards:
            unchecked.append(node.name)
    assert unchecked == []
    assert set(profile.__all__) >= {"add_measure", "list_measures", "save_questionnaire", "add_immunization"}


def test_the_vitals_codes_and_units_of_the_reference_are_those_of_the_table() -> None:
    example = (REFERENCE / "cda-examples" / "eP-MED-DM_2022.01_PosoStruct.xml").read_text("utf-8")
    kinds = vital_kinds()
    for key, code, unit in (("weight", "29463-7", "kg"), ("height", "8302-2", "cm")):
        assert kinds[key].loinc == code and kinds[key].unit == unit and not kinds[key].to_check
        assert f'code="{code}"' in example and f'unit="{unit}"' in example
    for kind in kinds.values():
        assert kind.source, kind.key
        for part in kind.components or (kind,):
            assert part.low is not None and part.high is not None and part.low < part.high, part.key
            assert part.unit and " " not in part.unit, part.key
    assert [p.loinc for p in kinds["blood_pressure"].components] == ["8480-6", "8462-4"]


def test_the_vaccines_are_those_of_the_reference_vaccination_example() -> None:
    example = (REFERENCE / "cda-examples" / "VAC_2023.01.xml").read_text("utf-8")
    for vaccine in vaccines():
        assert f'code="{vaccine.cis}" displayName="{vaccine.display}" codeSystem="1.2.250.1.213.2.3.1"' in example
        assert (
            f'code="{vaccine.atc}" displayName="{vaccine.atc_display}" codeSystem="2.16.840.1.113883.6.73"' in example
        )
    assert len(vaccines()) == 3


def test_the_questionnaire_is_valid_fhir_and_its_questions_are_those_the_answers_use() -> None:
    Questionnaire.model_validate(questionnaire())
    link_ids = {item["linkId"] for item in questionnaire()["item"]}
    link_ids |= {sub["linkId"] for item in questionnaire()["item"] for sub in item.get("item", [])}
    assert link_ids == {"traitements", "interventions", "antecedents", "allergies", "directives",
                        "directives.redigees", "directives.lieu", "directives.personne_confiance"}  # fmt: skip
    assert json.loads(json.dumps(questionnaire())) == questionnaire()


def test_the_vitals_table_has_the_documented_columns() -> None:
    text = (PACKAGE / "space" / "data" / "constantes.csv").read_text("utf-8")
    rows = list(csv.DictReader(line for line in text.splitlines() if not line.startswith("#")))
    assert {row["to_check"] for row in rows} <= {"yes", "no"}
    assert all(row["source"] for row in rows)

"""The professional directory on both backends: import an extract (idempotent upsert), search, read; the CLI."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from carnet.bootstrap import Platform
from carnet.directory import service as directory
from carnet.directory.demo import DEMO_IMPORTER, load_demo_directory
from carnet.directory.store import ProfessionalQuery
from carnet.errors import Forbidden, NotFound, ValidationError
from tests.builders import DR_HOUSE
from tests.e2e.clirun import Carnet

HEADER = "professional_id,family_name,given_name,profession_code,specialty_code,organisation_id,organisation_name\n"


def _load(platform: Platform) -> directory.ImportReport:
    with platform.uow() as uow:
        report = load_demo_directory(uow)
        uow.commit()
    return report


def _names(platform: Platform, **criteria: object) -> list[str]:
    with platform.uow() as uow:
        page = directory.search_professionals(uow=uow, actor=DR_HOUSE, query=ProfessionalQuery(**criteria))  # type: ignore[arg-type]
        return [f"{r.family_name} {r.given_name}" for r in page.items]


def test_the_demo_directory_loads_once_and_again_changes_nothing(platform: Platform) -> None:
    first = _load(platform)
    assert (first.professionals_created, first.organisations_created, first.roles_created) == (9, 4, 10)
    again = _load(platform)
    assert again == directory.ImportReport(0, 0, 0, 0, 0, 0)
    with platform.uow() as uow:
        house = directory.get_professional(uow=uow, actor=DR_HOUSE, professional_id=DR_HOUSE.id)
        assert (house.family_name, house.profession_code, house.specialty_code) == ("MOREAU", "10", "SM54")
        assert directory.get_professional(uow=uow, actor=DR_HOUSE, professional_id="899700000001").active


def test_search_by_name_profession_organisation_and_activity(platform: Platform) -> None:
    _load(platform)
    assert _names(platform, name="mor") == ["MOREAU Claire"]
    assert _names(platform, given="jul") == ["PETIT Julie"]
    assert _names(platform, profession="60") == ["FAURE Léa", "PETIT Julie"]
    assert _names(platform, profession="10", active=False) == ["RETRAITE Marc"]
    assert _names(platform, organisation_id="1519990044") == [
        "DUBOIS Camille", "GARNIER Hugo", "MARTIN Paul", "PETIT Julie",
    ]  # fmt: skip
    assert _names(platform, family="100%_") == []
    with platform.uow() as uow:
        roles = directory.search_roles(uow=uow, actor=DR_HOUSE, professional_ids=["899700000001"])
        assert sorted(r.organisation_id or "" for r in roles.items) == ["1519990028", "1519990044"]
        orgs = directory.search_organisations(uow=uow, actor=DR_HOUSE, name="pharmacie")
        assert [o.name for o in orgs.items] == ["Pharmacie de la Cathédrale"]
        assert directory.search_organisations(uow=uow, actor=DR_HOUSE, name="fontaines").total == 1


def test_an_update_in_a_later_extract_is_applied(platform: Platform) -> None:
    _load(platform)
    extract = directory.parse_csv(HEADER + "810000000001,MOREAU-DURAND,Claire,10,SM54,1519990010,Cabinet des Lilas\n")
    with platform.uow() as uow:
        report = directory.upsert(uow=uow, actor=DEMO_IMPORTER, extract=extract)
        uow.commit()
    assert (report.professionals_updated, report.organisations_updated, report.roles_created) == (1, 1, 0)
    assert _names(platform, family="moreau") == ["MOREAU-DURAND Claire"]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (HEADER + "81000001,MOREAU,Claire,10,,,\n", "ligne 2, professional_id"),
        (HEADER + "810000000002,,Claire,10,,,\n", "ligne 2, family_name"),
        (HEADER + "810000000002,MOREAU,Claire,médecin,,,\n", "ligne 2, profession_code"),
        (HEADER + "810000000002,MOREAU,Claire,10,,XYZ,Cabinet\n", "ligne 2, organisation_id"),
        ("professional_id,surname\n810000000002,X\n", "header"),
        ("", "header"),
    ],
)
def test_a_malformed_extract_names_the_line_and_column(text: str, where: str) -> None:
    with pytest.raises(ValidationError) as refused:
        directory.parse_csv(text)
    assert refused.value.field == where


def test_only_the_platform_imports_and_unknown_ids_are_not_found(platform: Platform) -> None:
    with platform.uow() as uow:
        with pytest.raises(Forbidden):
            directory.upsert(uow=uow, actor=DR_HOUSE, extract=directory.parse_csv(HEADER))
        with pytest.raises(NotFound):
            directory.get_professional(uow=uow, actor=DR_HOUSE, professional_id="899999999999")


def test_carnet_directory_import_from_the_command_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARNET_")}
    env.update(CARNET_DATA_DIR=str(tmp_path / "data"), CARNET_DEMO_DATA="false", PYTHONIOENCODING="utf-8")
    carnet = Carnet(tmp_path, env)
    extract = tmp_path / "extract.csv"
    extract.write_text(HEADER.replace(",", ";") + "810000000001;MOREAU;Claire;10;SM54;1519990010;Cabinet des Lilas\n")
    run = carnet("directory", "import", str(extract), "--json")
    assert run.code == 0, run
    assert run.json()["professionals_created"] == 1
    assert run.json()["roles_created"] == 1
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "42,MOREAU,Claire,10,,,\n")
    run = carnet("directory", "import", str(bad))
    assert run.code == 1 and "ligne 2, professional_id" in run.stderr, run

"""``carnet audit verify`` and ``carnet audit history`` through Typer's CliRunner, on SQLite and PostgreSQL.

The commands build their platform from the ``Settings`` passed as ``obj`` (pointing at the test database).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fhir.resources.R4B.auditevent import AuditEvent
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from carnet.audit import service as audit
from carnet.audit.cli import audit_app
from carnet.audit.model import AccessMode
from carnet.bootstrap import Platform
from carnet.identity import service as identity
from carnet.identity.status import ActorKind
from carnet.settings import Settings
from tests.builders import DR_HOUSE, qualified_patient
from tests.integration.test_audit_chain import triggers_bypassed


class Urgentist:
    """A professional as the access layer presents one."""

    kind = ActorKind.PROFESSIONAL
    id = "810000000777"
    name = "Dr Salomé Urgence"
    profession = "10"
    organisation_name = "SAMU 51 — CHU de Reims"
    auth_method = "cps"


@pytest.fixture
def cli_settings(engine: Engine, tmp_path: Path) -> Settings:
    return Settings(
        env="test",
        data_dir=tmp_path / "cli-data",
        database_url=engine.url.render_as_string(hide_password=False),
        demo_data=False,
        _env_file=None,
    )


def run(settings: Settings, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(audit_app, list(args), obj=settings)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


@pytest.fixture
def dominique_ins(platform: Platform) -> str:
    patient_id = qualified_patient(platform)
    with platform.uow() as uow:
        found = identity.get(uow=uow, actor=DR_HOUSE, patient_id=patient_id)
        assert found is not None and found.ins is not None
        audit.record(
            uow=uow,
            actor=Urgentist(),
            action="document.read",
            patient_id=patient_id,
            detail={"document": "4f1b2c3d-0000-4000-8000-000000000001"},
            mode=AccessMode.EMERGENCY,
            decision={"allowed": True, "reasons": ["emergency_access"]},
        )
        audit.record(
            uow=uow,
            actor=DR_HOUSE,
            action="document.read",
            patient_id=patient_id,
            outcome="denied",
            detail={"document": "4f1b2c3d-0000-4000-8000-000000000002"},
            decision={"allowed": False, "reasons": ["not_in_care_team"]},
        )
        uow.commit()
        return found.ins.value


def test_verify_exits_0_on_an_intact_trail_and_1_naming_the_altered_entry(
    platform: Platform, cli_settings: Settings, dominique_ins: str
) -> None:
    code, output = run(cli_settings, "verify")
    assert code == 0, output
    assert output.startswith("Chaîne intègre : ")
    checked = int(output.split(":")[1].split()[0])
    assert checked >= 5

    with platform.uow() as uow:
        patient_id = uow.patients.by_ins(dominique_ins).id  # type: ignore[union-attr]
        target = uow.audit.chain(patient_id)[1]
    with triggers_bypassed(platform.engine) as conn:
        conn.execute(text("UPDATE audit_events SET actor_id = 'someone-else' WHERE id = :id"), {"id": target.id})

    code, output = run(cli_settings, "verify")
    assert code == 1, output
    assert "Chaîne rompue" in output
    assert f"position 2, entrée n° {target.id}" in output
    assert "modifiée" in output

    code, output = run(cli_settings, "verify", "--json")
    assert code == 1
    report = json.loads(output)
    assert report["ok"] is False
    assert report["first_bad"]["entry_id"] == target.id
    assert report["first_bad"]["chain_seq"] == 2


def test_history_lists_who_when_what_and_marks_emergencies(cli_settings: Settings, dominique_ins: str) -> None:
    code, output = run(cli_settings, "history", dominique_ins)
    assert code == 0, output
    lines = output.splitlines()
    assert "dont 1 en urgence" in lines[0]
    emergency = [line for line in lines if "URGENCE" in line]
    assert len(emergency) == 1
    assert "Dr Salomé Urgence (Médecin, SAMU 51 — CHU de Reims)" in emergency[0]
    assert "lecture d'un document" in emergency[0]
    assert any("refusé" in line and "not_in_care_team" in line for line in lines)

    code, output = run(cli_settings, "history", dominique_ins, "--json")
    assert code == 0, output
    entries = json.loads(output)
    urgent = [e for e in entries if e["emergency"]]
    assert [(e["who"]["name"], e["mode"], e["outcome"]) for e in urgent] == [
        ("Dr Salomé Urgence", "emergency", "success")
    ]
    assert urgent[0]["who"]["organisation"] == "SAMU 51 — CHU de Reims"


def test_history_exports_a_fhir_bundle_of_audit_events(cli_settings: Settings, dominique_ins: str) -> None:
    code, output = run(cli_settings, "history", dominique_ins, "--fhir")
    assert code == 0, output
    bundle = json.loads(output)
    Bundle.model_validate(bundle)
    events = [entry["resource"] for entry in bundle["entry"]]
    assert events, "the history is not empty"
    for event in events:
        AuditEvent.model_validate(event)
    emergencies = [e for e in events if "purposeOfEvent" in e]
    assert len(emergencies) == 1
    assert emergencies[0]["purposeOfEvent"][0]["coding"][0]["code"] == "ETREAT"
    assert emergencies[0]["agent"][0]["who"]["identifier"] == {
        "system": "urn:oid:1.2.250.1.71.4.2.1",
        "value": "810000000777",
    }
    denied = [e for e in events if e["outcome"] == "4"]
    assert len(denied) == 1 and denied[0]["action"] == "R"


def test_reading_the_history_is_itself_traced_and_the_chain_stays_intact(
    platform: Platform, cli_settings: Settings, dominique_ins: str
) -> None:
    assert run(cli_settings, "history", dominique_ins)[0] == 0
    with platform.uow() as uow:
        patient_id = uow.patients.by_ins(dominique_ins).id  # type: ignore[union-attr]
        actions = [e.action for e in uow.audit.chain(patient_id)]
    assert actions[-2:] == ["identity.find_by_ins", "audit.history"]
    assert run(cli_settings, "verify")[0] == 0


def test_history_of_an_unknown_or_malformed_ins_fails_with_a_message(
    cli_settings: Settings, platform: Platform
) -> None:
    code, output = run(cli_settings, "history", "279035121518989")
    assert code == 1
    assert "aucun patient" in output
    code, output = run(cli_settings, "history", "12345")
    assert code == 1
    assert "Erreur" in output

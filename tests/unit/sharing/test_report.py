"""The compliance report on both backends: documents shared on validation (in time, late, held back then released,
without duty) and deposited otherwise (sent by messaging or not), for a professional and an organisation; who may
read it; the chart; ``carnet sharing report`` (French text, ``--json``, usage errors)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from typer.testing import CliRunner

from carnet.access.model import Actor, ActorKind, AuthMethod
from carnet.bootstrap import Platform
from carnet.cli import app as carnet_app
from carnet.errors import Forbidden, ValidationError
from carnet.messaging import service as mss
from carnet.record import service as record
from carnet.sharing import Context, Duty
from carnet.sharing.report import ComplianceReport, report, svg_chart
from tests.builders import DR_HOUSE, NURSE_JOY, PLATFORM
from tests.unit.sharing.share_support import CONFIG, LEROY, LEROY_ID, World, make_world

NOVEMBER = (dt.date(2026, 11, 1), dt.date(2026, 11, 30))
CABINET = "1519990010"  # the author's organisation in the documents
COLLEAGUE = Actor(kind=ActorKind.PROFESSIONAL, id="810000000002", auth_method=AuthMethod.CPS, profession="10",
                  organisation_id=CABINET)  # fmt: skip


@pytest.fixture
def world(platform: Platform) -> World:
    """November: A in time, B held back then released, C late (validated two days after it was made), D without duty
    (hospital stay), E deposited without share and sent to a professional only."""
    w = make_world(platform)
    now = platform.clock.now()
    w.share(w.document(title="A"), prescriber=LEROY_ID)
    held = w.share(w.document(title="B"), announcement=True)
    with platform.uow() as uow:
        record.release_to_patient(uow=uow, actor=DR_HOUSE, entry_id=held.entry_id)
        uow.commit()
    w.share(w.document(title="C", created=now - dt.timedelta(days=2)))
    w.share(w.document(title="D"), context=Context(hospital_stay=True))
    with platform.uow() as uow:
        other = record.deposit(uow=uow, actor=DR_HOUSE, patient_id=w.patient_id, content=w.document(title="E"))
        mss.send(uow=uow, actor=DR_HOUSE, config=CONFIG, to=[LEROY], subject="E", text="Ci-joint.",
                 attachments=[mss.DocumentAttachment(other.entry.id)])  # fmt: skip
        uow.commit()
    w.other_entry = other.entry.id  # type: ignore[attr-defined]
    return w


def _report(world: World, actor: Actor = DR_HOUSE, scope: str = "professional", scope_id: str = DR_HOUSE.id,
            period: tuple[dt.date, dt.date] = NOVEMBER) -> ComplianceReport:  # fmt: skip
    with world.platform.uow() as uow:
        result = report(uow=uow, actor=actor, scope=scope, scope_id=scope_id, start=period[0], end=period[1])
        uow.commit()
    return result


def _counts(result: ComplianceReport) -> dict[str, tuple[int, ...]]:
    return {d.duty.value: (d.due, d.shared, d.in_time, d.held, d.no_recipient, d.missing) for d in result.duties}


def test_the_report_counts_the_documents_under_each_duty_and_those_shared_in_time(world: World) -> None:
    result = _report(world)
    assert (result.documents, result.via_share, result.other_deposits, result.under_duty) == (5, 4, 1, 4)
    #                     due shared in_time held no_recipient missing
    assert _counts(result) == {
        "dmp": (4, 4, 3, 0, 0, 0),
        "mss_professionals": (4, 4, 3, 0, 0, 0),
        "mss_patient": (4, 3, 2, 0, 0, 1),
    }
    assert result.duty(Duty.MSS_PATIENT).rate == pytest.approx(2 / 4)
    assert result.by_rule == {"cr-biologie": 4}
    # The professional's own report lists what is still to send: E, to the patient.
    assert [(m.entry_id, m.duties) for m in result.missing] == [(world.other_entry, (Duty.MSS_PATIENT,))]  # type: ignore[attr-defined]


def test_a_document_still_held_back_is_counted_apart_and_the_period_bounds_are_days_in_paris(world: World) -> None:
    world.share(world.document(title="F"), announcement=True)
    assert _counts(_report(world))["mss_patient"] == (5, 3, 2, 1, 0, 1)
    assert _report(world, period=(dt.date(2026, 11, 23), dt.date(2026, 11, 30))).documents == 0
    assert _report(world, period=(dt.date(2026, 11, 20), dt.date(2026, 11, 20))).documents == 1  # C only


def test_the_organisation_report_counts_its_authors_documents(world: World) -> None:
    ours = _report(world, actor=COLLEAGUE, scope="organisation", scope_id=CABINET)
    assert _counts(ours) == _counts(_report(world)) and ours.missing == ()  # counts only
    assert _report(world, actor=PLATFORM, scope="organisation", scope_id="1519990028").documents == 0


def test_who_may_read_a_report(world: World) -> None:
    with pytest.raises(Forbidden, match="propre rapport"):
        _report(world, actor=NURSE_JOY)
    with pytest.raises(Forbidden, match="membres"):
        _report(world, actor=DR_HOUSE, scope="organisation", scope_id="1519990028")
    assert _report(world, actor=PLATFORM).missing == ()  # the platform sees the counts, not the documents
    with pytest.raises(ValidationError, match="période vide"):
        _report(world, period=(dt.date(2026, 11, 30), dt.date(2026, 11, 1)))


def test_the_chart_is_an_accessible_svg_with_escaped_text_and_no_inline_style(world: World) -> None:
    svg = svg_chart(_report(world))
    assert svg.startswith("<svg") and 'role="img"' in svg and "<title" in svg and "<desc" in svg
    assert "style=" not in svg and "<script" not in svg
    assert "Envoi au patient : 2/4 (50 %)" in svg
    assert "Sent to the patient" in svg_chart(_report(world), "en")


def _cli(world: World, *args: str) -> Any:
    url = world.platform.engine.url.render_as_string(hide_password=False)
    env = {"CARNET_DATABASE_URL": url, "CARNET_DATA_DIR": str(world.platform.settings.data_dir), "CARNET_ENV": "test",
           "CARNET_DEMO_DATA": "false"}  # fmt: skip
    return CliRunner().invoke(carnet_app, ["sharing", "report", *args], env=env)


def test_the_cli_prints_the_report_in_french_and_as_json(world: World) -> None:
    text = _cli(world, "--professional", DR_HOUSE.id, "--from", "2026-11-01", "--to", "2026-11-30")
    assert text.exit_code == 0, text.output
    assert "Rapport de partage — professionnel 810000000001, du 1er novembre 2026 au 30 novembre 2026" in text.output
    assert "Documents : 5 (4 partagé(s) à la validation, 1 versé(s) autrement)" in text.output
    assert any(line.split()[:3] == ["envoi", "au", "patient"] and line.split()[3:] == ["4", "3", "2", "0", "0", "1",
               "50", "%"] for line in text.output.splitlines())  # fmt: skip
    as_json = _cli(world, "--organisation", CABINET, "--from", "2026-11-01", "--to", "2026-11-30", "--json")
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.output)
    assert (data["scope"], data["scope_id"], data["documents"], data["from"]) == ("organisation", CABINET, 5,
                                                                                  "2026-11-01")  # fmt: skip
    assert {d["duty"]: (d["due"], d["in_time"]) for d in data["duties"]} == {
        "dmp": (4, 3), "mss_professionals": (4, 3), "mss_patient": (4, 2)}  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--from", "2026-11-01", "--to", "2026-11-30"), "--professional ID ou --organisation ID"),
        (("--professional", "1", "--organisation", "2", "--from", "2026-11-01", "--to", "2026-11-30"), "l'un des"),
        (("--professional", "1", "--from", "novembre", "--to", "2026-11-30"), "--from : date illisible"),
        (("--professional", "1", "--from", "2026-11-30", "--to", "2026-11-01"), "période vide"),
    ],
)
def test_the_cli_says_what_is_wrong_with_exit_code_2(world: World, args: tuple[str, ...], message: str) -> None:
    result = _cli(world, *args)
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


def test_the_record_lists_a_professionals_documents_only_for_them_their_organisation_and_the_platform(
    world: World,
) -> None:
    low, high = dt.datetime(2026, 11, 1, tzinfo=dt.UTC), dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    with world.platform.uow() as uow:
        mine = record.authored_documents(uow=uow, actor=DR_HOUSE, author_id=DR_HOUSE.id, created_from=low,
                                         created_before=high)  # fmt: skip
        ours = record.authored_documents(uow=uow, actor=COLLEAGUE, organisation_id=CABINET, created_from=low,
                                         created_before=high)  # fmt: skip
        with pytest.raises(Forbidden):
            record.authored_documents(uow=uow, actor=NURSE_JOY, author_id=DR_HOUSE.id, created_from=low,
                                      created_before=high)  # fmt: skip
        uow.commit()
    assert len(mine) == 5 and [d.id for d in ours] == [d.id for d in mine]
    assert {d.type_code for d in mine} == {"11502-2"}

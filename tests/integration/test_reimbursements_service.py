"""The reimbursements on both backends: the insurer's CSV and JSON feed imported all or nothing (every bad line
reported with its line, field and reason; nothing stored), idempotently (the same line twice imported once); the
CNAM-HR CDA document of the reference read from the record; totals; professionals read as the matrix says."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select

from carnet.audit.store import AuditRow
from carnet.bootstrap import Platform
from carnet.errors import Forbidden, ValidationError
from carnet.space import reimbursements as remb
from carnet.space.agenda_store import ReimbursementLineRow
from tests.builders import DR_HOUSE, NURSE_JOY, example, in_care_team, patient_as, qualified_patient

HEADER = "line_id;ins;care_date;act_code;act_label;professional;paid;reimbursed;left_to_pay"


def csv_feed(*lines: str) -> bytes:
    return ("\r\n".join([HEADER, *lines]) + "\r\n").encode("utf-8")


def ins_of(platform: Platform, patient_id: str) -> str:
    with platform.uow() as uow:
        row = uow.patients.get(patient_id)
        assert row is not None and row.ins_matricule
        return row.ins_matricule


def stored(platform: Platform) -> int:
    with platform.uow() as uow:
        return len(uow.session.scalars(select(ReimbursementLineRow)).all())


@pytest.fixture
def dominique(platform: Platform) -> str:
    patient_id = qualified_patient(platform)
    in_care_team(platform, patient_id, DR_HOUSE, NURSE_JOY)
    return patient_id


def test_a_csv_feed_is_imported_once_and_shown_by_date_with_totals(platform: Platform, dominique: str) -> None:
    ins = ins_of(platform, dominique)
    feed = csv_feed(
        f"AM-2026-0001;{ins};2026-10-02;GS;Consultation du médecin généraliste;Dr Claire MOREAU;30.00;20.00;",
        f"AM-2026-0002;{ins};2026-10-15;;Pharmacie : amoxicilline 1 g;Pharmacie du Centre;12,40;8.06;1.00",
        f"AM-2026-0001;{ins};2026-10-02;GS;Consultation du médecin généraliste;Dr Claire MOREAU;30.00;20.00;",
    )
    with platform.uow() as uow:
        report = remb.import_feed(uow=uow, data=feed, fmt="csv")
        uow.commit()
    assert (report.imported, report.already, report.patients) == (2, 0, 1)
    with platform.uow() as uow:
        again = remb.import_feed(uow=uow, data=feed, fmt="csv")
        uow.commit()
    assert (again.imported, again.already) == (0, 2), "the same lines imported once"
    assert stored(platform) == 2
    with platform.uow() as uow:
        lines = remb.list_lines(uow=uow, actor=patient_as(dominique), patient_id=dominique)
        october = remb.list_lines(uow=uow, actor=DR_HOUSE, patient_id=dominique, since=dt.date(2026, 10, 10))
        uow.commit()
    assert [line.line_id for line in lines] == ["AM-2026-0002", "AM-2026-0001"], "newest first"
    assert (lines[1].paid_cents, lines[1].reimbursed_cents, lines[1].left_cents) == (3000, 2000, 1000)
    assert remb.totals(lines) == remb.Totals(4240, 2806, 1100, 2)
    assert [line.line_id for line in october] == ["AM-2026-0002"]
    with platform.uow() as uow, pytest.raises(Forbidden):
        remb.list_lines(uow=uow, actor=NURSE_JOY, patient_id=dominique)  # infirmier: médecins only
    with platform.uow() as uow:
        actions = [(r.action, r.outcome) for r in uow.session.scalars(
            select(AuditRow).where(AuditRow.patient_id == dominique).order_by(AuditRow.id))]  # fmt: skip
    assert ("reimbursement.import", "success") in actions and ("reimbursement.list", "denied") in actions


def test_a_bad_file_is_refused_whole_with_every_line_field_and_reason(platform: Platform, dominique: str) -> None:
    ins = ins_of(platform, dominique)
    feed = csv_feed(
        f"AM-1;{ins};2026-10-02;GS;Consultation;;30.00;20.00;",
        f"AM-2;{ins};02/10/2026;GS;Consultation;;30.00;20.00;",
        f"AM-3;{ins};2026-10-03;GS;Consultation;;trente;20.00;",
        f"AM-4;{ins};2026-10-04;GS;Consultation;;10.00;20.00;",
        "AM-5;199999999999999;2026-10-05;GS;Consultation;;10.00;5.00;",
        f"AM-6;{ins};2026-10-06;GS;;;10.00;5.00;",
        f"AM-1;{ins};2026-10-02;GS;Autre chose;;31.00;20.00;",
    )
    with platform.uow() as uow, pytest.raises(remb.ImportRejected) as refused:
        remb.import_feed(uow=uow, data=feed, fmt="csv")
    assert [(p.line, p.field) for p in refused.value.problems] == [
        (3, "care_date"), (4, "paid"), (5, "reimbursed"), (6, "ins"), (7, "act_label"), (8, "line_id"),
    ]  # fmt: skip
    assert "n'est pas une date" in refused.value.problems[0].reason
    assert stored(platform) == 0, "all or nothing: the good line was not imported either"
    with platform.uow() as uow:
        traced = uow.session.scalars(select(AuditRow).where(AuditRow.action == "reimbursement.import_refused")).all()
    assert len(traced) == 1 and traced[0].detail["count"] == 6


def test_the_json_feed_and_its_errors(platform: Platform, dominique: str) -> None:
    ins = ins_of(platform, dominique)
    good = {"lines": [{"line_id": "J-1", "ins": ins, "care_date": "2026-09-01", "act_label": "Radiographie",
                       "paid": "45.00", "reimbursed": 31.5}]}  # fmt: skip
    with platform.uow() as uow:
        assert remb.import_feed(uow=uow, data=json.dumps(good).encode(), fmt="json").imported == 1
        uow.commit()
    bad = {"lines": [{"line_id": "J-2", "ins": ins, "care_date": "2026-09-01", "act_label": "X", "paid": True,
                      "reimbursed": "1", "colour": "red"}, "not an object"]}  # fmt: skip
    with platform.uow() as uow, pytest.raises(remb.ImportRejected) as refused:
        remb.import_feed(uow=uow, data=json.dumps(bad).encode(), fmt="json")
    assert [(p.line, p.field) for p in refused.value.problems] == [(1, "paid"), (1, "colour"),
                                                                   (2, "line")]  # fmt: skip
    with platform.uow() as uow, pytest.raises(remb.ImportRejected):
        remb.import_feed(uow=uow, data=b"{not json", fmt="json")


def test_the_cnam_hr_document_of_the_record_is_read_into_the_reimbursements(platform: Platform, dominique: str) -> None:
    empty = remb.parse_cda(example("CNAM-HR_2021.01_sans-info.xml"))
    assert empty == [], "the reference's example has every section « aucune donnée »"
    filled = example("CNAM-HR_2021.01_sans-info.xml").replace(
        b'<code code="no-known-procedures" displayName="Pas d\'acte ou intervention connu" '
        b'codeSystem="2.16.840.1.113883.5.1150.1"/>',
        b'<code code="YYYY010" displayName="Radiographie du thorax" codeSystem="1.2.250.1.213.2.5"/>'
        b'<effectiveTime value="20190315"/>',
        1,
    )
    lines = remb.parse_cda(filled)
    assert [(line.care_date, line.act_code, line.act_label, line.category) for line in lines] == [
        (dt.date(2019, 3, 15), "YYYY010", "Radiographie du thorax", "Soins médicaux et dentaires")
    ]
    with pytest.raises(ValidationError, match="CNAM-HR"):
        remb.parse_cda(example("VAC_2023.01.xml"))


def test_a_cnam_hr_document_deposited_in_the_record_is_read_once(platform: Platform, dominique: str) -> None:
    from carnet.record import service as record
    from tests.builders import PLATFORM

    filled = example("CNAM-HR_2021.01_sans-info.xml").replace(
        b'<code code="no-known-procedures" displayName="Pas d\'acte ou intervention connu" '
        b'codeSystem="2.16.840.1.113883.5.1150.1"/>',
        (
            '<code code="DEQP003" displayName="Électrocardiographie" codeSystem="1.2.250.1.213.2.5"/>'
            '<effectiveTime value="20190410"/>'
        ).encode(),
        1,
    )
    with platform.uow() as uow:
        deposited = record.deposit(uow=uow, actor=PLATFORM, patient_id=dominique, content=filled)
        uow.commit()
    entry_id = deposited.entry.id
    for expected in ((1, 0), (0, 1)):
        with platform.uow() as uow:
            report = remb.import_from_document(uow=uow, actor=patient_as(dominique), entry_id=entry_id)
            uow.commit()
        assert (report.imported, report.already) == expected
    with platform.uow() as uow:
        lines = remb.list_lines(uow=uow, actor=patient_as(dominique), patient_id=dominique)
        uow.commit()
    assert [(line.act_label, line.source, line.paid_cents) for line in lines] == [("Électrocardiographie", "cda", None)]

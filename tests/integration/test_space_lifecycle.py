"""The space's life on both backends, with the injected clock: a campaign informs once, the six weeks run (day 0,
day 41 still pending, day 42 opened; opposed on day 10 never opened), the front desk opposes with the letter's code,
closure keeps everything until the retention purge, majority and the end of a protection pass the space to its
holder, a representative acting for an adult is refused."""

from __future__ import annotations

import datetime as dt
import io
import re
from pathlib import Path

import pypdf
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, select

from carnet.access import service as access
from carnet.access.model import SpaceStatus
from carnet.bootstrap import Platform
from carnet.clock import FrozenClock
from carnet.errors import Conflict, Forbidden, NotFound, ValidationError
from carnet.notify import service as notify
from carnet.notify.store import MailOutboxRow
from carnet.record import service as record
from carnet.space import campaign, lifecycle, lifecycle_admin
from carnet.space.lifecycle_admin import ContactIn
from carnet.space.store import ClosureRow, NoticeRow, TransferRow
from carnet.storage.models import metadata
from tests.builders import DR_HOUSE, PLATFORM, TODAY, example, in_care_team, minimal_pdf, patient_as, qualified_patient
from tests.lifecycle_builders import (
    ANNE_SOPHIE_INS,
    DOMINIQUE_INS,
    DOMINIQUE_MAIL,
    ELODIE_INS,
    PARENT_MAIL,
    REIMS,
    RUTH_INS,
    anne_sophie,
    campaign_of,
    elodie,
    holder_pdf,
    on_day,
    representative_of,
    ruth,
    thomas,
    trail,
)

DAY_0 = TODAY  # 2026-11-22
OPENS_ON = dt.date(2027, 1, 3)  # six weeks later


def state(platform: Platform, patient_id: str) -> lifecycle.SpaceState:
    with platform.uow() as uow:
        return lifecycle.state(uow, patient_id)


def run(platform: Platform, campaign_id: str) -> campaign.RunReport:
    return campaign.run_campaign(platform=platform, campaign_id=campaign_id)


def outbox(platform: Platform) -> list[MailOutboxRow]:
    with platform.uow() as uow:
        return list(uow.session.scalars(select(MailOutboxRow).order_by(MailOutboxRow.created_at)))


def notices(platform: Platform) -> list[NoticeRow]:
    with platform.uow() as uow:
        return list(uow.session.scalars(select(NoticeRow).order_by(NoticeRow.created_at)))


def titles(platform: Platform, patient_id: str) -> list[str]:
    with platform.uow() as uow:
        return [n.title for n in notify.list_for(uow=uow, patient_id=patient_id)]


def lists_documents(platform: Platform, actor: object, patient_id: str) -> int:
    with platform.uow() as uow:
        page = record.list_documents(uow=uow, actor=actor, patient_id=patient_id)  # type: ignore[arg-type]
        uow.commit()
    return page.total


@pytest.fixture
def dominique(platform: Platform) -> str:
    patient_id = qualified_patient(platform)
    in_care_team(platform, patient_id, DR_HOUSE)
    return patient_id


def test_the_space_tables_match_the_migrated_schema(engine: Engine) -> None:
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert [d for d in diffs if "space_" in repr(d)] == []


# --- the six weeks ------------------------------------------------------------------------------------------------


def test_day_0_informed_day_41_still_pending_day_42_opened(
    platform: Platform, clock: FrozenClock, dominique: str
) -> None:
    campaign_id = campaign_of(platform, (DOMINIQUE_INS, ContactIn(email=DOMINIQUE_MAIL)))
    assert state(platform, dominique).status is SpaceStatus.PENDING
    report = run(platform, campaign_id)
    assert (report.informed, report.emails, report.letters, report.already_informed) == (1, 1, 0, 0)
    day0 = state(platform, dominique)
    assert (day0.status, day0.opens_on, day0.opposition_open) == (SpaceStatus.PENDING, OPENS_ON, True)
    (mail,) = outbox(platform)
    assert mail.to_address == DOMINIQUE_MAIL and "3 janvier 2027" in mail.body and "2 janvier 2027 inclus" in mail.body

    on_day(clock, DAY_0 + dt.timedelta(days=41))
    assert campaign.open_due(platform=platform).opened == 0
    day41 = state(platform, dominique)
    assert (day41.status, day41.opposition_open) == (SpaceStatus.PENDING, True)

    on_day(clock, DAY_0 + dt.timedelta(days=42), hour=2)  # the nightly job, early on day 42
    assert campaign.open_due(platform=platform).opened == 1
    assert state(platform, dominique).status is SpaceStatus.OPEN
    assert campaign.open_due(platform=platform).opened == 0  # idempotent
    assert "Votre espace santé est ouvert" in titles(platform, dominique)
    actions = [a for a, _, _ in trail(platform, dominique)]
    assert actions.index("space.campaign_member") < actions.index("space.inform") < actions.index("space.open")
    with platform.uow() as uow:
        status = campaign.campaign_status(uow=uow, campaign_id=campaign_id)
    assert (status.members, status.opened, status.informed, status.emails) == (1, 1, 0, 1)

    # Too late to oppose: the refusal is clear and traced, nothing changes.
    with platform.uow() as uow, pytest.raises(Conflict, match="délai d'opposition à sa création est écoulé"):
        lifecycle.oppose(uow=uow, actor=patient_as(dominique), patient_id=dominique)
    assert ("space.oppose_refused", "denied", dominique) in trail(platform, dominique)
    assert state(platform, dominique).status is SpaceStatus.OPEN


def test_an_opposition_on_day_10_means_the_space_never_opens(
    platform: Platform, clock: FrozenClock, dominique: str
) -> None:
    run(platform, campaign_of(platform, (DOMINIQUE_INS, ContactIn(email=DOMINIQUE_MAIL))))
    on_day(clock, DAY_0 + dt.timedelta(days=10))
    with platform.uow() as uow:
        opposed = lifecycle.oppose(uow=uow, actor=patient_as(dominique), patient_id=dominique, through="portal")
        uow.commit()
    assert opposed.status is SpaceStatus.OPPOSED and not opposed.opposition_open
    with platform.uow() as uow, pytest.raises(Conflict, match="déjà enregistrée"):
        lifecycle.oppose(uow=uow, actor=patient_as(dominique), patient_id=dominique)
    on_day(clock, DAY_0 + dt.timedelta(days=42))
    assert campaign.open_due(platform=platform).opened == 0
    on_day(clock, DAY_0 + dt.timedelta(days=400))
    assert campaign.open_due(platform=platform).opened == 0
    assert state(platform, dominique).status is SpaceStatus.OPPOSED
    with pytest.raises(Forbidden, match="opposé à la création"):
        lists_documents(platform, DR_HOUSE, dominique)
    assert ("space.oppose", "success", dominique) in trail(platform, dominique)
    # Changing their mind later, the holder opens it.
    with platform.uow() as uow:
        assert lifecycle.reopen(uow=uow, actor=patient_as(dominique), patient_id=dominique).status is SpaceStatus.OPEN
        uow.commit()
    assert lists_documents(platform, DR_HOUSE, dominique) == 0


def test_a_campaign_run_twice_informs_nobody_twice(platform: Platform, dominique: str) -> None:
    campaign_id = campaign_of(platform, (DOMINIQUE_INS, ContactIn(email=DOMINIQUE_MAIL)))
    assert run(platform, campaign_id).informed == 1
    again = run(platform, campaign_id)
    assert (again.informed, again.emails, again.letters, again.already_informed) == (0, 0, 0, 1)
    assert len(outbox(platform)) == 1 and len(notices(platform)) == 1
    assert [a for a, _, _ in trail(platform, dominique)].count("space.inform") == 1
    runs = [a for a, _, _ in trail(platform, None) if a == "space.campaign_run"]
    assert len(runs) == 2
    # A second campaign does not include her again.
    with platform.uow() as uow:
        second = campaign.create_campaign(uow=uow, actor=PLATFORM, name="Marne, rattrapage",
                                          population=[campaign.PersonIn(ins=DOMINIQUE_INS)])  # fmt: skip
        uow.commit()
    assert second.included == 0 and second.skipped == ((DOMINIQUE_INS, f"déjà dans la campagne {campaign_id}"),)


def test_a_run_stopped_half_way_is_finished_by_the_next(platform: Platform, clock: FrozenClock, dominique: str) -> None:
    other = ruth(platform)
    campaign_id = campaign_of(platform, (DOMINIQUE_INS, ContactIn(email=DOMINIQUE_MAIL)),
                              (RUTH_INS, ContactIn(email="ruth.nessi@example.org")))  # fmt: skip
    stopped = campaign.run_campaign(platform=platform, campaign_id=campaign_id, limit=1)  # as if killed after one
    assert (stopped.informed, stopped.already_informed) == (1, 0)
    on_day(clock, DAY_0 + dt.timedelta(days=1))
    resumed = run(platform, campaign_id)
    assert (resumed.informed, resumed.already_informed) == (1, 1)
    assert sorted(m.to_address for m in outbox(platform)) == [DOMINIQUE_MAIL, "ruth.nessi@example.org"]
    assert run(platform, campaign_id).informed == 0
    # Each person's six weeks run from their own information: the second one opens a day later.
    on_day(clock, OPENS_ON)
    assert campaign.open_due(platform=platform, limit=1).opened == 1
    assert campaign.open_due(platform=platform).opened == 0
    on_day(clock, OPENS_ON + dt.timedelta(days=1))
    assert campaign.open_due(platform=platform).opened == 1
    assert {state(platform, p).status for p in (dominique, other)} == {SpaceStatus.OPEN}


def test_every_qualified_identity_not_yet_included(platform: Platform, dominique: str) -> None:
    other = ruth(platform)
    with platform.uow() as uow:
        created = campaign.create_campaign(uow=uow, actor=PLATFORM, name="Tous", all_qualified=True)
        uow.commit()
    assert created.included == 2
    with platform.uow() as uow:
        assert campaign.create_campaign(uow=uow, actor=PLATFORM, name="Encore", all_qualified=True).included == 0
    report = run(platform, created.id)
    assert (report.informed, report.unreachable) == (0, 2)  # nobody has an address yet: told so, retried later
    with platform.uow() as uow:
        lifecycle_admin.update_contact(uow=uow, actor=patient_as(other), patient_id=other, contact=REIMS)
        uow.commit()
    report = run(platform, created.id)
    assert (report.informed, report.letters, report.unreachable) == (1, 1, 1)


# --- the letter and the front desk ---------------------------------------------------------------------------------


def test_a_letter_for_post_is_a_real_pdf_and_its_code_opposes_at_the_front_desk(
    platform: Platform, dominique: str, tmp_path: Path
) -> None:
    campaign_id = campaign_of(platform, (DOMINIQUE_INS, REIMS))
    report = run(platform, campaign_id)
    assert (report.informed, report.emails, report.letters) == (1, 0, 1)
    (written,) = campaign.export_letters(platform=platform, output_dir=tmp_path / "courriers")
    assert campaign.export_letters(platform=platform, output_dir=tmp_path / "courriers") == []  # handed out once
    reader = pypdf.PdfReader(io.BytesIO(written.read_bytes()))
    assert len(reader.pages) == 1
    text = reader.pages[0].extract_text()
    for expected in ("Mme Dominique PAT-TROIS", "12 rue des Lilas", "51100 REIMS", "Le 22 novembre 2026",
                     "ouvert le 3 janvier 2027", "/espace/gestion", "Code d'opposition"):  # fmt: skip
        assert expected in text, expected
    found = re.search(r"Code d'opposition : ([A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4})", text)
    assert found is not None
    code = found.group(1)
    assert ("space.letters_export", "success", "space-campaign") in trail(platform, dominique)

    desk = lifecycle.front_desk("agent-42", "Accueil CPAM de Reims")
    with platform.uow() as uow, pytest.raises(NotFound, match="code d'opposition inconnu"):
        lifecycle.oppose_with_code(uow=uow, desk=desk, code="AAAA-BBBB-CCCC")
    with platform.uow() as uow, pytest.raises(ValidationError, match="illisible"):
        lifecycle.oppose_with_code(uow=uow, desk=desk, code="1234")
    with platform.uow() as uow:  # read aloud: case and separators do not matter
        opposed = lifecycle.oppose_with_code(uow=uow, desk=desk, code=code.lower().replace("-", " "))
        uow.commit()
    assert opposed.status is SpaceStatus.OPPOSED
    assert ("space.oppose", "success", "guichet:agent-42") in trail(platform, dominique)


# --- minors and representatives ------------------------------------------------------------------------------------


def test_a_minor_is_informed_through_the_representative_who_may_oppose(platform: Platform, dominique: str) -> None:
    child = elodie(platform)
    campaign_id = campaign_of(platform, (ELODIE_INS, ContactIn()))
    assert run(platform, campaign_id).unreachable == 1  # no representative yet
    with platform.uow() as uow:
        lifecycle_admin.add_representative(uow=uow, actor=PLATFORM, patient_id=child, representative_id=dominique,
                                           role="parent", name="Dominique PAT-TROIS",
                                           contact=ContactIn(email=DOMINIQUE_MAIL))  # fmt: skip
        uow.commit()
    report = run(platform, campaign_id)
    assert (report.informed, report.emails) == (1, 1)
    (mail,) = outbox(platform)
    assert mail.to_address == DOMINIQUE_MAIL and "ELODIE VINCENT" in mail.body.upper()
    (notice,) = notices(platform)
    assert (notice.recipient_kind, notice.recipient_id) == ("representative", dominique)
    with platform.uow() as uow:
        opposed = lifecycle.oppose(uow=uow, actor=representative_of(child, dominique), patient_id=child)
        uow.commit()
    assert opposed.status is SpaceStatus.OPPOSED
    with platform.uow() as uow:
        data = lifecycle_admin.administrative_data(uow=uow, actor=representative_of(child, dominique),
                                                   patient_id=child)  # fmt: skip
    assert data.minor and [(r.id, r.role, r.email) for r in data.representatives] == [(dominique, "parent",
                                                                                       DOMINIQUE_MAIL)]  # fmt: skip


def test_a_representative_acting_for_an_adult_is_refused_and_traced(platform: Platform, dominique: str) -> None:
    adult = thomas(platform)
    with platform.uow() as uow:
        access.add_representative(uow=uow, actor=PLATFORM, patient_id=adult, representative_id=dominique,
                                  role="parent")  # fmt: skip
        uow.commit()
    stale = representative_of(adult, dominique)
    for change in (lifecycle.close, lifecycle.oppose):
        with platform.uow() as uow, pytest.raises(Forbidden, match="majorité"):
            change(uow=uow, actor=stale, patient_id=adult)
    with platform.uow() as uow, pytest.raises(Forbidden, match="majorité"):
        lifecycle_admin.update_contact(uow=uow, actor=stale, patient_id=adult, contact=REIMS)
    assert state(platform, adult).status is SpaceStatus.OPEN
    refused = [(a, o) for a, o, who in trail(platform, adult) if who == dominique]
    assert refused == [("space.close", "denied"), ("space.oppose", "denied"), ("space.contact_update", "denied")]
    # The job makes the end of their access explicit.
    assert lifecycle_admin.majority_due(platform=platform).majorities == 1
    with platform.uow() as uow, pytest.raises(Forbidden, match="n'est pas enregistrée comme représentant"):
        lifecycle.close(uow=uow, actor=stale, patient_id=adult)


def test_at_majority_the_space_passes_to_the_holder(platform: Platform, clock: FrozenClock, dominique: str) -> None:
    teen = anne_sophie(platform)
    with platform.uow() as uow:
        lifecycle_admin.add_representative(uow=uow, actor=PLATFORM, patient_id=teen, representative_id="fc:parent",
                                           role="parent", name="Marc GARCIA",
                                           contact=ContactIn(email=PARENT_MAIL))  # fmt: skip
        lifecycle_admin.update_contact(uow=uow, actor=PLATFORM, patient_id=teen,
                                       contact=ContactIn(email="anne-sophie@example.org"))  # fmt: skip
        uow.commit()
    parent = representative_of(teen, "fc:parent")
    on_day(clock, dt.date(2027, 7, 8))
    assert lifecycle_admin.majority_due(platform=platform).majorities == 0
    assert lists_documents(platform, parent, teen) == 0  # still a minor: the parent acts for her
    on_day(clock, dt.date(2027, 7, 9))  # her 18th birthday
    with pytest.raises(Forbidden, match="majorité"):  # the decision already refuses, before the job
        lists_documents(platform, parent, teen)
    report = lifecycle_admin.majority_due(platform=platform)
    assert (report.majorities, report.representatives) == (1, 1)
    assert lifecycle_admin.majority_due(platform=platform).majorities == 0  # idempotent
    with pytest.raises(Forbidden, match="n'est pas enregistrée comme représentant"):
        lists_documents(platform, parent, teen)
    with platform.uow() as uow:
        assert uow.access.representatives(teen) == []
        (transfer,) = uow.session.scalars(select(TransferRow).where(TransferRow.patient_id == teen))
    assert (transfer.reason, transfer.representatives) == ("majority", ["fc:parent"])
    assert ("space.majority", "success", "space-majority") in trail(platform, teen)
    assert "Votre espace santé vous est confié" in titles(platform, teen)
    mails = {m.to_address: m.body for m in outbox(platform)}
    assert set(mails) == {"anne-sophie@example.org", PARENT_MAIL}
    assert "vos représentants légaux n'y ont plus accès" in mails["anne-sophie@example.org"]
    assert "vous n'y avez plus accès en tant que représentant légal" in mails[PARENT_MAIL]
    assert ANNE_SOPHIE_INS  # the sandbox identity used


def test_the_end_of_a_protection_measure_passes_the_space_to_the_adult(
    platform: Platform, clock: FrozenClock, dominique: str
) -> None:
    protected = ruth(platform)
    with platform.uow() as uow:
        lifecycle_admin.add_representative(uow=uow, actor=PLATFORM, patient_id=protected, representative_id=dominique,
                                           role="tuteur", contact=REIMS)  # fmt: skip
        lifecycle_admin.set_protection(uow=uow, actor=PLATFORM, patient_id=protected, measure="tutelle",
                                       ends_on=DAY_0 + dt.timedelta(days=30))  # fmt: skip
        uow.commit()
    guardian = representative_of(protected, dominique)
    assert lists_documents(platform, guardian, protected) == 0
    with platform.uow() as uow, pytest.raises(Forbidden, match="plateforme"):
        lifecycle_admin.set_protection(uow=uow, actor=guardian, patient_id=protected, measure="tutelle")
    on_day(clock, DAY_0 + dt.timedelta(days=29))
    assert lifecycle_admin.majority_due(platform=platform).protections_ended == 0
    on_day(clock, DAY_0 + dt.timedelta(days=30))
    report = lifecycle_admin.majority_due(platform=platform)
    assert (report.protections_ended, report.representatives) == (1, 1)
    with pytest.raises(Forbidden):
        lists_documents(platform, guardian, protected)
    assert ("space.protection_end", "success", "space-majority") in trail(platform, protected)
    (letter,) = [n for n in notices(platform) if n.kind == "protection_end"]
    assert (letter.channel, letter.recipient_id) == ("post", dominique)  # the former guardian, by post


# --- closure, re-opening, purge ------------------------------------------------------------------------------------


def test_closing_keeps_everything_and_reopening_restores_it(platform: Platform, dominique: str) -> None:
    with platform.uow() as uow:
        record.deposit(uow=uow, actor=PLATFORM, patient_id=dominique, content=example("VSM_1.4_2022.01.xml"))
        uow.commit()
    with platform.uow() as uow:
        closed = lifecycle.close(uow=uow, actor=patient_as(dominique), patient_id=dominique)
        uow.commit()
    assert closed.status is SpaceStatus.CLOSED and closed.kept_until == dt.date(2036, 11, 22)
    assert closed.can_reopen and not closed.can_close
    with pytest.raises(Forbidden, match="fermé"):
        lists_documents(platform, DR_HOUSE, dominique)
    assert lists_documents(platform, patient_as(dominique), dominique) == 1  # the holder still sees them
    with platform.uow() as uow, pytest.raises(Conflict, match="déjà fermé"):
        lifecycle.close(uow=uow, actor=patient_as(dominique), patient_id=dominique)
    with platform.uow() as uow:
        reopened = lifecycle.reopen(uow=uow, actor=patient_as(dominique), patient_id=dominique)
        uow.commit()
    assert reopened.status is SpaceStatus.OPEN
    assert lists_documents(platform, DR_HOUSE, dominique) == 1
    with platform.uow() as uow, pytest.raises(Conflict, match="déjà ouvert"):
        lifecycle.reopen(uow=uow, actor=patient_as(dominique), patient_id=dominique)
    with platform.uow() as uow, pytest.raises(Forbidden):
        lifecycle.close(uow=uow, actor=DR_HOUSE, patient_id=dominique)
    actions = [a for a, o, _ in trail(platform, dominique) if o == "success"]
    assert actions.count("space.close") == 1 and actions.count("space.reopen") == 1


def test_the_purge_past_retention_deletes_documents_then_the_contents_nobody_else_needs(
    platform: Platform, clock: FrozenClock, dominique: str
) -> None:
    other = ruth(platform)
    shared = minimal_pdf("Certificat de vaccination")
    with platform.uow() as uow:
        summary = record.deposit(uow=uow, actor=PLATFORM, patient_id=dominique,
                                 content=example("VSM_1.4_2022.01.xml")).entry  # fmt: skip
        uow.commit()
    holder_pdf(platform, dominique, shared, title="Certificat de vaccination")
    elsewhere = holder_pdf(platform, other, shared, title="Certificat de vaccination")
    with platform.uow() as uow:
        lifecycle.close(uow=uow, actor=patient_as(dominique), patient_id=dominique)
        uow.commit()
    on_day(clock, dt.date(2036, 11, 22), hour=23)  # the last day kept
    assert lifecycle.purge_due(platform=platform) == lifecycle.PurgeReport()
    on_day(clock, dt.date(2036, 11, 23), hour=1)
    report = lifecycle.purge_due(platform=platform)
    assert report == lifecycle.PurgeReport(spaces=1, documents=2, blobs_removed=1, blobs_kept=1,
                                           data={"search_index": 2, "document_texts": 2, "care_team": 1,
                                                 "notifications": 1})  # fmt: skip
    assert lifecycle.purge_due(platform=platform) == lifecycle.PurgeReport()  # idempotent
    assert not platform.blobs.exists(summary.sha256)
    with platform.uow() as uow:  # the other record keeps its copy of the shared bytes
        _, data = record.get_content(uow=uow, actor=patient_as(other), entry_id=elsewhere)
    assert data == shared
    assert lists_documents(platform, patient_as(dominique), dominique) == 0
    actions = [a for a, _, who in trail(platform, dominique) if who == "space-purge"]
    assert actions.count("document.delete") == 2 and "space.purge" in actions and "space.purge_blobs" in actions
    with platform.uow() as uow:
        (closure,) = uow.session.scalars(select(ClosureRow))
    assert (closure.purged_documents, closure.purged_blobs) == (2, 1)
    # Re-opened after the purge, the space is open and says its documents are gone.
    with platform.uow() as uow:
        lifecycle.reopen(uow=uow, actor=patient_as(dominique), patient_id=dominique)
        uow.commit()
    with platform.uow() as uow:
        (latest, *_) = notify.list_for(uow=uow, patient_id=dominique)
    assert "supprimés à la fin de leur durée de conservation" in latest.body


def test_a_space_reopened_before_the_purge_is_left_alone(
    platform: Platform, clock: FrozenClock, dominique: str
) -> None:
    holder_pdf(platform, dominique, minimal_pdf("Ordonnance"))
    with platform.uow() as uow:
        lifecycle.close(uow=uow, actor=patient_as(dominique), patient_id=dominique)
        uow.commit()
    on_day(clock, dt.date(2030, 1, 1))
    with platform.uow() as uow:
        lifecycle.reopen(uow=uow, actor=patient_as(dominique), patient_id=dominique)
        uow.commit()
    on_day(clock, dt.date(2040, 1, 1))
    assert lifecycle.purge_due(platform=platform).spaces == 0
    assert lists_documents(platform, patient_as(dominique), dominique) == 1
    assert lifecycle.purge_due(platform=platform, retention_years=1).spaces == 0  # re-opened: never purged


# --- administrative data and contact details -----------------------------------------------------------------------


def test_the_holder_reads_their_administrative_data_and_updates_contact_details(
    platform: Platform, dominique: str
) -> None:
    holder = patient_as(dominique)
    bad = ContactIn(email="pas une adresse", phone="12", address_line="12 rue des Lilas", postal_code="5110",
                    city="Reims")  # fmt: skip
    with platform.uow() as uow, pytest.raises(ValidationError) as refused:
        lifecycle_admin.update_contact(uow=uow, actor=holder, patient_id=dominique, contact=bad)
    for part in ("email : adresse électronique invalide", "telephone : numéro invalide", "code_postal : 5 chiffres"):
        assert part in refused.value.message
    with platform.uow() as uow:
        changed = lifecycle_admin.update_contact(uow=uow, actor=holder, patient_id=dominique, contact=ContactIn(
            email=" Dominique.Pat-Trois@Example.org ", phone="06 12 34 56 78", address_line="12 rue des Lilas",
            postal_code="51100", city="Reims"))  # fmt: skip
        uow.commit()
    assert changed == ["email", "phone", "address_line", "postal_code", "city"]
    with platform.uow() as uow:
        access.set_medecin_traitant(uow=uow, actor=holder, patient_id=dominique, professional_id=DR_HOUSE.id)
        data = lifecycle_admin.administrative_data(uow=uow, actor=holder, patient_id=dominique)
        uow.commit()
    assert (data.birth_name, data.sex, data.birth_date, data.birth_place) == ("PAT-TROIS", "F", dt.date(1979, 3, 28),
                                                                              "51215")  # fmt: skip
    assert data.ins == DOMINIQUE_INS and data.identity_status.value == "QUAL"
    assert (data.contact.email, data.contact.phone) == (DOMINIQUE_MAIL, "0612345678")
    assert data.medecin_traitant is not None and data.medecin_traitant[0] == DR_HOUSE.id
    assert data.space.status is SpaceStatus.OPEN and data.representatives == ()
    with platform.uow() as uow:
        entries = uow.audit.for_patient(dominique)
    update = next(e for e in entries if e.action == "space.contact_update" and e.outcome == "success")
    assert update.detail == {"fields": ["email", "phone", "address_line", "postal_code", "city"]}  # names, no values
    assert any(e.action == "space.admin_read" for e in entries)
    with platform.uow() as uow, pytest.raises(Forbidden):
        lifecycle_admin.administrative_data(uow=uow, actor=DR_HOUSE, patient_id=dominique)

"""A campaign's information e-mails leave through a real SMTP server on loopback (aiosmtpd), once each, on both
backends; the code they carry opposes at the front desk."""

from __future__ import annotations

import re

from aiosmtpd.controller import Controller

from carnet.access.model import SpaceStatus
from carnet.bootstrap import Platform
from carnet.notify.mailer import deliver_pending
from carnet.settings import Settings
from carnet.space import campaign, lifecycle, lifecycle_admin
from carnet.space.lifecycle_admin import ContactIn
from tests.builders import PLATFORM, qualified_patient
from tests.integration.test_notify_outbox import Collector, collector, mail_settings, smtp_port, smtp_server
from tests.lifecycle_builders import DOMINIQUE_INS, DOMINIQUE_MAIL, ELODIE_INS, campaign_of, elodie

__all__ = ["collector", "mail_settings", "smtp_port", "smtp_server"]


def _deliver(platform: Platform, settings: Settings) -> int:
    return deliver_pending(session_factory=platform.session_factory, clock=platform.clock, settings=settings).sent


def test_the_information_is_sent_once_over_smtp_and_its_code_opposes(
    platform: Platform, mail_settings: Settings, smtp_server: Controller, collector: Collector
) -> None:
    patient_id = qualified_patient(platform)
    campaign_id = campaign_of(platform, (DOMINIQUE_INS, ContactIn(email=DOMINIQUE_MAIL)))
    assert campaign.run_campaign(platform=platform, campaign_id=campaign_id).emails == 1
    assert _deliver(platform, mail_settings) == 1
    (message,) = collector.messages
    assert collector.recipients == [[DOMINIQUE_MAIL]]
    assert message["Subject"] == "Création de votre espace santé"
    body = message.get_content()
    assert body.startswith("Bonjour Mme Dominique PAT-TROIS,")
    assert "il sera ouvert le 3 janvier 2027" in body and "http://127.0.0.1:8000/espace/gestion" in body
    found = re.search(r"Code d'opposition : ([A-Z0-9-]{14})", body)
    assert found is not None

    # Run again, deliver again: nobody gets a second message.
    again = campaign.run_campaign(platform=platform, campaign_id=campaign_id)
    assert (again.informed, again.already_informed) == (0, 1)
    assert _deliver(platform, mail_settings) == 0
    assert len(collector.messages) == 1

    with platform.uow() as uow:
        state = lifecycle.oppose_with_code(uow=uow, desk=lifecycle.front_desk("agent-7"), code=found.group(1))
        uow.commit()
    assert state.status is SpaceStatus.OPPOSED and state.patient_id == patient_id


def test_a_childs_information_goes_to_each_representative(
    platform: Platform, mail_settings: Settings, smtp_server: Controller, collector: Collector
) -> None:
    child = elodie(platform)
    with platform.uow() as uow:
        for rep, mail in (("fc:mere", "mere.vincent@example.org"), ("fc:pere", "pere.vincent@example.org")):
            lifecycle_admin.add_representative(uow=uow, actor=PLATFORM, patient_id=child, representative_id=rep,
                                               role="parent", name=rep[3:].title() + " VINCENT",
                                               contact=ContactIn(email=mail))  # fmt: skip
        uow.commit()
    report = campaign.run_campaign(platform=platform, campaign_id=campaign_of(platform, (ELODIE_INS, ContactIn())))
    assert (report.informed, report.emails) == (1, 2)
    assert _deliver(platform, mail_settings) == 2
    assert sorted(r[0] for r in collector.recipients) == ["mere.vincent@example.org", "pere.vincent@example.org"]
    for message in collector.messages:
        assert message["Subject"] == "Création de l'espace santé de votre enfant"
        assert "va être créé pour Mme Elodie VINCENT" in message.get_content()

"""Builders for the catalogue's tests: the three people of the referencing workflow and a referenced app."""

from __future__ import annotations

from typing import Any

from carnet.catalogue import service as catalogue
from carnet.catalogue.model import Assessment, Opinion, Role, criteria

PUBLISHER = catalogue.Member(role=Role.APPLICANT, id="contact@tensio-app.fr", name="Tensio SAS")
COMMISSION = catalogue.Member(role=Role.COMMISSION, id="claire.commission@sante.gouv.fr", name="Claire COMMISSION")
OPERATOR = catalogue.Member(role=Role.OPERATOR, id="olivier.operateur@assurance-maladie.fr", name="Olivier OPÉRATEUR")
CALLBACK = "http://127.0.0.1:8765/callback"


def tensio(**overrides: Any) -> catalogue.ApplicationIn:
    """A blood-pressure diary app that wants to read the summaries, the reports and the vitals, and to add the
    measures of its cuff (vitals) and the follow-up appointments it books (agenda)."""
    values: dict[str, Any] = {
        "name": "Tensio",
        "publisher": "Tensio SAS",
        "description": "Carnet de suivi de la tension artérielle, relié aux synthèses de votre médecin.",
        "website": "https://tensio-app.fr",
        "categories": ["11", "10", "vitals"],
        "feeds": ["vitals", "agenda"],
        "redirect_uris": [CALLBACK],
        "security_statement": "Hébergement certifié HDS, chiffrement TLS 1.3, journalisation des accès.",
        "interoperability_statement": "Lecture FHIR R4 (DocumentReference, Observation), SMART on FHIR, PKCE.",
        "ethics_commitments": ["Aucune revente des données", "Aucune publicité ciblée"],
    }
    values.update(overrides)
    return catalogue.ApplicationIn(**values)


def all_met(**unmet: str) -> list[Assessment]:
    """The checklist filled in: every criterion met, except those named (criterion id → comment)."""
    return [Assessment(criterion=c.id, met=c.id not in unmet, comment=unmet.get(c.id, "vérifié sur pièces"))
            for c in criteria()]  # fmt: skip


def referenced_app(platform: Any, *, granted: tuple[str, ...] = ("11", "vitals"), months: int = 24,
                   fed: tuple[str, ...] = (), **overrides: Any) -> str:  # fmt: skip
    """An app applied, reviewed favourably and signed (reading ``granted``, feeding ``fed``); returns its id."""
    with platform.uow() as uow:
        app_id = catalogue.apply(uow=uow, member=PUBLISHER, application=tensio(**overrides))
        catalogue.review(uow=uow, member=COMMISSION, app_id=app_id, assessments=all_met(), opinion=Opinion.FAVOURABLE,
                         comment="Dossier complet, critères remplis.")  # fmt: skip
        catalogue.sign(uow=uow, member=OPERATOR, app_id=app_id, categories=list(granted), months=months,
                       feeds=list(fed))  # fmt: skip
        uow.commit()
    return app_id

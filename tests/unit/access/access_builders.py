"""A small world for access decisions: Camille's record, the people around it, builders with vivid names."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from carnet.access.model import (
    Actor,
    ActorKind,
    AuthMethod,
    CareTeamMember,
    Consent,
    Context,
    DocumentFacts,
    Grant,
    Mode,
    PatientFacts,
)
from carnet.identity.status import IdentityStatus

NOW = dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)

CAMILLE = "patient-camille"  # the holder


def professional(id: str, profession: str | None, organisation: str = "cabinet-des-tilleuls", **kw: Any) -> Actor:
    return Actor(
        kind=ActorKind.PROFESSIONAL,
        id=id,
        auth_method=AuthMethod.CPS,
        profession=profession,
        organisation_id=organisation,
        **kw,
    )


DR_MARTIN = professional("rpps-dr-martin", "10", name="Dr Martin")  # the médecin traitant
NURSE_LEA = professional("rpps-lea", "60", name="Léa, infirmière")  # care team, informed
PHARMACIST_PAUL = professional("rpps-paul", "21", organisation="pharmacie-du-port")  # explicit consent
DENTIST_INES = professional("rpps-ines", "40", organisation="cabinet-dentaire")  # care team, refused
KINE_HUGO = professional("rpps-hugo", "70")  # care team, not yet informed
DR_STRANGER = professional("rpps-stranger", "10", organisation="hopital-nord")  # no link to Camille
DR_BLOCKED = professional("rpps-blocked", "10", organisation="hopital-nord")  # opposed by Camille
DR_LAKE_CLINIC = professional("rpps-lake", "10", organisation="clinique-du-lac")  # organisation opposed
SURGEON_ZOE = professional("rpps-zoe", "10", organisation="clinique-du-lac")  # author of the operative report
DR_SAMU = professional("rpps-samu", "10", organisation="samu-75")
NURSE_SAMU = professional("rpps-samu-nurse", "60", organisation="samu-75")
SOCIAL_WORKER_NINA = professional("rpps-nina", "41", organisation="ccas")
DR_GRANTED = professional("rpps-granted", "10", organisation="hopital-sud")  # read grant on reports
DR_FROM_GRANTED_HOSPITAL = professional("rpps-sud-2", "10", organisation="hopital-sud-org")
DR_NO_PROFESSION = professional("rpps-unknown", None)
ODD_PROFESSION = professional("rpps-odd", "77")

FRONT_DESK = Actor(kind=ActorKind.SECRETARIAT, id="cpe-front-desk", auth_method=AuthMethod.CPE, acting_for=DR_MARTIN.id)
FRONT_DESK_ALONE = dataclasses.replace(FRONT_DESK, acting_for=None)

HOLDER = Actor(kind=ActorKind.PATIENT, id=CAMILLE, auth_method=AuthMethod.FRANCE_CONNECT, name="Camille")
OTHER_PATIENT = Actor(kind=ActorKind.PATIENT, id="patient-dominique", auth_method=AuthMethod.FRANCE_CONNECT)
PARENT = Actor(kind=ActorKind.REPRESENTATIVE, id="parent-alex", auth_method=AuthMethod.FRANCE_CONNECT)
NOT_A_PARENT = Actor(kind=ActorKind.REPRESENTATIVE, id="neighbour", auth_method=AuthMethod.FRANCE_CONNECT)

APP_TENSIO = Actor(kind=ActorKind.APP, id="app-tensio", auth_method=AuthMethod.APP_TOKEN)
APP_UNKNOWN = Actor(kind=ActorKind.APP, id="app-unknown", auth_method=AuthMethod.APP_TOKEN)
PLATFORM = Actor(kind=ActorKind.SYSTEM, id="dispatch-job", auth_method=AuthMethod.SYSTEM)
AUDITOR = Actor(kind=ActorKind.OPERATOR, id="operator-audit", auth_method=AuthMethod.CLI)
FORGED = dataclasses.replace(DR_MARTIN, auth_method=AuthMethod.APP_TOKEN)  # an app token sold as a CPS
NAMELESS = dataclasses.replace(DR_MARTIN, id="")


def grant(grantee_kind: Any, grantee_id: str, **kw: Any) -> Grant:
    values: dict[str, Any] = dict(can_read=True, can_write=False, valid_from=NOW - 10 * DAY)
    values.update(kw)
    return Grant(grantee_kind=grantee_kind, grantee_id=grantee_id, **values)


def camille(**overrides: Any) -> PatientFacts:
    """Camille's record: an open space, a qualified identity, a care team, a consent, a few grants."""
    values: dict[str, Any] = dict(
        patient_id=CAMILLE,
        identity_status=IdentityStatus.QUAL,
        care_team=(
            CareTeamMember(professional_id=DR_MARTIN.id, is_medecin_traitant=True),
            CareTeamMember(professional_id=NURSE_LEA.id, informed_at=NOW - 30 * DAY),
            CareTeamMember(professional_id=DENTIST_INES.id, informed_at=NOW - 30 * DAY, refused_at=NOW - 29 * DAY),
            CareTeamMember(professional_id=KINE_HUGO.id),
            CareTeamMember(professional_id=SURGEON_ZOE.id, informed_at=NOW - 5 * DAY),
        ),
        consents=(Consent(professional_id=PHARMACIST_PAUL.id, given_at=NOW - HOUR, expires_at=NOW + 3 * HOUR),),
        blocked_professionals=frozenset({DR_BLOCKED.id}),
        blocked_organisations=frozenset({"clinique-du-lac"}),
        grants=(
            grant("professional", DR_GRANTED.id, class_codes=frozenset({"10"})),
            grant("organisation", "hopital-sud-org"),
            grant("app", APP_TENSIO.id, can_write=True, class_codes=frozenset({"10", "90"})),
        ),
        representatives=frozenset({PARENT.id}),
    )
    values.update(overrides)
    return PatientFacts(**values)


def document(**overrides: Any) -> DocumentFacts:
    """Dr Martin's consultation report, unless told otherwise."""
    values: dict[str, Any] = dict(
        id="doc-consultation", type_code="11488-4", class_code="10", author_id=DR_MARTIN.id, author_kind="professional"
    )
    values.update(overrides)
    return DocumentFacts(**values)


CONSULTATION = document()
OPERATIVE_REPORT = document(id="doc-operative", type_code="34874-8", author_id=SURGEON_ZOE.id)
DR_ROSSI = "rpps-dr-rossi"  # a hospital doctor who wrote some of Camille's documents
PSYCHIATRIC_SUMMARY = document(id="doc-psy", type_code="68599-0", class_code="11", author_id=DR_ROSSI)
RESIDENCE = document(id="doc-residence", type_code="ATTEST-RESID", class_code="95", author_kind="patient",
                     author_id=CAMILLE)  # fmt: skip
SOCIAL_NOTE = document(id="doc-social", type_code="28653-4", author_id=SOCIAL_WORKER_NINA.id)
HIDDEN = document(id="doc-hidden", author_id=SURGEON_ZOE.id, hidden_from_professionals=True)
HELD_BACK = document(id="doc-held-back", type_code="11502-2", author_id=DR_MARTIN.id, invisible_to_patient=True)
NOT_FOR_PARENTS = document(id="doc-contraception", invisible_to_representatives=True)
PRESCRIPTION = document(id="doc-prescription", type_code="57833-6", class_code="42", author_id=DR_ROSSI)
IMAGING = document(id="doc-imaging", type_code="18748-4", class_code="31", author_id=DR_ROSSI)
PATIENT_NOTE = document(id="doc-patient", type_code="DOCPAT03", author_id=CAMILLE, author_kind="patient")
APP_MEASURES = document(id="doc-app", type_code="EXPPAT_2", class_code="90", author_id=APP_TENSIO.id,
                        author_kind="app")  # fmt: skip


def normal() -> Context:
    return Context(now=NOW, request_id="req-1")


def emergency(justification: str | None = "inconscient aux urgences, allergies à vérifier") -> Context:
    return Context(now=NOW, mode=Mode.EMERGENCY, justification=justification)


def regulation(justification: str | None = "appel au 15 : douleur thoracique") -> Context:
    return Context(now=NOW, mode=Mode.REGULATION, justification=justification)

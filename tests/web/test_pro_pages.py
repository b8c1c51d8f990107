"""The professional portal without a browser: the home's search form, the patient search by INS and by traits
(identity status, qualified INS only, collision warnings, unreadable input said in place)."""

from __future__ import annotations

import html

from fastapi.testclient import TestClient

from carnet.bootstrap import Platform
from carnet.identity import service as identities
from tests.api.conftest import Tokens
from tests.builders import DR_HOUSE, FRONT_DESK, dominique, qualified_patient
from tests.web.test_pages import _signed_in

DOMINIQUE_INS = "279035121518989"


def test_the_professional_home_is_the_patient_search(client: TestClient, tokens: Tokens) -> None:
    _signed_in(client, tokens.for_actor(DR_HOUSE))
    for path in ("/", "/pro"):
        answer = client.get(path)
        assert answer.status_code == 200
        assert "Rechercher un patient" in answer.text and 'name="ins"' in answer.text
    assert 'href="/pro/patients"' in client.get("/pro").text


def test_a_patient_is_found_by_ins_and_by_traits_with_collision_warnings(
    client: TestClient, tokens: Tokens, platform: Platform
) -> None:
    qualified_patient(platform)
    with platform.uow() as uow:  # a provisional near-duplicate: same birth date, one letter apart
        identities.register(uow=uow, actor=FRONT_DESK, traits=dominique(birth_name="Pat-Troie"))
        uow.commit()
    _signed_in(client, tokens.for_actor(DR_HOUSE))
    by_ins = html.unescape(client.get(f"/pro/patients?ins={DOMINIQUE_INS}").text)
    assert "1 patient(s) trouvé(s)" in by_ins
    assert f"INS {DOMINIQUE_INS}" in by_ins and "Identité qualifiée" in by_ins
    assert "risque de doublon" in by_ins and "PAT-TROIE" in by_ins
    by_traits = html.unescape(client.get("/pro/patients?nom=pat&naissance=1979-03-28").text)
    assert "2 patient(s) trouvé(s)" in by_traits
    assert "Identité provisoire" in by_traits and "aucun document ne peut être déposé" in by_traits
    assert "Aucun patient ne correspond." in client.get("/pro/patients?nom=inconnu").text
    bad = client.get("/pro/patients?ins=123")
    assert bad.status_code == 422 and 'role="alert"' in bad.text
    assert client.get("/pro/patients?naissance=hier").status_code == 422


def test_a_patient_has_no_professional_space(client: TestClient, tokens: Tokens, platform: Platform) -> None:
    qualified_patient(platform)
    _signed_in(client, tokens.for_patient(DOMINIQUE_INS))
    answer = client.get("/pro/patients?nom=pat")
    assert answer.status_code == 403 and "Accès refusé" in answer.text

"""AuditEvent search: the holder's access history (and the operator's audit) on both backends."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.auditevent import AuditEvent
from fhir.resources.R4B.bundle import Bundle

from carnet.access import service as access
from carnet.access.model import Actor, ActorKind, AuthMethod
from carnet.bootstrap import Platform
from carnet.errors import Forbidden
from carnet.record import service as record
from tests.api.conftest import Tokens
from tests.builders import DR_HOUSE, PLATFORM, example, in_care_team, make_person, qualified_patient

DOMINIQUE_INS = "279035121518989"
ELODIE_INS = "215104410965730"
DR_LEROY = Actor(kind=ActorKind.PROFESSIONAL, id="899700000002", auth_method=AuthMethod.CPS, profession="10")


@pytest.fixture
def dominique(platform: Platform) -> str:
    """Dominique's record: Dr Moreau read her synthesis, Dr Leroy (outside the care team) was refused."""
    patient_id = qualified_patient(platform)
    in_care_team(platform, patient_id, DR_HOUSE)
    with platform.uow() as uow:
        entry = record.deposit(uow=uow, actor=PLATFORM, patient_id=patient_id, content=example("VSM_1.4_2022.01.xml"))
        uow.commit()
    with platform.uow() as uow:
        record.get_content(uow=uow, actor=DR_HOUSE, entry_id=entry.entry.id)
        uow.commit()
    with platform.uow() as uow, pytest.raises(Forbidden):
        record.get_document(uow=uow, actor=DR_LEROY, entry_id=entry.entry.id)
    return patient_id


def search(client: TestClient, token: str, query: str = "", status: int = 200) -> Any:
    response = client.get(f"/fhir/AuditEvent{query}", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == status, response.text
    body = response.json()
    if status == 200:
        Bundle.model_validate(body)
        for entry in body["entry"]:
            AuditEvent.model_validate(entry["resource"])
    return body


def _subtypes(bundle: dict[str, Any]) -> list[str]:
    return [e["resource"]["subtype"][0]["code"] for e in bundle["entry"]]


def test_the_holder_sees_who_read_their_record(client: TestClient, tokens: Tokens, dominique: str) -> None:
    holder = tokens.for_patient(DOMINIQUE_INS)
    history = search(client, holder)
    assert "document.read" in _subtypes(history)
    read = next(e["resource"] for e in history["entry"] if e["resource"]["subtype"][0]["code"] == "document.read"
                and e["resource"]["outcome"] == "0")  # fmt: skip
    assert read["agent"][0]["who"]["identifier"] == {"system": "urn:oid:1.2.250.1.71.4.2.1", "value": DR_HOUSE.id}
    assert read["action"] == "R"
    recorded = [e["resource"]["recorded"] for e in history["entry"]]
    assert recorded == sorted(recorded)
    by_house = search(client, holder, f"?patient=Patient/{dominique}&agent=Practitioner/{DR_HOUSE.id}")
    assert {e["resource"]["agent"][0]["who"]["identifier"]["value"] for e in by_house["entry"]} == {DR_HOUSE.id}
    refused = search(client, holder, "?outcome=4")
    assert [e["resource"]["agent"][0]["who"]["identifier"]["value"] for e in refused["entry"]] == [DR_LEROY.id]
    assert "no_basis" in refused["entry"][0]["resource"]["outcomeDesc"]
    assert search(client, holder, "?action=R&subtype=document.read&date=ge2026-01-01&date=le2030")["total"] >= 2
    assert search(client, holder, "?date=lt2000")["total"] == 0
    # Reading the history is traced too.
    assert search(client, holder, "?subtype=audit.history")["total"] >= 1


def test_paging_through_the_history(client: TestClient, tokens: Tokens, dominique: str) -> None:
    holder = tokens.for_patient(DOMINIQUE_INS)
    first = search(client, holder, "?_count=2")
    assert len(first["entry"]) == 2 and first["total"] > 2
    link = next(lk["url"] for lk in first["link"] if lk["relation"] == "next")
    second = search(client, holder, "?" + link.split("?", 1)[1])
    assert {e["resource"]["id"] for e in first["entry"]}.isdisjoint({e["resource"]["id"] for e in second["entry"]})


def test_operator_and_representative_read_it_professionals_and_apps_do_not(
    client: TestClient, tokens: Tokens, platform: Platform, dominique: str
) -> None:
    operator = tokens.idp.mint({"carnet_role": "operator", "name": "Contrôle"}, subject="ops-1")
    assert search(client, operator, f"?patient={dominique}")["total"] > 0
    assert search(client, operator, status=400)["issue"][0]["expression"] == ["patient"]
    search(client, tokens.for_actor(DR_HOUSE), f"?patient={dominique}", status=403)
    app = tokens.for_app("mon-suivi", ["patient/AuditEvent.rs"], patient_ins=DOMINIQUE_INS)
    search(client, app, f"?patient={dominique}", status=403)
    search(client, tokens.for_patient("277076322082910"), f"?patient={dominique}", status=403)
    assert client.get(f"/fhir/AuditEvent?patient={dominique}").status_code == 401
    elodie = qualified_patient(platform, make_person(birth_name="VINCENT", birth_first_names="ELODIE INES",
                                                     birth_date="2015-10-25", birth_place="44109"))  # fmt: skip
    with platform.uow() as uow:
        access.add_representative(uow=uow, actor=PLATFORM, patient_id=elodie, representative_id=dominique,
                                  role="parent")  # fmt: skip
        uow.commit()
    mother = tokens.for_patient(DOMINIQUE_INS, represents=(ELODIE_INS,))
    assert "identity.create" in _subtypes(search(client, mother, f"?patient=Patient/{elodie}"))


@pytest.mark.parametrize(
    ("query", "expression"),
    [("?action=X", "action"), ("?date=yesterday", "date"), ("?outcome=1", "outcome"), ("?agent=a|b", "agent"),
     ("?patient=Practitioner/1", "patient"), ("?who=me", "who")],
)  # fmt: skip
def test_bad_parameters(client: TestClient, tokens: Tokens, dominique: str, query: str, expression: str) -> None:
    body = search(client, tokens.for_patient(DOMINIQUE_INS), query, status=400)
    assert body["issue"][0]["expression"] == [expression]

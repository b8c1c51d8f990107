"""ITI-67 Find Document References: each search parameter, paging through next links, full-text, errors."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle

from carnet.bootstrap import Platform
from carnet.clock import FrozenClock
from tests.api.conftest import Tokens
from tests.api.documents_support import (
    CR_BIO,
    DOMINIQUE_INS,
    DR_MEDIONI,
    IMAGING,
    INS_SYSTEM,
    LDL_SES,
    VSM,
    deposit_examples,
    dominique_with_doctors,
    expressions,
)
from tests.builders import DR_HOUSE

URL = "/fhir/DocumentReference"


@pytest.fixture
def record(client: TestClient, tokens: Tokens, platform: Platform, clock: FrozenClock) -> dict[str, str]:
    """Four examples deposited a day apart (submission dates 0, 1, 2, 3 days after the clock's start)."""
    patient_id = dominique_with_doctors(platform)
    ids = {"patient": patient_id}
    for name in (VSM, LDL_SES, CR_BIO, IMAGING):
        ids.update(deposit_examples(client, tokens, patient_id, name))
        clock.advance(dt.timedelta(days=1))
    return ids


def found(client: TestClient, token: str, **params: Any) -> list[str]:
    response = client.get(URL, params=params, headers=Tokens.headers(token))
    assert response.status_code == 200, response.text
    body = response.json()
    Bundle.model_validate(body)
    assert body["type"] == "searchset"
    return [e["resource"]["id"] for e in body.get("entry", [])]


def test_a_patient_search_returns_a_searchset_with_total_and_fullurls(client: TestClient, tokens: Tokens,
                                                                       record: dict[str, str]) -> None:  # fmt: skip
    response = client.get(
        URL, params={"patient": record["patient"]}, headers=tokens.headers(tokens.for_actor(DR_HOUSE))
    )
    body = response.json()
    assert body["total"] == 4
    assert all(e["search"]["mode"] == "match" for e in body["entry"])
    assert body["entry"][0]["fullUrl"].endswith(f"/fhir/DocumentReference/{body['entry'][0]['resource']['id']}")
    # Newest submission first by default.
    assert [e["resource"]["id"] for e in body["entry"]] == [record[n] for n in (IMAGING, CR_BIO, LDL_SES, VSM)]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"type": "http://loinc.org|11502-2"}, [CR_BIO]),
        ({"type": "SYNTH,11490-0"}, [VSM, LDL_SES]),
        ({"category": "31"}, [IMAGING]),
        ({"facility": "SA01"}, [LDL_SES]),
        ({"setting": "ETABLISSEMENT"}, [VSM, LDL_SES]),
        ({"format": "urn:ihe:lab:xd-lab:2008"}, [CR_BIO]),
        ({"author.family": "medio"}, [VSM]),
        ({"author.given": "Charles"}, [LDL_SES]),
        ({"author.given": "jacq"}, [IMAGING]),
        ({"security-label": "N"}, [VSM, LDL_SES, CR_BIO, IMAGING]),
        ({"security-label": "R"}, []),
        ({"security-label": "MASQUE_PS"}, []),
        ({"creation": "2021"}, [CR_BIO, IMAGING]),
        ({"creation": "ge2021-01-05"}, [IMAGING]),
        ({"creation": "lt2020-01-01"}, [LDL_SES]),
        ({"period": "2019-10"}, [LDL_SES]),
        ({"identifier": "urn:oid:1.2.250.1.213.1.1.1.13.2022.1.1"}, [VSM]),
        ({"status": "current"}, [VSM, LDL_SES, CR_BIO, IMAGING]),
        ({"status": "superseded"}, []),
        ({"_content": "escherichia"}, [CR_BIO]),
        ({"_text": "antécédents"}, [VSM, IMAGING]),
    ],
    ids=lambda v: str(v),
)
def test_each_parameter_filters(client: TestClient, tokens: Tokens, record: dict[str, str], params: dict[str, str],
                                expected: list[str]) -> None:  # fmt: skip
    got = found(client, tokens.for_actor(DR_HOUSE), patient=record["patient"], _sort="creation", **params)
    if "_content" in params:
        assert set(got) == {record[n] for n in expected}
    else:
        by_creation = [record[n] for n in (LDL_SES, VSM, CR_BIO, IMAGING) if n in expected]
        assert got == by_creation


def test_date_prefixes_on_the_submission_date(client: TestClient, tokens: Tokens, record: dict[str, str],
                                               clock: FrozenClock) -> None:  # fmt: skip
    token = tokens.for_actor(DR_HOUSE)
    start = (clock.now() - dt.timedelta(days=4)).date()  # the day the first example was submitted
    day = dt.timedelta(days=1)
    patient = record["patient"]
    assert found(client, token, patient=patient, date=f"{start}") == [record[VSM]]
    assert found(client, token, patient=patient, date=f"eq{start + day}") == [record[LDL_SES]]
    assert found(client, token, patient=patient, date=f"gt{start + day}", _sort="date") == [
        record[CR_BIO],
        record[IMAGING],
    ]
    assert found(client, token, patient=patient, date=f"lt{start + day}") == [record[VSM]]
    assert found(client, token, patient=patient, date=f"le{start + day}", _sort="date") == [
        record[VSM],
        record[LDL_SES],
    ]
    both = client.get(f"{URL}?patient={patient}&date=ge{start + day}&date=le{start + 2 * day}&_sort=date",
                      headers=tokens.headers(token)).json()  # fmt: skip
    assert [e["resource"]["id"] for e in both["entry"]] == [record[LDL_SES], record[CR_BIO]]


def test_the_patient_can_be_named_by_ins(client: TestClient, tokens: Tokens, record: dict[str, str]) -> None:
    token = tokens.for_actor(DR_HOUSE)
    assert len(found(client, token, **{"patient.identifier": f"{INS_SYSTEM}|{DOMINIQUE_INS[0]}"})) == 4
    assert len(found(client, token, patient=f"Patient/{record['patient']}")) == 4


def test_paging_follows_next_links_to_the_end(client: TestClient, tokens: Tokens, record: dict[str, str]) -> None:
    headers = tokens.headers(tokens.for_actor(DR_HOUSE))
    url: str | None = f"{URL}?patient={record['patient']}&_count=3"
    seen: list[str] = []
    pages = 0
    while url:
        body = client.get(url, headers=headers).json()
        assert body["total"] == 4
        seen += [e["resource"]["id"] for e in body.get("entry", [])]
        links = {link["relation"]: link["url"] for link in body["link"]}
        if pages == 1:
            assert "previous" in links
        url = links.get("next")
        if url:
            parts = urlsplit(url)
            url = f"{parts.path}?{parts.query}"
        pages += 1
    assert pages == 2 and sorted(seen) == sorted(record[n] for n in (VSM, LDL_SES, CR_BIO, IMAGING))


def test_post_search_form_encoded(client: TestClient, tokens: Tokens, record: dict[str, str]) -> None:
    response = client.post(f"{URL}/_search", data={"patient": record["patient"], "type": "SYNTH"},
                           headers=tokens.headers(tokens.for_actor(DR_HOUSE)))  # fmt: skip
    assert response.status_code == 200, response.text
    assert [e["resource"]["id"] for e in response.json()["entry"]] == [record[VSM]]


def test_replacements_are_found_by_related_and_relatesto(client: TestClient, tokens: Tokens,
                                                          record: dict[str, str]) -> None:  # fmt: skip
    from tests.api.documents_support import bundle, created_ids, submit
    from tests.builders import example

    old = record[VSM]
    version2 = example(VSM).replace(b"1.2.250.1.213.1.1.1.13.2022.1.1", b"1.2.250.1.213.1.1.1.13.2022.1.2", 1)
    relation = [{"code": "replaces", "target": {"reference": f"DocumentReference/{old}"}}]
    (new,) = created_ids(submit(client, tokens.for_actor(DR_MEDIONI), bundle(version2, record["patient"],
                                                                            relatesTo=relation)))  # fmt: skip
    token = tokens.for_actor(DR_HOUSE)
    patient = record["patient"]
    assert found(client, token, patient=patient, relatesto=f"DocumentReference/{old}") == [new]
    assert found(client, token, patient=patient, related=f"DocumentReference/{new}") == [old]
    assert found(client, token, patient=patient, status="superseded") == [old]
    assert old not in found(client, token, patient=patient, status="current")


def test_search_errors_name_the_parameter(client: TestClient, tokens: Tokens, record: dict[str, str]) -> None:
    headers = tokens.headers(tokens.for_actor(DR_HOUSE))
    patient = record["patient"]
    assert expressions(client.get(URL, headers=headers), 400) == ["patient"]
    assert expressions(client.get(URL, params={"patient": patient, "date": "2021-13"}, headers=headers), 400) == [
        "date"
    ]
    assert expressions(client.get(URL, params={"patient": patient, "date": "sa2021"}, headers=headers), 400) == ["date"]
    assert expressions(client.get(URL, params={"patient": patient, "_count": "many"}, headers=headers), 400) == [
        "_count"
    ]
    assert expressions(client.get(URL, params={"patient": patient, "_sort": "colour"}, headers=headers), 400) == [
        "_sort"
    ]
    assert expressions(client.get(URL, params={"patient": patient, "status": "draft"}, headers=headers), 400) == [
        "status"
    ]
    unknown = {"patient": patient, "colour": "blue"}
    assert client.get(URL, params=unknown, headers=headers).status_code == 200  # lenient by default
    strict = client.get(URL, params=unknown, headers={**headers, "Prefer": "handling=strict"})
    assert expressions(strict, 400) == ["colour"]
    assert expressions(client.get(URL, params={"patient.identifier": f"{INS_SYSTEM}|277076322082910"},
                                  headers=headers), 404) == ["patient.identifier"]  # fmt: skip


def test_an_empty_page_has_no_entry_array_and_count_zero_gives_the_total(client: TestClient, tokens: Tokens,
                                                                          record: dict[str, str]) -> None:  # fmt: skip
    headers = tokens.headers(tokens.for_actor(DR_HOUSE))
    none = client.get(URL, params={"patient": record["patient"], "type": "34874-8"}, headers=headers).json()
    assert none["total"] == 0 and "entry" not in none
    Bundle.model_validate(none)
    summary = client.get(URL, params={"patient": record["patient"], "_count": "0"}, headers=headers).json()
    assert summary["total"] == 4 and "entry" not in summary

"""``carnet dev token``: a bearer token for a demo user, which the API (same data folder, same key) accepts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from carnet.api.app import create_app
from carnet.settings import Settings
from tests.e2e.clirun import Carnet


@pytest.fixture
def api(carnet: Carnet) -> Iterator[TestClient]:
    """The API on the same data folder as the command (development settings, as ``carnet serve`` has them)."""
    settings = Settings(data_dir=Path(carnet.env["CARNET_DATA_DIR"]), demo_data=False, rate_limit_per_minute=0,
                        _env_file=None)  # fmt: skip
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def whoami(api: TestClient, token: str) -> dict[str, Any]:
    response = api.get("/auth/whoami", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_a_professional_token_is_accepted_by_the_api(carnet: Carnet, api: TestClient) -> None:
    token = carnet.ok("dev", "token", "--professional", "899700000001").stdout.strip()
    me = whoami(api, token)
    assert (me["kind"], me["id"], me["profession"], me["name"]) == ("professional", "899700000001", "10", "Paul MARTIN")


def test_a_secretariat_token_acts_for_its_doctor(carnet: Carnet, api: TestClient) -> None:
    me = whoami(api, carnet.ok("dev", "token", "--professional", "0899700101").stdout.strip())
    assert (me["kind"], me["acting_for"]) == ("secretariat", "899700000001")


@pytest.mark.parametrize("ins", ["279035121518989", "139117505617657"])  # a demo patient; any valid INS
def test_a_patient_token_is_accepted_by_the_api(carnet: Carnet, api: TestClient, ins: str) -> None:
    me = whoami(api, carnet.ok("dev", "token", "--patient", ins).stdout.strip())
    assert (me["kind"], me["id"], me["auth_method"]) == ("patient", ins, "france_connect")


def test_an_app_token_has_the_scopes_asked_for_and_the_lifetime(carnet: Carnet, api: TestClient) -> None:
    run = carnet.ok("dev", "token", "--app", "demo-app", "--scope", "patient/DocumentReference.rs",
                    "--scope", "patient/Binary.r", "--lifetime", "120")  # fmt: skip
    token = run.stdout.strip()
    me = whoami(api, token)
    assert (me["kind"], me["id"], me["scopes"]) == (
        "app",
        "demo-app",
        ["patient/Binary.r", "patient/DocumentReference.rs"],
    )
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["exp"] - claims["iat"], claims["patient"]) == (120, "279035121518989")


def test_an_app_token_can_name_its_holder(carnet: Carnet, api: TestClient) -> None:
    token = carnet.ok("dev", "token", "--app", "demo-app", "--patient", "277076322082910").stdout.strip()
    assert jwt.decode(token, options={"verify_signature": False})["patient"] == "277076322082910"
    assert whoami(api, token)["kind"] == "app"


@pytest.mark.parametrize(
    ("args", "env", "code", "words"),
    [
        (("--professional", "899700000001"), {"CARNET_DEV_IDP": "false"}, 2, "désactivé"),
        (("--professional", "899700000001"), {"CARNET_ENV": "production"}, 2, "production"),
        (("--professional", "812345678901"), {}, 1, "inconnu : 812345678901 (connus : 899700000001"),
        (("--patient", "12345"), {}, 1, "INS invalide"),
        (("--app", "carnet-web"), {}, 1, "application inconnue"),
        (("--app", "demo-app", "--scope", "system/*.rs"), {}, 1, "system/*.rs"),
        (("--professional", "899700000001", "--patient", "279035121518989"), {}, 2, "exactement un"),
        ((), {}, 2, "exactement un"),
        (("--patient", "279035121518989", "--scope", "patient/*.rs"), {}, 2, "--scope"),
    ],
)
def test_refusals_say_why_and_print_no_token(
    carnet: Carnet, args: tuple[str, ...], env: dict[str, str], code: int, words: str
) -> None:
    run = carnet("dev", "token", *args, env=env)
    assert run.code == code, str(run)
    assert run.stdout == "", str(run)
    assert words in run.stderr, str(run)
    assert "Traceback" not in run.stderr

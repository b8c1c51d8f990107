"""API fixtures: the application on each backend, a client, real tokens from the development identity provider,
and the same application served by uvicorn on loopback for third-party FHIR clients.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from carnet.access.model import Actor, ActorKind
from carnet.api.app import create_app
from carnet.auth.devidp import DevIdentityProvider, app_claims, patient_claims, professional_claims
from carnet.bootstrap import Platform
from carnet.settings import Settings


@dataclass
class Tokens:
    """Real bearer tokens signed by the platform's development identity provider."""

    idp: DevIdentityProvider

    def for_actor(self, actor: Actor, **mint: Any) -> str:
        """A token for a professional or secretariat test actor (tests/builders.py)."""
        family, _, given = (actor.name or "TEST Test").partition(" ")
        if actor.kind == ActorKind.SECRETARIAT:
            claims = professional_claims(actor.id if actor.id[0] in "08" else "0" + actor.id[-9:].zfill(9),
                                         profession=None, given_name=given or "Test", family_name=family, amr="cpe",
                                         acting_for=actor.acting_for)  # fmt: skip
        else:
            claims = professional_claims(actor.id, profession=actor.profession, specialty=actor.specialty,
                                         given_name=given or "Test", family_name=family,
                                         organisation_id=actor.organisation_id,
                                         organisation_name=actor.organisation_name,
                                         amr="e-cps" if actor.auth_method.value == "e_cps" else "cps")  # fmt: skip
        return self.idp.mint(claims, subject=claims["SubjectNameID"], **mint)

    def for_patient(
        self, ins: str, *, oid: str = "1.2.250.1.213.1.4.10", represents: tuple[str, ...] = (), **mint: Any
    ) -> str:
        claims = patient_claims(ins, ins_oid=oid, represents=[{"ins": r, "oid": oid} for r in represents])
        return self.idp.mint(claims, subject=f"fc-{ins}", **mint)

    def for_app(self, client_id: str, scopes: list[str], *, patient_ins: str | None = None, **mint: Any) -> str:
        return self.idp.mint(app_claims(client_id, scopes=scopes, patient_ins=patient_ins), subject=client_id, **mint)

    @staticmethod
    def headers(token: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}", **extra}


@pytest.fixture
def api_settings(settings: Settings) -> Settings:
    """Test settings with the rate limit off (its own test turns it on)."""
    return settings.model_copy(update={"rate_limit_per_minute": 0})


@pytest.fixture
def app(platform: Platform, api_settings: Settings) -> FastAPI:
    return create_app(api_settings, platform=platform)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def tokens(app: FastAPI) -> Tokens:
    idp = app.state.dev_idp
    assert isinstance(idp, DevIdentityProvider)
    return Tokens(idp)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    app: FastAPI
    tokens: Tokens


@pytest.fixture
def live_server(platform: Platform, api_settings: Settings) -> Iterator[LiveServer]:
    """The application under uvicorn on a loopback port, in a thread (one per test, on each backend)."""
    port = _free_port()
    settings = api_settings.model_copy(update={"public_url": f"http://127.0.0.1:{port}"})
    application = create_app(settings, platform=platform)
    server = uvicorn.Server(uvicorn.Config(application, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="on"))  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield LiveServer(url=f"http://127.0.0.1:{port}", app=application, tokens=Tokens(application.state.dev_idp))
    finally:
        server.should_exit = True
        thread.join(timeout=15)

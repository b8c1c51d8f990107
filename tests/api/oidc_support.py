"""The external OpenID provider of the interoperability tests: node-oidc-provider (tests/oidc/server.mjs, its exact
version pinned in tests/oidc/package-lock.json) started on loopback for the test session, shared by the API's tests
(client credentials, tests/api/test_external_oidc.py) and the portal's (authorization code, tests/web/
test_external_signin.py). With ``CARNET_REQUIRE_NODE=1`` (``make test``, CI) a missing Node.js fails the run instead
of skipping these tests.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

OIDC_DIR = Path(__file__).resolve().parents[1] / "oidc"
AUDIENCE = "https://carnet.test/fhir"


def _require_node() -> bool:
    return os.environ.get("CARNET_REQUIRE_NODE", "") not in ("", "0", "false")


def _unavailable(reason: str) -> None:
    if _require_node():
        pytest.fail(f"Node.js is required (CARNET_REQUIRE_NODE=1) for the external OpenID provider: {reason}")
    pytest.skip(f"external OpenID provider not available: {reason}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ExternalProvider:
    issuer: str

    @property
    def jwks_uri(self) -> str:
        return f"{self.issuer}/jwks"

    def token(self, client_id: str, secret: str, *, scope: str | None = None, resource: str = AUDIENCE) -> str:
        """An access token through client credentials (client_secret_basic), over HTTP."""
        data = {"grant_type": "client_credentials", "resource": resource}
        if scope:
            data["scope"] = scope
        response = httpx.post(f"{self.issuer}/token", data=data, auth=(client_id, secret), timeout=10)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["token_type"] == "Bearer"
        return str(body["access_token"])

    def rotate(self) -> dict[str, Any]:
        response = httpx.post(f"{self.issuer}/_test/rotate", timeout=10)
        response.raise_for_status()
        return dict(response.json())

    def stats(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.issuer}/_test/stats", timeout=10).json())


@pytest.fixture(scope="session")
def external_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExternalProvider]:
    """``node tests/oidc/server.mjs --port N`` for the session (``npm ci`` first when node_modules is missing)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None:
        _unavailable("node not found (Debian: apt-get install nodejs npm)")
    assert node is not None
    if not (OIDC_DIR / "node_modules" / "oidc-provider").is_dir():
        if npm is None:
            _unavailable("npm not found and tests/oidc/node_modules missing")
        assert npm is not None
        install = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--prefer-offline"], cwd=OIDC_DIR,
                                 capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
        if install.returncode != 0:
            _unavailable(f"npm ci failed: {install.stderr[-2000:]}")
    port = _free_port()
    log_path = tmp_path_factory.mktemp("oidc") / "provider.log"  # a file, never a pipe that could fill up
    log = log_path.open("w")
    proc = subprocess.Popen([node, str(OIDC_DIR / "server.mjs"), "--port", str(port)], cwd=OIDC_DIR, stdout=log,
                            stderr=subprocess.STDOUT)  # fmt: skip
    issuer = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                _unavailable(f"the provider exited ({proc.returncode}): {log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                _unavailable("the provider did not answer its discovery document within 30 s")
            time.sleep(0.1)
        yield ExternalProvider(issuer)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()

"""One typed settings object: defaults, masking, and refusal of development defaults in production."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest

from carnet.settings import Settings


def test_the_embedded_default_is_sqlite_in_the_data_folder(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, _env_file=None)
    assert settings.effective_database_url == f"sqlite:///{tmp_path.resolve() / 'carnet.sqlite3'}"
    assert settings.effective_blob_dir == (tmp_path / "blobs").resolve()


def test_environment_variables_are_read_with_the_carnet_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARNET_PORT", "8443")
    monkeypatch.setenv("CARNET_DATABASE_URL", "postgresql://carnet@db.example/carnet")
    settings = Settings(_env_file=None)
    assert settings.port == 8443
    assert settings.effective_database_url == "postgresql://carnet@db.example/carnet"


def test_secrets_are_masked_in_repr_and_in_the_public_view() -> None:
    settings = Settings(
        secret_key="a-very-long-and-random-production-secret-value",
        database_url="postgresql://carnet:hunter2-db@db.example/carnet",
        _env_file=None,
    )
    shown = f"{settings!r} {settings.public_view()}"
    assert "a-very-long-and-random" not in shown
    assert "hunter2-db" not in shown
    assert settings.public_view()["secret_key"] == "**********"


JWKS = "https://auth.esante.gouv.fr/auth/realms/esante-wallet/protocol/openid-connect/certs"


@pytest.mark.parametrize(
    ("overrides", "complaint"),
    [
        ({}, "CARNET_SECRET_KEY"),
        ({"secret_key": "short"}, "CARNET_SECRET_KEY"),
        ({"database_url": None}, "CARNET_DATABASE_URL"),
        ({"database_url": "sqlite:////var/lib/carnet.db"}, "CARNET_DATABASE_URL"),
        ({"insi_mode": "sandbox"}, "CARNET_INSI_MODE"),
        ({"demo_data": True}, "CARNET_DEMO_DATA"),
        ({"dev_idp": True}, "CARNET_DEV_IDP"),
        ({"oidc_issuers": []}, "CARNET_OIDC_ISSUERS"),
    ],
)
def test_production_refuses_each_development_default(overrides: dict[str, object], complaint: str) -> None:
    values: dict[str, object] = {
        "env": "production",
        "secret_key": "x" * 48,
        "database_url": "postgresql://carnet@db/carnet",
        "insi_mode": "soap",
        "demo_data": False,
        "dev_idp": False,
        "oidc_issuers": [{"issuer": "https://auth.esante.gouv.fr/auth/realms/esante-wallet", "jwks_uri": JWKS}],
    }
    if overrides == {}:
        values.pop("secret_key")
    values.update(overrides)
    with pytest.raises(pydantic.ValidationError, match=complaint):
        Settings(_env_file=None, **values)


def test_a_complete_production_configuration_is_accepted() -> None:
    settings = Settings(
        env="production",
        secret_key="x" * 48,
        database_url="postgresql://carnet@db/carnet",
        insi_mode="soap",
        demo_data=False,
        dev_idp=False,
        oidc_issuers=[{"issuer": "https://auth.esante.gouv.fr/auth/realms/esante-wallet", "jwks_uri": JWKS}],
        _env_file=None,
    )
    assert settings.env.value == "production"
    assert not settings.dev_idp_enabled


@pytest.mark.parametrize("url", ["mysql://u@h/db", "oracle://x"])
def test_unsupported_databases_are_refused(url: str) -> None:
    with pytest.raises(pydantic.ValidationError, match="PostgreSQL"):
        Settings(database_url=url, _env_file=None)


def test_a_dotenv_shared_with_other_tools_is_accepted(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("OTHER_TOOL_TOKEN=1\nCARNET_PORT=9000\n", encoding="utf-8")
    assert Settings(_env_file=env).port == 9000

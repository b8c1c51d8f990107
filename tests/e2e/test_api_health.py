"""The web application from its factory: start-up bootstraps and migrates the platform, ``/health`` reports it.

``TestClient`` is used as a context manager so the lifespan runs exactly as under uvicorn.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect

from carnet.api.app import create_app
from carnet.bootstrap import bootstrap
from carnet.settings import Settings
from carnet.storage.db import make_engine
from carnet.storage.migrate import current_revision, head_revision


def make_settings(tmp_path: Path, database_url: str | None = None) -> Settings:
    return Settings(
        env="test",
        data_dir=tmp_path / "data",
        database_url=database_url,
        insi_mode="sandbox",
        demo_data=False,
        _env_file=None,
    )


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings pointing at an empty database of each backend (the application must create the schema)."""
    if request.param == "postgresql":
        return make_settings(tmp_path, request.getfixturevalue("fresh_postgres_url"))
    return make_settings(tmp_path)


def test_health_is_ok_with_the_schema_up_to_date_on_each_backend(backend_settings: Settings) -> None:
    dialect = "postgresql" if backend_settings.database_url else "sqlite"
    with TestClient(create_app(backend_settings)) as client:
        response = client.get("/health")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert body["schema_up_to_date"] is True
    assert body["schema_revision"] == head_revision()
    assert body["database"] == dialect


def test_the_application_started_on_a_fresh_sqlite_file_creates_the_schema(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    database = tmp_path / "data" / "carnet.sqlite3"
    assert not database.exists()

    with TestClient(create_app(settings)):
        pass

    assert database.exists()
    engine = make_engine(f"sqlite:///{database}")
    try:
        assert current_revision(engine) == head_revision()
        assert {"patients", "identity_events", "audit_events"} <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_health_reports_a_database_behind_the_code_as_degraded(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    platform = bootstrap(settings, migrate=False)
    try:
        with TestClient(create_app(settings, platform=platform)) as client:
            response = client.get("/health")
    finally:
        platform.close()
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["status"] == "degraded"
    assert body["schema_up_to_date"] is False
    assert body["schema_revision"] is None

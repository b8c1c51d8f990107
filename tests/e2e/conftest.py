"""End-to-end fixtures: a fresh, empty PostgreSQL database per test on the session's server.

Each test gets its own database (``CREATE DATABASE carnet_e2e_<uuid>``), dropped afterwards, so the
end-to-end tests see exactly what a first deployment sees and never disturb the shared test database.
If the server refuses ``CREATE DATABASE`` (a ``CARNET_TEST_POSTGRES_URL`` whose role lacks CREATEDB), the
shared database is emptied before the test and migrated back afterwards instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL, make_url

from carnet.storage.db import make_engine
from carnet.storage.migrate import upgrade
from carnet.storage.models import metadata
from tests.e2e.clirun import Carnet


def _libpq(url: URL) -> str:
    """The SQLAlchemy URL as a libpq connection string (psycopg wants no ``+driver``)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _empty(engine: Engine) -> None:
    """Drop everything the migrations create, so the database is as new."""
    metadata.drop_all(engine)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        conn.execute(text("DROP FUNCTION IF EXISTS carnet_append_only() CASCADE"))


@pytest.fixture
def fresh_postgres_url(postgres_url: str) -> Iterator[str]:
    """The URL of an empty PostgreSQL database (no schema, no ``alembic_version``) for this test only."""
    server = make_url(postgres_url)
    name = f"carnet_e2e_{uuid.uuid4().hex}"
    try:
        with psycopg.connect(_libpq(server), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.errors.InsufficientPrivilege:
        yield from _shared_database_emptied(postgres_url)
        return
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(_libpq(server), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _shared_database_emptied(postgres_url: str) -> Iterator[str]:
    engine = make_engine(postgres_url)
    try:
        _empty(engine)
        yield postgres_url
    finally:
        _empty(engine)
        upgrade(engine)  # the other suites expect the shared database migrated and empty
        engine.dispose()


@pytest.fixture
def carnet(tmp_path: Path) -> Carnet:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARNET_")}
    env.update(CARNET_DATA_DIR=str(tmp_path / "data"), CARNET_DEMO_DATA="false", PYTHONIOENCODING="utf-8")
    return Carnet(tmp_path, env)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, carnet: Carnet) -> str:
    """Points ``carnet`` at an empty database of each backend; returns the dialect name."""
    if request.param == "postgresql":
        carnet.env["CARNET_DATABASE_URL"] = request.getfixturevalue("fresh_postgres_url")
    return str(request.param)

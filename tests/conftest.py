"""Shared fixtures: both database backends, a frozen clock, the platform, test-data builders.

PostgreSQL: ``CARNET_TEST_POSTGRES_URL`` if set, otherwise a throwaway cluster started with initdb/pg_ctl.
With ``CARNET_REQUIRE_POSTGRES=1`` (set by ``make test`` and CI) a missing PostgreSQL fails the run;
without it, PostgreSQL-parametrised tests are skipped with the reason.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from carnet.bootstrap import Platform, bootstrap
from carnet.clock import FrozenClock
from carnet.identity.insi import SandboxInsi
from carnet.settings import Settings
from carnet.storage.blobs import FileBlobStore
from carnet.storage.db import make_engine
from carnet.storage.migrate import upgrade
from carnet.storage.models import metadata

BACKENDS = ["sqlite", "postgresql"]
NOW = dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.UTC)


def _require_postgres() -> bool:
    return os.environ.get("CARNET_REQUIRE_POSTGRES", "") not in ("", "0", "false")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL database URL for the whole session (schema migrated once)."""
    url = os.environ.get("CARNET_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    from carnet.errors import StorageError
    from carnet.storage.pgcluster import TemporaryPostgres

    cluster = TemporaryPostgres()
    try:
        cluster.start()
    except StorageError as exc:
        cluster.stop()
        if _require_postgres():
            pytest.fail(f"PostgreSQL is required (CARNET_REQUIRE_POSTGRES=1) but could not start: {exc}")
        pytest.skip(f"PostgreSQL not available: {exc}")
    try:
        yield cluster.url
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def _pg_engine(postgres_url: str) -> Iterator[Engine]:
    engine = make_engine(postgres_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def _truncate(engine: Engine) -> None:
    tables = [t.name for t in reversed(metadata.sorted_tables)]
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE " + ", ".join(tables) + " CASCADE"))


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty database on each backend."""
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'carnet.sqlite3'}")
        upgrade(eng)
        yield eng
        eng.dispose()
    else:
        pg: Engine = request.getfixturevalue("_pg_engine")
        _truncate(pg)
        yield pg
        _truncate(pg)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture(scope="session")
def sandbox_insi() -> SandboxInsi:
    return SandboxInsi.from_package()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(env="test", data_dir=tmp_path / "data", demo_data=False, _env_file=None)


@pytest.fixture
def platform(engine: Engine, settings: Settings, clock: FrozenClock, sandbox_insi: SandboxInsi) -> Platform:
    return bootstrap(
        settings,
        engine=engine,
        clock=clock,
        blobs=FileBlobStore(settings.data_dir / "blobs"),
        insi=sandbox_insi,
        migrate=False,
    )

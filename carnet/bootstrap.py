"""Assembles the platform's object graph in one place; nothing is created at import time."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from carnet.clock import Clock, SystemClock
from carnet.identity.insi import InsiClient, SandboxInsi, SoapInsi
from carnet.settings import Settings
from carnet.storage.blobs import BlobStore, FileBlobStore
from carnet.storage.db import make_engine, make_session_factory
from carnet.storage.migrate import upgrade
from carnet.storage.uow import UnitOfWork


@dataclass
class Platform:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    clock: Clock
    blobs: BlobStore
    insi: InsiClient = field(repr=False)

    def uow(self) -> UnitOfWork:
        """A new unit of work (use as ``with platform.uow() as uow: ...; uow.commit()``)."""
        return UnitOfWork(self.session_factory, clock=self.clock, blobs=self.blobs)

    def close(self) -> None:
        self.engine.dispose()


def make_insi(settings: Settings) -> InsiClient:
    if settings.insi_mode == "sandbox":
        return SandboxInsi.from_package()
    return SoapInsi(settings.insi_endpoint)


def bootstrap(
    settings: Settings,
    *,
    clock: Clock | None = None,
    blobs: BlobStore | None = None,
    insi: InsiClient | None = None,
    engine: Engine | None = None,
    migrate: bool = True,
) -> Platform:
    """Build the platform from settings; collaborators can be swapped (tests, embedding)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = engine or make_engine(settings.effective_database_url, echo=settings.log_sql)
    if migrate:
        upgrade(engine)
    return Platform(
        settings=settings,
        engine=engine,
        session_factory=make_session_factory(engine),
        clock=clock or SystemClock(),
        blobs=blobs or FileBlobStore(settings.effective_blob_dir),
        insi=insi or make_insi(settings),
    )

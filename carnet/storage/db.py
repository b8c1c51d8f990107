"""Engines and sessions for SQLite (embedded default, WAL) and PostgreSQL (production)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from carnet.errors import DatabaseUnavailable, ValidationError


def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain ``postgresql://`` URLs."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # FULL: an acknowledged commit survives a power cut, also in WAL mode.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def make_engine(url: str, *, echo: bool = False, check: bool = True) -> Engine:
    """Create the engine for ``url`` and, with ``check``, prove the database answers."""
    url = normalise_url(url)
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        # The URL is not echoed: it may carry a password.
        raise ValidationError(
            f"URL de base de données illisible ({exc}) : forme attendue postgresql://utilisateur:mot-de-passe@hôte:port/base",
            field="database_url",
        ) from None
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            from pathlib import Path

            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(
            url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=20, connect_args={"connect_timeout": 5}
        )
    if check:
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except OperationalError as exc:
            shown = parsed.render_as_string(hide_password=True)
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            engine.dispose()
            raise DatabaseUnavailable(f"Base de données injoignable ({shown}) : {reason}") from exc
    return engine


KEPT_ROWS = "carnet.storage.kept_rows"
"""``session.info`` key: the patient rows the session keeps alive (see :func:`make_session_factory`)."""
_KEPT_TABLES = frozenset({"patients"})
_KEPT_PER_SESSION = 64


def _keep_alive(session: Session, instance: object) -> None:
    if getattr(instance, "__tablename__", None) in _KEPT_TABLES:
        kept = session.info.setdefault(KEPT_ROWS, [])
        if len(kept) < _KEPT_PER_SESSION:
            kept.append(instance)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that do not expire on commit, autoflush, and keep the patient rows they load alive.

    The session's identity map holds its objects weakly: a patient row read by one service of a request (the
    record's access check) and dropped was read again by the next one (the FHIR mapping of the same request), one
    more statement each time. A session keeps up to 64 patient rows for its lifetime, so ``Session.get`` finds
    them, as it would while any caller held a reference.
    """
    factory = sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)
    event.listen(factory, "loaded_as_persistent", _keep_alive)
    return factory

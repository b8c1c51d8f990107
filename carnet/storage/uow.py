"""Unit of work: one transaction, rolled back unless ``commit()`` is called."""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from carnet.access.store import AccessRepository
from carnet.audit.store import AuditRepository, AuditRow, append_entry, holds_chain
from carnet.clock import Clock
from carnet.directory.store import DirectoryRepository
from carnet.errors import DatabaseUnavailable
from carnet.identity.store import PatientRepository
from carnet.notify.store import NotificationRepository
from carnet.record.store import DocumentRepository
from carnet.storage.blobs import BlobStore, InMemoryBlobStore

_WRITERS: ThreadPoolExecutor | None = None
_WRITERS_LOCK = threading.Lock()


def _writers() -> ThreadPoolExecutor:
    global _WRITERS
    with _WRITERS_LOCK:
        if _WRITERS is None:
            _WRITERS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="carnet-blob")
        return _WRITERS


class _BackgroundBlobs:
    """The unit of work's view of the blob store: ``put`` returns the digest at once and the content is written
    (temp file, fsync, rename, directory fsync: :class:`~carnet.storage.blobs.FileBlobStore`) on a worker thread
    while the unit of work goes on; ``get``, ``exists`` and the unit of work's commit wait for those writes
    first, so a committed entry never points to content that is not on disk, and a failed write fails the
    commit. The fsyncs (I/O waits) overlap the database work of the deposit instead of adding to it."""

    def __init__(self, store: BlobStore) -> None:
        self.store = store
        self.pending: list[Future[str]] = []

    def put(self, data: bytes) -> str:
        self.pending.append(_writers().submit(self.store.put, data))
        return hashlib.sha256(data).hexdigest()

    def get(self, digest: str) -> bytes:
        self.wait()
        return self.store.get(digest)

    def exists(self, digest: str) -> bool:
        self.wait()
        return self.store.exists(digest)

    def wait(self) -> None:
        """Wait for every write started here; raise the first failure (StorageError)."""
        pending, self.pending = self.pending, []
        failure: BaseException | None = None
        for future in pending:
            exc = future.exception()
            failure = failure or exc
        if failure is not None:
            raise failure


class UnitOfWork:
    """``with uow: ...; uow.commit()`` — leaving the block without commit rolls everything back."""

    session: Session
    patients: PatientRepository
    audit: AuditRepository
    documents: DocumentRepository
    access: AccessRepository
    notifications: NotificationRepository
    directory: DirectoryRepository

    def __init__(self, session_factory: sessionmaker[Session], *, clock: Clock, blobs: BlobStore) -> None:
        self._session_factory = session_factory
        self.clock = clock
        # In-memory stores (tests) write at once; a store on disk writes in the background (_BackgroundBlobs).
        self.blobs: BlobStore = blobs if isinstance(blobs, InMemoryBlobStore) else _BackgroundBlobs(blobs)
        self._active = False
        self._refusals: list[AuditRow] = []

    def __enter__(self) -> UnitOfWork:
        if self._active:
            raise RuntimeError("unit of work already in progress")
        self.session = self._session_factory()
        self.patients = PatientRepository(self.session)
        self.audit = AuditRepository(self.session)
        self.documents = DocumentRepository(self.session)
        self.access = AccessRepository(self.session)
        self.notifications = NotificationRepository(self.session)
        self.directory = DirectoryRepository(self.session)
        self._active = True
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # No write left running after the unit of work (its failure no longer matters: nothing was committed).
        try:
            self._wait_for_blobs()
        except Exception:  # noqa: BLE001, S110
            pass
        # close() rolls back whatever was not committed and detaches the objects without expiring them.
        self.session.close()
        self._active = False
        self._write_refusals()

    def flush(self) -> None:
        self.session.flush()

    def _wait_for_blobs(self) -> None:
        if isinstance(self.blobs, _BackgroundBlobs):
            self.blobs.wait()

    def commit(self) -> None:
        """Commit, once every content written in this unit of work is on disk (durable before acknowledged)."""
        try:
            self._wait_for_blobs()
        except BaseException:
            self.session.rollback()
            self._write_refusals()
            raise
        try:
            self.session.commit()
        except OperationalError as exc:
            self.session.rollback()
            raise DatabaseUnavailable(f"l'écriture n'a pas pu être enregistrée : {exc.orig}") from exc
        finally:
            self._write_refusals()

    def rollback(self) -> None:
        try:
            self._wait_for_blobs()
        except Exception:  # noqa: BLE001, S110
            pass
        self.session.rollback()
        self._write_refusals()

    def append_audit_now(self, row: AuditRow) -> None:
        """Commit an audit entry in its own transaction: a refused attempt is traced even though the unit of
        work that tried it is rolled back.

        If this unit of work already holds the lock the entry needs (it wrote to the SQLite database, or it
        appended to the same patient's chain on PostgreSQL), writing now from another connection would wait for
        this very transaction: the entry is then written as soon as this unit of work commits or rolls back.
        """
        if self._would_wait_for_itself(row):
            self._refusals.append(row)
            return
        self._write_own_transaction([row])

    def _would_wait_for_itself(self, row: AuditRow) -> bool:
        if not self._active or not self.session.in_transaction():
            return False
        connection = self.session.connection()
        if connection.dialect.name == "sqlite":
            # pysqlite opens the database transaction (and takes the write lock) with the first write only.
            return bool(getattr(connection.connection.dbapi_connection, "in_transaction", True))
        return holds_chain(self.session, row.patient_id)

    def _write_own_transaction(self, rows: list[AuditRow]) -> None:
        with self._session_factory() as session:
            for row in rows:
                append_entry(session, row)
            session.commit()

    def _write_refusals(self) -> None:
        rows, self._refusals = self._refusals, []
        if rows:
            self._write_own_transaction(rows)

"""Unit of work: one transaction, rolled back unless ``commit()`` is called."""

from __future__ import annotations

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
from carnet.storage.blobs import BlobStore


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
        self.blobs = blobs
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
        # close() rolls back whatever was not committed and detaches the objects without expiring them.
        self.session.close()
        self._active = False
        self._write_refusals()

    def flush(self) -> None:
        self.session.flush()

    def commit(self) -> None:
        try:
            self.session.commit()
        except OperationalError as exc:
            self.session.rollback()
            raise DatabaseUnavailable(f"l'écriture n'a pas pu être enregistrée : {exc.orig}") from exc
        finally:
            self._write_refusals()

    def rollback(self) -> None:
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

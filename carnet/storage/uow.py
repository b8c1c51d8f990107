"""Unit of work: one transaction, rolled back unless ``commit()`` is called."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from carnet.audit.store import AuditRepository, AuditRow
from carnet.clock import Clock
from carnet.errors import DatabaseUnavailable
from carnet.identity.store import PatientRepository
from carnet.record.store import DocumentRepository
from carnet.storage.blobs import BlobStore


class UnitOfWork:
    """``with uow: ...; uow.commit()`` — leaving the block without commit rolls everything back."""

    session: Session
    patients: PatientRepository
    audit: AuditRepository
    documents: DocumentRepository

    def __init__(self, session_factory: sessionmaker[Session], *, clock: Clock, blobs: BlobStore) -> None:
        self._session_factory = session_factory
        self.clock = clock
        self.blobs = blobs
        self._active = False

    def __enter__(self) -> UnitOfWork:
        if self._active:
            raise RuntimeError("unit of work already in progress")
        self.session = self._session_factory()
        self.patients = PatientRepository(self.session)
        self.audit = AuditRepository(self.session)
        self.documents = DocumentRepository(self.session)
        self._active = True
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # close() rolls back whatever was not committed and detaches the objects without expiring them.
        self.session.close()
        self._active = False

    def flush(self) -> None:
        self.session.flush()

    def commit(self) -> None:
        try:
            self.session.commit()
        except OperationalError as exc:
            self.session.rollback()
            raise DatabaseUnavailable(f"l'écriture n'a pas pu être enregistrée : {exc.orig}") from exc

    def rollback(self) -> None:
        self.session.rollback()

    def append_audit_now(self, row: AuditRow) -> None:
        """Commit an audit entry at once in its own transaction: a refused attempt is traced even though
        the unit of work that tried it is rolled back."""
        with self._session_factory() as session:
            session.add(row)
            session.commit()

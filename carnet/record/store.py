"""Persistence of the record: document entries and their full-text index (SQLite FTS5 / PostgreSQL french)."""

from __future__ import annotations

import collections
import datetime as dt
import functools
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    bindparam,
    func,
    insert,
    select,
    text,
    type_coerce,
)
from sqlalchemy.orm import Mapped, Session, make_transient_to_detached, mapped_column
from sqlalchemy.sql import Select

from carnet.storage.orm import Base, IdColumn, TimestampMixin, UTCDateTime, new_id

# The full-text table is created by the migration with backend-specific DDL (FTS5 virtual table on SQLite,
# a plain table with a GIN index on to_tsvector('french', …) on PostgreSQL); it is not in the ORM metadata.
SEARCH_TABLE = "document_search"


class DocumentRow(TimestampMixin, Base):
    """One document entry (one version) of a patient's record."""

    __tablename__ = "documents"

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    patient_id: Mapped[str] = mapped_column(IdColumn, ForeignKey("patients.id"), nullable=False)
    unique_id: Mapped[str] = mapped_column(String(128), nullable=False, unique=True)
    status: Mapped[str] = mapped_column(String(12), nullable=False)
    type_code: Mapped[str] = mapped_column(String(64), nullable=False)
    class_code: Mapped[str] = mapped_column(String(64), nullable=False)
    format_code: Mapped[str] = mapped_column(String(128), nullable=False)
    confidentiality_code: Mapped[str] = mapped_column(String(32), nullable=False)
    title: Mapped[str] = mapped_column(String(512), nullable=False)
    comment: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(16), nullable=False)
    mime_type: Mapped[str] = mapped_column(String(64), nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    # FHIR Attachment.hash is SHA-1 (base64); kept beside the SHA-256 that addresses the blob. Null for entries
    # deposited before migration 0006.
    sha1: Mapped[str | None] = mapped_column(String(40))
    author_id: Mapped[str] = mapped_column(String(64), nullable=False)
    author_family: Mapped[str | None] = mapped_column(String(100))
    author_given: Mapped[str | None] = mapped_column(String(100))
    author_profession: Mapped[str | None] = mapped_column(String(8))
    author_specialty: Mapped[str | None] = mapped_column(String(32))
    author_org_id: Mapped[str | None] = mapped_column(String(64))
    author_org_name: Mapped[str | None] = mapped_column(String(255))
    author_kind: Mapped[str] = mapped_column(String(16), nullable=False)
    facility_type: Mapped[str | None] = mapped_column(String(32))
    practice_setting: Mapped[str | None] = mapped_column(String(32))
    creation_time: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)
    service_start: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    service_stop: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    submission_source: Mapped[str | None] = mapped_column(String(128))
    submission_time: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)
    replaces_id: Mapped[str | None] = mapped_column(IdColumn, ForeignKey("documents.id"))
    replaced_by_id: Mapped[str | None] = mapped_column(IdColumn)
    hidden_from_professionals: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    invisible_to_patient: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    invisible_to_representatives: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    deleted_by: Mapped[str | None] = mapped_column(String(64))
    deposited_by: Mapped[str] = mapped_column(String(64), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        Index("ix_documents_patient_status_time", "patient_id", "status", "creation_time"),
        Index("ix_documents_patient_type", "patient_id", "type_code"),
        Index("ix_documents_patient_sha", "patient_id", "sha256"),
    )


def search_text(value: str) -> str:
    """Lower case without diacritics: the same folding for indexed text and queries on both backends."""
    decomposed = unicodedata.normalize("NFKD", value.replace("œ", "oe").replace("Œ", "OE"))
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).lower().split())


def _patient_token(patient_id: str) -> str:
    return "p" + patient_id.replace("-", "")


def fts_query(query: str) -> str:
    """An FTS5 query matching every word of ``query`` (quoted: user input is never FTS syntax)."""
    words = [w for w in "".join(c if c.isalnum() else " " for c in search_text(query)).split() if w]
    return " AND ".join(f'"{w}"*' for w in words)


@functools.cache
def _summary_type(names: tuple[str, ...]) -> Any:
    return collections.namedtuple("DocumentSummary", names)


@dataclass(frozen=True, slots=True)
class DocumentFilters:
    type_codes: Sequence[str] = ()
    class_codes: Sequence[str] = ()
    author: str | None = None  # id, or part of the name
    author_kind: str | None = None
    facility_type: str | None = None
    practice_setting: str | None = None
    format_code: str | None = None
    created_from: dt.datetime | None = None
    created_to: dt.datetime | None = None
    service_from: dt.datetime | None = None
    service_to: dt.datetime | None = None
    statuses: Sequence[str] = ("current",)
    # The FHIR search of the API (docs/api.md "Documents (MHD)"): names start with (case-insensitive), code lists
    # are OR'ed, a flag set to True or False must have that value.
    author_given: str | None = None
    author_family: str | None = None
    facility_types: Sequence[str] = ()
    practice_settings: Sequence[str] = ()
    format_codes: Sequence[str] = ()
    confidentiality_codes: Sequence[str] = ()
    hidden_from_professionals: bool | None = None
    invisible_to_patient: bool | None = None
    invisible_to_representatives: bool | None = None
    unique_ids: Sequence[str] = ()
    replaces: str | None = None  # entries that replace this entry id
    related_to: str | None = None  # entries that replace, or were replaced by, this entry id
    submitted_from: dt.datetime | None = None
    submitted_to: dt.datetime | None = None


SORTS: dict[str, tuple[Any, ...]] = {
    "-date": (DocumentRow.creation_time.desc(), DocumentRow.id),
    "date": (DocumentRow.creation_time.asc(), DocumentRow.id),
    "-submitted": (DocumentRow.submission_time.desc(), DocumentRow.id),
    "submitted": (DocumentRow.submission_time.asc(), DocumentRow.id),
    "title": (DocumentRow.title.asc(), DocumentRow.id),
    "type": (DocumentRow.type_code.asc(), DocumentRow.creation_time.desc(), DocumentRow.id),
}


_DOCUMENTS = DocumentRow.__table__.c
_INSERT_ENTRY = insert(cast(Table, DocumentRow.__table__))
_ENTRY_KEYS = tuple(c.key for c in DocumentRow.__table__.columns)
# The columns' scalar defaults (flags False, version 1), applied as the ORM flush did to attributes left unset.
_ENTRY_DEFAULTS = {
    c.key: c.default.arg for c in DocumentRow.__table__.columns if c.default is not None and c.default.is_scalar
}
# The full-text row: a plain INSERT (the table is not in the ORM metadata, see SEARCH_TABLE).
_INSERT_TEXT = {
    "postgresql": text(
        f"INSERT INTO {SEARCH_TABLE} (document_id, patient_key, body, tsv) "
        "VALUES (:d, :p, :b, to_tsvector('french', :b))"
    ),
    "sqlite": text(f"INSERT INTO {SEARCH_TABLE} (document_id, patient_key, body) VALUES (:d, :p, :b)"),
}
_CHECK_IDS = select(_DOCUMENTS.id).where(
    (_DOCUMENTS.unique_id == bindparam("unique_id"))
    | ((_DOCUMENTS.patient_id == bindparam("patient_id")) & (_DOCUMENTS.sha256 == bindparam("sha256")))
)


class DocumentRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    @property
    def dialect(self) -> str:
        return self.session.get_bind().dialect.name

    def add(self, row: DocumentRow, *, text_content: str) -> None:
        """Insert a new entry (``row``, transient) and its full-text row; ``row`` is then persistent in the session.

        The entry is written with one Core INSERT of every column (what the ORM flush wrote: the id, the flags'
        and the version's defaults are filled in here when unset), then attached to the session as if just loaded
        (``make_transient_to_detached`` + ``add``): a later change in the same unit of work (the ``replaces_id``
        of a replacement) is an UPDATE guarded by the version, as before, and ``get`` finds it in the identity map.
        The ORM flush of one entry (unit-of-work sorting, per-attribute history, the version check) cost more CPU
        than the statement itself.
        """
        self.session.flush()  # what was pending before the entry is written first, as the ORM flush did
        state = row.__dict__
        if state.get("id") is None:
            row.id = new_id()
        for key in _ENTRY_KEYS:
            if key not in state:  # unset: the column's default, else NULL; the instance says so too (not expired)
                setattr(row, key, _ENTRY_DEFAULTS.get(key))
        values = {key: state[key] for key in _ENTRY_KEYS}
        connection = self.session.connection()
        connection.execute(_INSERT_ENTRY, values)
        make_transient_to_detached(row)
        self.session.add(row)
        self._index(connection, row, text_content)

    def index_text(self, row: DocumentRow, text_content: str) -> None:
        self._index(self.session.connection(), row, text_content)

    @staticmethod
    def _index(connection: Any, row: DocumentRow, text_content: str) -> None:
        folded = search_text(f"{row.title} {row.comment or ''} {text_content}")
        connection.execute(
            _INSERT_TEXT[connection.dialect.name], {"d": row.id, "p": _patient_token(row.patient_id), "b": folded}
        )

    def get(self, entry_id: str) -> DocumentRow | None:
        return self.session.get(DocumentRow, entry_id)

    def by_unique_id(self, unique_id: str) -> DocumentRow | None:
        return self.session.scalars(select(DocumentRow).where(DocumentRow.unique_id == unique_id)).one_or_none()

    def same_content(self, patient_id: str, sha256: str) -> list[DocumentRow]:
        stmt = select(DocumentRow).where(DocumentRow.patient_id == patient_id, DocumentRow.sha256 == sha256)
        return list(self.session.scalars(stmt))

    def by_unique_id_or_content(
        self, unique_id: str, patient_id: str, sha256: str
    ) -> tuple[DocumentRow | None, list[DocumentRow]]:
        """:meth:`by_unique_id` and :meth:`same_content` in one statement (what a deposit checks first).

        The statement reads only the ids (a deposit of a new document, the usual case, finds nothing, and loading
        an ORM query's result cost more than the query itself); the entries found are then loaded in full."""
        if self.session.autoflush:
            self.session.flush()  # as the ORM query did: entries added in this unit of work are seen
        ids = self.session.execute(
            _CHECK_IDS, {"unique_id": unique_id, "patient_id": patient_id, "sha256": sha256}
        ).scalars().all()  # fmt: skip
        if not ids:
            return None, []
        rows = list(self.session.scalars(select(DocumentRow).where(DocumentRow.id.in_(list(ids)))))
        same = [r for r in rows if r.patient_id == patient_id and r.sha256 == sha256]
        return next((r for r in rows if r.unique_id == unique_id), None), same

    def _filtered(self, patient_id: str, filters: DocumentFilters) -> Select[DocumentRow]:
        stmt = select(DocumentRow).where(DocumentRow.patient_id == patient_id)
        if filters.statuses:
            stmt = stmt.where(DocumentRow.status.in_(list(filters.statuses)))
        if filters.type_codes:
            stmt = stmt.where(DocumentRow.type_code.in_(list(filters.type_codes)))
        if filters.class_codes:
            stmt = stmt.where(DocumentRow.class_code.in_(list(filters.class_codes)))
        if filters.author:
            needle = filters.author.strip()
            like = f"%{needle.lower()}%"
            stmt = stmt.where(
                (DocumentRow.author_id == needle)
                | func.lower(DocumentRow.author_family).like(like)
                | func.lower(DocumentRow.author_given).like(like)
            )
        if filters.author_kind:
            stmt = stmt.where(DocumentRow.author_kind == filters.author_kind)
        if filters.facility_type:
            stmt = stmt.where(DocumentRow.facility_type == filters.facility_type)
        if filters.practice_setting:
            stmt = stmt.where(DocumentRow.practice_setting == filters.practice_setting)
        if filters.format_code:
            stmt = stmt.where(DocumentRow.format_code == filters.format_code)
        if filters.created_from:
            stmt = stmt.where(DocumentRow.creation_time >= filters.created_from)
        if filters.created_to:
            stmt = stmt.where(DocumentRow.creation_time <= filters.created_to)
        if filters.service_from:
            stmt = stmt.where(DocumentRow.service_start >= filters.service_from)
        if filters.service_to:
            stmt = stmt.where(DocumentRow.service_start <= filters.service_to)
        return self._fhir_filtered(stmt, filters)

    @staticmethod
    def _fhir_filtered(stmt: Select[DocumentRow], filters: DocumentFilters) -> Select[DocumentRow]:
        """The filters the FHIR search adds (docs/api.md "Documents (MHD)")."""
        for column, prefix in ((DocumentRow.author_given, filters.author_given),
                               (DocumentRow.author_family, filters.author_family)):  # fmt: skip
            if prefix:
                escaped = prefix.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                stmt = stmt.where(func.lower(column).like(f"{escaped}%", escape="\\"))
        for column, codes in ((DocumentRow.facility_type, filters.facility_types),
                              (DocumentRow.practice_setting, filters.practice_settings),
                              (DocumentRow.format_code, filters.format_codes),
                              (DocumentRow.confidentiality_code, filters.confidentiality_codes),
                              (DocumentRow.unique_id, filters.unique_ids)):  # fmt: skip
            if codes:
                stmt = stmt.where(column.in_(list(codes)))
        for flag_column, flag in ((DocumentRow.hidden_from_professionals, filters.hidden_from_professionals),
                                  (DocumentRow.invisible_to_patient, filters.invisible_to_patient),
                                  (DocumentRow.invisible_to_representatives,
                                   filters.invisible_to_representatives)):  # fmt: skip
            if flag is not None:
                stmt = stmt.where(flag_column.is_(flag))
        if filters.replaces:
            stmt = stmt.where(DocumentRow.replaces_id == filters.replaces)
        if filters.related_to:
            stmt = stmt.where(
                (DocumentRow.replaces_id == filters.related_to) | (DocumentRow.replaced_by_id == filters.related_to)
            )
        if filters.submitted_from:
            stmt = stmt.where(DocumentRow.submission_time >= filters.submitted_from)
        if filters.submitted_to:
            stmt = stmt.where(DocumentRow.submission_time <= filters.submitted_to)
        return stmt

    def matching(self, patient_id: str, filters: DocumentFilters, *, sort: str = "-date") -> list[DocumentRow]:
        """Every entry matching the filters, sorted (visibility is applied by the service, then paged)."""
        stmt = self._filtered(patient_id, filters).order_by(*SORTS[sort])
        return list(self.session.scalars(stmt))

    def matching_columns(
        self, patient_id: str, filters: DocumentFilters, names: Sequence[str], *, sort: str = "-date"
    ) -> list[Any]:
        """The columns ``names`` of every entry matching the filters, in the order of :meth:`matching`.

        A listing reads a few columns of every entry and loads only its page in full (:meth:`by_ids`): loading
        every column of a patient's hundreds of entries as ORM objects was most of the time of a listing.

        ``names`` may include ``duplicate_day``: the day (UTC, ``YYYY-MM-DD``) of the service start, else of the
        creation, computed by the database (the day of :func:`carnet.record.model.duplicate_key`): reading the two
        times of every entry as Python datetimes took longer than the query itself.
        """
        columns = [self._duplicate_day() if name == "duplicate_day" else getattr(DocumentRow, name) for name in names]
        stmt = self._filtered(patient_id, filters).with_only_columns(*columns).order_by(*SORTS[sort])
        # Plain named tuples: the listing reads a dozen attributes of each of hundreds of entries, and reading
        # them by name from SQLAlchemy rows took longer than the decision and the duplicate rule together.
        summary = _summary_type(tuple(names))
        return [summary._make(row) for row in self.session.execute(stmt)]

    def _duplicate_day(self) -> Any:
        when = func.coalesce(DocumentRow.service_start, DocumentRow.creation_time)
        if self.dialect == "postgresql":
            day = func.to_char(func.timezone("UTC", when), "YYYY-MM-DD")
        else:
            # SQLite stores the UTC time as text, "YYYY-MM-DD HH:MM:SS.ffffff".
            day = func.substr(when, 1, 10)
        return type_coerce(day, String()).label("duplicate_day")

    def by_ids(self, ids: Sequence[str]) -> list[DocumentRow]:
        """The entries with these ids, in the order of ``ids`` (an id not found is left out)."""
        if not ids:
            return []
        found = {r.id: r for r in self.session.scalars(select(DocumentRow).where(DocumentRow.id.in_(list(ids))))}
        return [found[i] for i in ids if i in found]

    def search(self, patient_id: str, query: str, filters: DocumentFilters) -> list[tuple[DocumentRow, float]]:
        """Entries whose text matches every word of ``query``, best first."""
        if self.dialect == "postgresql":
            # The patient's rows first (MATERIALIZED: the planner may not merge it), then the match on them: a
            # patient has hundreds of documents, while a common word is in a sizeable share of the whole store,
            # and a bitmap AND with the GIN index read that word's whole posting list (20 ms at 1 M documents).
            matches = text(
                f"WITH mine AS MATERIALIZED (SELECT document_id, tsv FROM {SEARCH_TABLE} WHERE patient_key = :p) "
                "SELECT document_id, ts_rank(tsv, q) AS rank "
                "FROM mine, websearch_to_tsquery('french', :q) AS q "
                "WHERE tsv @@ q"
            )
            params = {"q": search_text(query), "p": _patient_token(patient_id)}
        else:
            fts = fts_query(query)
            if not fts:
                return []
            matches = text(
                f"SELECT document_id, -bm25({SEARCH_TABLE}) AS rank FROM {SEARCH_TABLE} WHERE {SEARCH_TABLE} MATCH :m"
            )
            params = {"m": f'patient_key:"{_patient_token(patient_id)}" AND body:({fts})'}
        ranks = {doc_id: float(rank) for doc_id, rank in self.session.execute(matches, params)}
        if not ranks:
            return []
        stmt = self._filtered(patient_id, filters).where(DocumentRow.id.in_(list(ranks)))
        rows = list(self.session.scalars(stmt))
        return sorted(((r, ranks[r.id]) for r in rows), key=lambda pair: (-pair[1], pair[0].id))

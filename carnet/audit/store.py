"""The audit tables and their append-only repository (append and queries; no update, no delete).

``audit_events`` holds the entries; each carries its chain (``chain_key``: the patient id, or "" for the
platform chain), its position in it (``chain_seq``, from 1), the hash of the previous entry and its own hash
(see :mod:`carnet.audit.model`). ``audit_chain_heads`` holds, per chain, the last position and hash: appending
starts with ``UPDATE ... SET last_seq = last_seq + 1``, which takes the row lock on PostgreSQL and the write lock
on SQLite, so two transactions appending to the same patient's chain run one after the other and the chain never
forks; different patients do not wait for each other on PostgreSQL. When the head is known (this transaction, or
this process, left it there), one guarded UPDATE both takes the lock and moves the head to the new entry, and
matches nothing if the head has moved meanwhile: the entry then takes the path above. On PostgreSQL that UPDATE
and the entry's INSERT are one statement (a data-modifying WITH), which inserts nothing when the guard fails.
"""

from __future__ import annotations

import datetime as dt
import weakref
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
    bindparam,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine, ScalarResult
from sqlalchemy.orm import Mapped, Session, mapped_column

from carnet.audit.model import GENESIS_HASH, canonical_fields, chain_key_of, entry_hash, jsonable
from carnet.storage.orm import Base, IdColumn, UTCDateTime

CHAINS_TOUCHED = "carnet.audit.chains"
"""``session.info`` key: the chains this session's current transaction has locked (see ``holds_chain``)."""


class AuditRow(Base):
    __tablename__ = "audit_events"

    # An increasing integer key: it orders entries recorded within the same instant.
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)
    actor_kind: Mapped[str] = mapped_column(String(20), nullable=False)
    actor_id: Mapped[str] = mapped_column(String(64), nullable=False)
    action: Mapped[str] = mapped_column(String(40), nullable=False)
    patient_id: Mapped[str | None] = mapped_column(IdColumn)
    outcome: Mapped[str] = mapped_column(String(10), nullable=False)
    # none_as_null: an absent detail or decision is SQL NULL, not the JSON value null.
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    # Who, precisely (revision 0003): as the actor presented itself when the entry was written.
    actor_name: Mapped[str | None] = mapped_column(String(200))
    actor_profession: Mapped[str | None] = mapped_column(String(16))
    actor_organisation: Mapped[str | None] = mapped_column(String(255))
    auth_method: Mapped[str | None] = mapped_column(String(40))
    mode: Mapped[str] = mapped_column(String(12), nullable=False, default="normal", server_default="normal")
    decision: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    request_id: Mapped[str | None] = mapped_column(String(64))
    # The hash chain.
    chain_key: Mapped[str] = mapped_column(String(36), nullable=False)
    chain_seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False)

    __table_args__ = (
        Index("ix_audit_events_patient_at", "patient_id", "at"),
        UniqueConstraint("chain_key", "chain_seq"),
        CheckConstraint("mode IN ('normal', 'emergency', 'regulation')", name="mode"),
    )


class AuditChainHead(Base):
    """The last position and hash of one chain: the lock that serialises appends, and the proof of the tail."""

    __tablename__ = "audit_chain_heads"

    chain_key: Mapped[str] = mapped_column(String(36), primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    last_hash: Mapped[str] = mapped_column(String(64), nullable=False)


_EVENTS = cast(Table, AuditRow.__table__)
_HEADS = cast(Table, AuditChainHead.__table__)


_KEY = bindparam("chain_key_", type_=String())
# Built once: statements are compiled once per engine and then reused from the compiled cache.
_BUMP = (
    update(_HEADS)
    .where(_HEADS.c.chain_key == _KEY)
    .values(last_seq=_HEADS.c.last_seq + 1)
    .returning(_HEADS.c.last_seq, _HEADS.c.last_hash)
)
_SET_HASH = update(_HEADS).where(_HEADS.c.chain_key == _KEY).values(last_hash=bindparam("last_hash_", type_=String()))
# Next entry of a chain this transaction already holds: one statement moves the head, guarded by the head this
# transaction left, so a stale memory (a rolled-back savepoint) can only make it fall back to _BUMP.
_ADVANCE = (
    update(_HEADS)
    .where(
        _HEADS.c.chain_key == _KEY,
        _HEADS.c.last_seq == bindparam("seen_seq_", type_=BigInteger()),
        _HEADS.c.last_hash == bindparam("seen_hash_", type_=String()),
    )
    .values(last_seq=bindparam("new_seq_", type_=BigInteger()), last_hash=bindparam("new_hash_", type_=String()))
)
_INSERT = insert(_EVENTS).returning(_EVENTS.c.id)
# RETURNING: a row when the head was created, none when another transaction had created it.
_NEW_HEAD = {
    "postgresql": postgresql.insert(_HEADS).on_conflict_do_nothing(index_elements=["chain_key"]),
    "sqlite": sqlite.insert(_HEADS).on_conflict_do_nothing(index_elements=["chain_key"]),
}
_NEW_HEAD = {dialect: insert_.returning(_HEADS.c.chain_key) for dialect, insert_ in _NEW_HEAD.items()}
ENTRY_COLUMNS = tuple(c.key for c in _EVENTS.columns if c.key != "id")
"""Every column of an entry but its id."""
_MOVED = _ADVANCE.returning(_HEADS.c.chain_key).cte("moved")
# PostgreSQL: the guarded UPDATE and the INSERT in one statement (one round trip instead of two). The entry is
# inserted only if the guard moved the head (RETURNING gives its id); otherwise nothing is written and the entry
# takes the locking path, as when _ADVANCE matches nothing.
_ADVANCE_AND_INSERT = (
    insert(_EVENTS)
    .from_select(
        list(ENTRY_COLUMNS),
        select(*[bindparam(f"v_{name}", type_=_EVENTS.c[name].type) for name in ENTRY_COLUMNS]).select_from(_MOVED),
    )
    .add_cte(_MOVED)
    .returning(_EVENTS.c.id)
)


def append_values(session: Session, values: dict[str, Any]) -> dict[str, Any]:
    """Chain one entry, given as ``{column: value}``, to its patient's chain and insert it, in the session's
    current transaction; fills in ``chain_key``, ``chain_seq``, ``prev_hash``, ``hash`` and ``id``."""
    key = chain_key_of(values.get("patient_id"))
    values["chain_key"] = key
    values["mode"] = values.get("mode") or "normal"
    values["detail"] = jsonable(values.get("detail"))
    values["decision"] = jsonable(values.get("decision"))
    connection = session.connection()
    held = _held(session)
    hints = _hints(connection.engine)
    # A chain this transaction appended to is held, and its head known; otherwise the head this process last
    # saw (another process or a rolled-back transaction may have moved it since: the guarded UPDATE then
    # moves nothing and the head is read under the lock as before).
    seen = held.get(key) or hints.get(key)
    inserted: int | None = None
    if seen is not None:
        seq, prev = seen[0] + 1, seen[1]
        values["chain_seq"], values["prev_hash"] = seq, prev
        values["hash"] = entry_hash(prev, canonical_fields(values))
        guard = {"chain_key_": key, "seen_seq_": seen[0], "seen_hash_": prev, "new_seq_": seq,
                 "new_hash_": values["hash"]}  # fmt: skip
        if connection.dialect.name == "postgresql":
            entry = {f"v_{name}": values.get(name) for name in ENTRY_COLUMNS}
            inserted = connection.execute(_ADVANCE_AND_INSERT, {**guard, **entry}).scalar_one_or_none()
            if inserted is None:
                seen = None
        elif connection.execute(_ADVANCE, guard).rowcount != 1:
            seen = None
    if seen is None:
        # The UPDATE comes first: it takes the lock before anything about the chain is read.
        head = connection.execute(_BUMP, {"chain_key_": key}).one_or_none()
        if head is None:
            # First entry of this chain: its head is created already pointing at it. Two transactions may get
            # here at once: ON CONFLICT DO NOTHING lets the second wait for the first and then do nothing; it
            # then takes the lock with the same UPDATE as any later entry.
            dialect = connection.dialect.name
            if dialect not in _NEW_HEAD:
                raise NotImplementedError(f"audit chain: unsupported database {dialect}")
            values["chain_seq"], values["prev_hash"] = 1, GENESIS_HASH
            values["hash"] = entry_hash(GENESIS_HASH, canonical_fields(values))
            created = connection.execute(
                _NEW_HEAD[dialect], {"chain_key": key, "last_seq": 1, "last_hash": values["hash"]}
            )
            if created.first() is None:
                head = connection.execute(_BUMP, {"chain_key_": key}).one()
        if head is not None:
            values["chain_seq"], values["prev_hash"] = int(head[0]), str(head[1])
            values["hash"] = entry_hash(values["prev_hash"], canonical_fields(values))
            connection.execute(_SET_HASH, {"chain_key_": key, "last_hash_": values["hash"]})
    if inserted is None:
        inserted = connection.execute(_INSERT, {name: values.get(name) for name in ENTRY_COLUMNS}).scalar_one()
    values["id"] = int(inserted)
    held[key] = hints[key] = (values["chain_seq"], values["hash"])
    if len(hints) > _HINTS_PER_ENGINE:
        hints.clear()
    return values


# Per engine, the head of each chain as this process last left it: {chain_key: (last_seq, last_hash)}. Only a
# hint for the guarded UPDATE (_ADVANCE), which moves the head only if it is still exactly that; a hint that is
# wrong costs one statement. Appending to a chain this way takes 2 statements instead of 3 (1 on PostgreSQL, where
# the guarded UPDATE and the INSERT are one statement: _ADVANCE_AND_INSERT).
_HINTS: weakref.WeakKeyDictionary[Engine, dict[str, tuple[int, str]]] = weakref.WeakKeyDictionary()
_HINTS_PER_ENGINE = 10_000


def _hints(engine: Engine) -> dict[str, tuple[int, str]]:
    hints = _HINTS.get(engine)
    if hints is None:
        hints = _HINTS.setdefault(engine, {})
    return hints


def append_entry(session: Session, row: AuditRow) -> AuditRow:
    """Append an :class:`AuditRow` (see :func:`append_values`); the row gets its chain fields and id but stays
    out of the session: entries are written with Core statements, never flushed, so never updated later."""
    values = append_values(session, {name: getattr(row, name) for name in ENTRY_COLUMNS})
    for name, value in values.items():
        setattr(row, name, value)
    return row


def _held(session: Session) -> dict[str, tuple[int, str]]:
    """The chains this session's current transaction appended to (and so holds locked): their last entry."""
    transaction = session.get_transaction()
    marker = session.info.get(CHAINS_TOUCHED)
    if marker is None or marker[0] is not transaction:
        marker = (transaction, {})
        session.info[CHAINS_TOUCHED] = marker
    held: dict[str, tuple[int, str]] = marker[1]
    return held


def holds_chain(session: Session, patient_id: str | None) -> bool:
    """True when the session's open transaction has appended to this patient's chain (it holds its lock)."""
    marker = session.info.get(CHAINS_TOUCHED)
    if marker is None or not session.in_transaction() or marker[0] is not session.get_transaction():
        return False
    return chain_key_of(patient_id) in marker[1]


class AuditRepository:
    """Append and read; there is deliberately no method to change or remove an entry."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def append(self, row: AuditRow) -> AuditRow:
        """Append ``row`` to its chain in the current transaction (lost only if the transaction is)."""
        return append_entry(self.session, row)

    def append_values(self, values: dict[str, Any]) -> dict[str, Any]:
        """Append one entry given as ``{column: value}`` (the fast path of ``audit.record``)."""
        return append_values(self.session, values)

    def for_patient(self, patient_id: str) -> list[AuditRow]:
        """The patient's entries, oldest first."""
        stmt = select(AuditRow).where(AuditRow.patient_id == patient_id).order_by(AuditRow.at, AuditRow.id)
        return list(self.session.scalars(stmt))

    def chain(self, chain_key: str) -> list[AuditRow]:
        """One chain in chain order."""
        stmt = select(AuditRow).where(AuditRow.chain_key == chain_key).order_by(AuditRow.chain_seq)
        return list(self.session.scalars(stmt))

    def all_in_chain_order(self, *, batch: int = 1_000) -> ScalarResult[AuditRow]:
        """Every entry, chain by chain, in chain order, streamed: use as ``with repo.all_in_chain_order() as rows``
        (closing the result frees the server-side cursor even when the reader stops early)."""
        stmt = select(AuditRow).order_by(AuditRow.chain_key, AuditRow.chain_seq).execution_options(yield_per=batch)
        return self.session.scalars(stmt)

    def heads(self) -> dict[str, tuple[int, str]]:
        """``{chain_key: (last_seq, last_hash)}`` for every chain."""
        rows = self.session.execute(select(_HEADS.c.chain_key, _HEADS.c.last_seq, _HEADS.c.last_hash))
        return {str(k): (int(s), str(h)) for k, s, h in rows}

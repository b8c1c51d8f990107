"""audit hash chain: who precisely, mode, decision, request id; one hash chain per patient

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 10:00:00

Written by hand. Adds to ``audit_events`` the actor's name, profession, organisation and authentication
method, the access mode (normal, emergency, regulation), the access decision (JSON), the request id, and the
hash chain (``chain_key``, ``chain_seq``, ``prev_hash``, ``hash``); creates ``audit_chain_heads``.

Entries written before this revision are chained here, in id order within each patient's chain, with the same
hash function as the application (:mod:`carnet.audit.model`). The append-only triggers of 0001 are dropped for
that back-fill and created again afterwards (a rebuilt SQLite table would have lost them anyway). The chain
heads get triggers of their own: a head is never deleted and only ever moves forward by one.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

NEW_COLUMNS = (
    "actor_name",
    "actor_profession",
    "actor_organisation",
    "auth_method",
    "mode",
    "decision",
    "request_id",
    "chain_key",
    "chain_seq",
    "prev_hash",
    "hash",
)


def _dialect() -> str:
    return str(op.get_bind().dialect.name)


def _drop_audit_triggers() -> None:
    if _dialect() == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_delete")


def _create_audit_triggers() -> None:
    # The same triggers as revision 0001 (carnet_append_only() still exists on PostgreSQL).
    if _dialect() == "postgresql":
        op.execute(
            "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION carnet_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_events_no_{verb.lower()} BEFORE {verb} ON audit_events "
                f"BEGIN SELECT RAISE(ABORT, 'append-only table audit_events: {verb} refused'); END"
            )


def _create_head_triggers() -> None:
    # A head only moves forward one entry at a time (last_seq + 1, then its last_hash): moving it back, or
    # deleting it, is how a truncated tail would be hidden from ``carnet audit verify``.
    if _dialect() == "postgresql":
        op.execute(
            "CREATE OR REPLACE FUNCTION carnet_chain_head_forward() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN "
            "IF TG_OP = 'DELETE' THEN RAISE EXCEPTION 'audit chain head: DELETE refused'; END IF; "
            "IF NEW.chain_key <> OLD.chain_key OR NOT (NEW.last_seq = OLD.last_seq "
            "OR NEW.last_seq = OLD.last_seq + 1) THEN "
            "RAISE EXCEPTION 'audit chain head: only moves forward by one'; END IF; "
            "RETURN NEW; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_chain_heads_forward BEFORE UPDATE OR DELETE ON audit_chain_heads "
            "FOR EACH ROW EXECUTE FUNCTION carnet_chain_head_forward()"
        )
    else:
        op.execute(
            "CREATE TRIGGER audit_chain_heads_no_delete BEFORE DELETE ON audit_chain_heads "
            "BEGIN SELECT RAISE(ABORT, 'audit chain head: DELETE refused'); END"
        )
        op.execute(
            "CREATE TRIGGER audit_chain_heads_forward BEFORE UPDATE ON audit_chain_heads "
            "WHEN NEW.chain_key <> OLD.chain_key OR NOT (NEW.last_seq = OLD.last_seq "
            "OR NEW.last_seq = OLD.last_seq + 1) "
            "BEGIN SELECT RAISE(ABORT, 'audit chain head: only moves forward by one'); END"
        )


def _drop_head_triggers() -> None:
    if _dialect() == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_chain_heads_forward ON audit_chain_heads")
        op.execute("DROP FUNCTION IF EXISTS carnet_chain_head_forward()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_chain_heads_no_delete")
        op.execute("DROP TRIGGER IF EXISTS audit_chain_heads_forward")


def _backfill() -> None:
    """Chain the entries written before this revision, per patient, in id order."""
    from carnet.audit.model import GENESIS_HASH, chain_key_of, entry_hash, iso_utc
    from carnet.storage.orm import UTCDateTime

    bind = op.get_bind()
    events = sa.table(
        "audit_events",
        sa.column("id", sa.BigInteger()),
        sa.column("at", UTCDateTime()),
        sa.column("actor_kind", sa.String()),
        sa.column("actor_id", sa.String()),
        sa.column("action", sa.String()),
        sa.column("patient_id", sa.String()),
        sa.column("outcome", sa.String()),
        sa.column("detail", sa.JSON()),
        sa.column("mode", sa.String()),
        sa.column("chain_key", sa.String()),
        sa.column("chain_seq", sa.BigInteger()),
        sa.column("prev_hash", sa.String()),
        sa.column("hash", sa.String()),
    )
    heads_table = sa.table(
        "audit_chain_heads",
        sa.column("chain_key", sa.String()),
        sa.column("last_seq", sa.BigInteger()),
        sa.column("last_hash", sa.String()),
    )
    heads: dict[str, tuple[int, str]] = {}
    rows = bind.execute(sa.select(events).order_by(events.c.id)).mappings().all()
    for row in rows:
        key = chain_key_of(row["patient_id"])
        seq, prev = heads.get(key, (0, GENESIS_HASH))
        seq += 1
        fields: dict[str, Any] = {
            "chain_key": key,
            "chain_seq": seq,
            "at": iso_utc(row["at"]),
            "actor_kind": row["actor_kind"],
            "actor_id": row["actor_id"],
            "actor_name": None,
            "actor_profession": None,
            "actor_organisation": None,
            "auth_method": None,
            "action": row["action"],
            "patient_id": row["patient_id"],
            "outcome": row["outcome"],
            "mode": "normal",
            "decision": None,
            "detail": row["detail"],
            "request_id": None,
        }
        digest = entry_hash(prev, fields)
        bind.execute(
            events.update()
            .where(events.c.id == row["id"])
            .values(mode="normal", chain_key=key, chain_seq=seq, prev_hash=prev, hash=digest)
        )
        heads[key] = (seq, digest)
    if heads:
        bind.execute(
            heads_table.insert(),
            [{"chain_key": k, "last_seq": s, "last_hash": h} for k, (s, h) in heads.items()],
        )


def upgrade() -> None:
    _drop_audit_triggers()
    op.create_table(
        "audit_chain_heads",
        sa.Column("chain_key", sa.String(length=36), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("chain_key", name=op.f("pk_audit_chain_heads")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("actor_name", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("actor_profession", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("actor_organisation", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("auth_method", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("mode", sa.String(length=12), server_default="normal", nullable=False))
        batch_op.add_column(sa.Column("decision", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("request_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("chain_key", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("chain_seq", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("hash", sa.String(length=64), nullable=True))
    _backfill()
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        for name, type_ in (
            ("chain_key", sa.String(length=36)),
            ("chain_seq", sa.BigInteger()),
            ("prev_hash", sa.String(length=64)),
            ("hash", sa.String(length=64)),
        ):
            batch_op.alter_column(name, existing_type=type_, nullable=False)
        batch_op.create_unique_constraint(op.f("uq_audit_events_chain_key"), ["chain_key", "chain_seq"])
        batch_op.create_check_constraint(op.f("ck_audit_events_mode"), "mode IN ('normal', 'emergency', 'regulation')")
    _create_audit_triggers()
    _create_head_triggers()


def downgrade() -> None:
    _drop_head_triggers()
    _drop_audit_triggers()
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_audit_events_mode"), type_="check")
        batch_op.drop_constraint(op.f("uq_audit_events_chain_key"), type_="unique")
        for name in reversed(NEW_COLUMNS):
            batch_op.drop_column(name)
    op.drop_table("audit_chain_heads")
    _create_audit_triggers()

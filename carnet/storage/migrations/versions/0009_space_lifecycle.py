"""the holder's space lifecycle: opening campaigns, oppositions, closures (issue 8)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 13:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import carnet.storage.orm

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _times() -> list[sa.Column[object]]:
    return [
        sa.Column("created_at", carnet.storage.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", carnet.storage.orm.UTCDateTime(timezone=True), nullable=False),
    ]


def _patient_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["patient_id"], ["patients.id"], name=op.f(f"fk_{table}_patient_id_patients"))


def upgrade() -> None:
    op.create_table(
        "space_campaigns",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("population", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=255), nullable=True),
        sa.Column("opposition_days", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("last_run_at", carnet.storage.orm.UTCDateTime(timezone=True), nullable=True),
        *_times(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_space_campaigns")),
    )
    op.create_table(
        "space_contacts",
        sa.Column("party_id", sa.String(length=64), nullable=False),
        sa.Column("party_kind", sa.String(length=16), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("address_line", sa.String(length=200), nullable=True),
        sa.Column("address_complement", sa.String(length=200), nullable=True),
        sa.Column("postal_code", sa.String(length=10), nullable=True),
        sa.Column("city", sa.String(length=100), nullable=True),
        sa.Column("country", sa.String(length=60), nullable=True),
        *_times(),
        sa.PrimaryKeyConstraint("party_id", name=op.f("pk_space_contacts")),
    )
    op.create_table(
        "space_campaign_members",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("campaign_id", sa.String(length=36), nullable=False),
        sa.Column("patient_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("code_sha256", sa.String(length=64), nullable=True),
        sa.Column("informed_at", carnet.storage.orm.UTCDateTime(timezone=True), nullable=True),
        sa.Column("opens_on", sa.Date(), nullable=True),
        sa.Column("opened_at", carnet.storage.orm.UTCDateTime(timezone=True), nullable=True),
        sa.Column("opposed_at", carnet.storage.orm.UTCDateTime(timezone=True), nullable=True),
        sa.Column("opposed_by", sa.String(length=64), nullable=True),
        sa.Column("opposed_through", sa.String(length=16), nullable=True),
        sa.Column("unreachable", sa.String(length=200), nullable=True),
        *_times(),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["space_campaigns.id"], name=op.f("fk_space_campaign_members_campaign_id_space_campaigns")
        ),
        _patient_fk("space_campaign_members"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_space_campaign_members")),
        sa.UniqueConstraint("code_sha256", name=op.f("uq_space_campaign_members_code_sha256")),
        sa.UniqueConstraint("patient_id", name=op.f("uq_space_campaign_members_patient_id")),
    )
    op.create_table(
        "space_closures",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("patient_id", sa.String(length=36), nullable=False),
        sa.Column("closed_at", carnet.storage.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_by", sa.String(length=64), nullable=False),
        sa.Column("reopened_at", carnet.storage.orm.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reopened_by", sa.String(length=64), nullable=True),
        sa.Column("purged_at", carnet.storage.orm.UTCDateTime(timezone=True), nullable=True),
        sa.Column("purged_documents", sa.Integer(), nullable=True),
        sa.Column("contents", sa.JSON(), nullable=True),
        sa.Column("blobs_removed_at", carnet.storage.orm.UTCDateTime(timezone=True), nullable=True),
        sa.Column("purged_blobs", sa.Integer(), nullable=True),
        *_times(),
        _patient_fk("space_closures"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_space_closures")),
    )
    op.create_table(
        "space_protections",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("patient_id", sa.String(length=36), nullable=False),
        sa.Column("measure", sa.String(length=40), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("ended_at", carnet.storage.orm.UTCDateTime(timezone=True), nullable=True),
        *_times(),
        _patient_fk("space_protections"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_space_protections")),
    )
    op.create_table(
        "space_transfers",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("patient_id", sa.String(length=36), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("at", carnet.storage.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("representatives", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        _patient_fk("space_transfers"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_space_transfers")),
    )
    op.create_table(
        "space_notices",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("patient_id", sa.String(length=36), nullable=False),
        sa.Column("member_id", sa.String(length=36), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("recipient_kind", sa.String(length=16), nullable=False),
        sa.Column("recipient_id", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("outbox_id", sa.String(length=36), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("exported_at", carnet.storage.orm.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", carnet.storage.orm.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["space_campaign_members.id"], name=op.f("fk_space_notices_member_id_space_campaign_members")
        ),
        _patient_fk("space_notices"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_space_notices")),
    )
    with op.batch_alter_table("space_campaign_members", schema=None) as batch_op:
        batch_op.create_index("ix_space_campaign_members_campaign_status", ["campaign_id", "status"], unique=False)
        batch_op.create_index("ix_space_campaign_members_status_opens", ["status", "opens_on"], unique=False)
    with op.batch_alter_table("space_closures", schema=None) as batch_op:
        batch_op.create_index("ix_space_closures_closed_at", ["closed_at"], unique=False)
        batch_op.create_index("ix_space_closures_patient", ["patient_id"], unique=False)
    with op.batch_alter_table("space_protections", schema=None) as batch_op:
        batch_op.create_index("ix_space_protections_patient", ["patient_id"], unique=False)
    with op.batch_alter_table("space_transfers", schema=None) as batch_op:
        batch_op.create_index("ix_space_transfers_patient", ["patient_id"], unique=False)
    with op.batch_alter_table("space_notices", schema=None) as batch_op:
        batch_op.create_index("ix_space_notices_member_recipient", ["member_id", "recipient_id"], unique=True)
        batch_op.create_index("ix_space_notices_patient", ["patient_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("space_notices", schema=None) as batch_op:
        batch_op.drop_index("ix_space_notices_patient")
        batch_op.drop_index("ix_space_notices_member_recipient")
    with op.batch_alter_table("space_transfers", schema=None) as batch_op:
        batch_op.drop_index("ix_space_transfers_patient")
    with op.batch_alter_table("space_protections", schema=None) as batch_op:
        batch_op.drop_index("ix_space_protections_patient")
    with op.batch_alter_table("space_closures", schema=None) as batch_op:
        batch_op.drop_index("ix_space_closures_patient")
        batch_op.drop_index("ix_space_closures_closed_at")
    with op.batch_alter_table("space_campaign_members", schema=None) as batch_op:
        batch_op.drop_index("ix_space_campaign_members_status_opens")
        batch_op.drop_index("ix_space_campaign_members_campaign_status")
    op.drop_table("space_notices")
    op.drop_table("space_transfers")
    op.drop_table("space_protections")
    op.drop_table("space_closures")
    op.drop_table("space_campaign_members")
    op.drop_table("space_contacts")
    op.drop_table("space_campaigns")

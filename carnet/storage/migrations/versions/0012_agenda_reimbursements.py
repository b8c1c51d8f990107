"""the holder's agenda and reimbursements (issue 8)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 13:56:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import carnet.storage.orm

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def _at(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, carnet.storage.orm.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "agenda_events",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("patient_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        _at("start_at"),
        _at("end_at", True),
        sa.Column("place", sa.String(length=300), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("source_kind", sa.String(length=16), nullable=False),
        sa.Column("source_id", sa.String(length=64), nullable=False),
        sa.Column("source_name", sa.String(length=200), nullable=True),
        _at("cancelled_at", True),
        _at("created_at"),
        _at("updated_at"),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"], name=op.f("fk_agenda_events_patient_id_patients")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agenda_events")),
    )
    with op.batch_alter_table("agenda_events", schema=None) as batch_op:
        batch_op.create_index("ix_agenda_events_patient_start", ["patient_id", "start_at"], unique=False)
    op.create_table(
        "agenda_feeds",
        sa.Column("patient_id", sa.String(length=36), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        _at("created_at"),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"], name=op.f("fk_agenda_feeds_patient_id_patients")),
        sa.PrimaryKeyConstraint("patient_id", name=op.f("pk_agenda_feeds")),
        sa.UniqueConstraint("token", name=op.f("uq_agenda_feeds_token")),
    )
    op.create_table(
        "agenda_reminders",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        _at("start_at"),
        sa.Column("notification_id", sa.String(length=36), nullable=True),
        _at("created_at"),
        sa.ForeignKeyConstraint(
            ["event_id"], ["agenda_events.id"], name=op.f("fk_agenda_reminders_event_id_agenda_events")
        ),
        sa.ForeignKeyConstraint(
            ["notification_id"], ["notifications.id"], name=op.f("fk_agenda_reminders_notification_id_notifications")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agenda_reminders")),
        sa.UniqueConstraint("event_id", "start_at", name="uq_agenda_reminders_event_start"),
    )
    op.create_table(
        "reimbursement_lines",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("patient_id", sa.String(length=36), nullable=False),
        sa.Column("line_id", sa.String(length=64), nullable=False),
        sa.Column("care_date", sa.Date(), nullable=False),
        sa.Column("act_code", sa.String(length=32), nullable=True),
        sa.Column("act_label", sa.String(length=300), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=True),
        sa.Column("professional", sa.String(length=200), nullable=True),
        sa.Column("paid_cents", sa.Integer(), nullable=True),
        sa.Column("reimbursed_cents", sa.Integer(), nullable=True),
        sa.Column("left_cents", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("source_ref", sa.String(length=100), nullable=True),
        _at("imported_at"),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_reimbursement_lines_patient_id_patients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reimbursement_lines")),
        sa.UniqueConstraint("patient_id", "line_id", name="uq_reimbursement_lines_patient_line"),
    )
    with op.batch_alter_table("reimbursement_lines", schema=None) as batch_op:
        batch_op.create_index("ix_reimbursement_lines_patient_date", ["patient_id", "care_date"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("reimbursement_lines", schema=None) as batch_op:
        batch_op.drop_index("ix_reimbursement_lines_patient_date")
    op.drop_table("reimbursement_lines")
    op.drop_table("agenda_reminders")
    op.drop_table("agenda_feeds")
    with op.batch_alter_table("agenda_events", schema=None) as batch_op:
        batch_op.drop_index("ix_agenda_events_patient_start")
    op.drop_table("agenda_events")

"""the catalogue of referenced apps and their connections (issue 8)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 13:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import carnet.storage.orm

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column("created_at", carnet.storage.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", carnet.storage.orm.UTCDateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    when = carnet.storage.orm.UTCDateTime
    op.create_table(
        "catalogue_apps",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("publisher", sa.String(length=200), nullable=False),
        sa.Column("publisher_account", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("website", sa.String(length=500), nullable=True),
        sa.Column("categories_asked", sa.JSON(), nullable=False),
        sa.Column("redirect_uris", sa.JSON(), nullable=False),
        sa.Column("security_statement", sa.Text(), nullable=False),
        sa.Column("interoperability_statement", sa.Text(), nullable=False),
        sa.Column("ethics_commitments", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("applied_at", when(timezone=True), nullable=False),
        sa.Column("categories_granted", sa.JSON(), nullable=False),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("decided_at", when(timezone=True), nullable=True),
        sa.Column("decision_comment", sa.Text(), nullable=True),
        sa.Column("convention_ends_at", when(timezone=True), nullable=True),
        sa.Column("withdrawn_by", sa.String(length=200), nullable=True),
        sa.Column("withdrawn_at", when(timezone=True), nullable=True),
        sa.Column("withdrawal_reason", sa.Text(), nullable=True),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalogue_apps")),
    )
    with op.batch_alter_table("catalogue_apps", schema=None) as batch_op:
        batch_op.create_index("ix_catalogue_apps_status", ["status"], unique=False)

    op.create_table(
        "catalogue_reviews",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("app_id", sa.String(length=36), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("reviewer", sa.String(length=200), nullable=False),
        sa.Column("assessments", sa.JSON(), nullable=False),
        sa.Column("opinion", sa.String(length=12), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("reviewed_at", when(timezone=True), nullable=False),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["app_id"], ["catalogue_apps.id"], name=op.f("fk_catalogue_reviews_app_id_catalogue_apps")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalogue_reviews")),
    )
    with op.batch_alter_table("catalogue_reviews", schema=None) as batch_op:
        batch_op.create_index("ix_catalogue_reviews_app", ["app_id", "round"], unique=True)

    op.create_table(
        "catalogue_connections",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("app_id", sa.String(length=36), nullable=False),
        sa.Column("patient_id", sa.String(length=36), nullable=False),
        sa.Column("grant_id", sa.String(length=36), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("connected_by", sa.String(length=64), nullable=False),
        sa.Column("ended_at", when(timezone=True), nullable=True),
        sa.Column("ended_reason", sa.String(length=32), nullable=True),
        sa.Column("code_hash", sa.String(length=64), nullable=True),
        sa.Column("code_expires_at", when(timezone=True), nullable=True),
        sa.Column("code_challenge", sa.String(length=128), nullable=True),
        sa.Column("redirect_uri", sa.String(length=500), nullable=True),
        *_timestamps(),
        sa.ForeignKeyConstraint(["app_id"], ["catalogue_apps.id"],
                                name=op.f("fk_catalogue_connections_app_id_catalogue_apps")),
        sa.ForeignKeyConstraint(["grant_id"], ["access_grants.id"],
                                name=op.f("fk_catalogue_connections_grant_id_access_grants")),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"],
                                name=op.f("fk_catalogue_connections_patient_id_patients")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalogue_connections")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_catalogue_connections_code_hash")),
    )  # fmt: skip
    with op.batch_alter_table("catalogue_connections", schema=None) as batch_op:
        batch_op.create_index("ix_catalogue_connections_app", ["app_id"], unique=False)
        batch_op.create_index("ix_catalogue_connections_patient", ["patient_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("catalogue_connections", schema=None) as batch_op:
        batch_op.drop_index("ix_catalogue_connections_patient")
        batch_op.drop_index("ix_catalogue_connections_app")
    op.drop_table("catalogue_connections")
    with op.batch_alter_table("catalogue_reviews", schema=None) as batch_op:
        batch_op.drop_index("ix_catalogue_reviews_app")
    op.drop_table("catalogue_reviews")
    with op.batch_alter_table("catalogue_apps", schema=None) as batch_op:
        batch_op.drop_index("ix_catalogue_apps_status")
    op.drop_table("catalogue_apps")

"""the holder's health profile, vitals, vaccinations (issue 8)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 13:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import carnet.storage.orm

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _common() -> list[sa.Column[object]]:
    """The source columns and timestamps every profile table has."""
    return [
        sa.Column("source_kind", sa.String(length=16), nullable=False),
        sa.Column("source_id", sa.String(length=64), nullable=False),
        sa.Column("source_name", sa.String(length=200), nullable=True),
        sa.Column("created_at", carnet.storage.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", carnet.storage.orm.UTCDateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "profile_observations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("patient_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("effective_at", carnet.storage.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        *_common(),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_profile_observations_patient_id_patients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_profile_observations")),
    )
    op.create_table(
        "profile_immunizations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("patient_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("occurrence_date", sa.Date(), nullable=False),
        sa.Column("vaccine_code", sa.String(length=32), nullable=True),
        sa.Column("vaccine_display", sa.String(length=200), nullable=False),
        sa.Column("atc_code", sa.String(length=16), nullable=True),
        sa.Column("dose_number", sa.Integer(), nullable=True),
        sa.Column("lot_number", sa.String(length=40), nullable=True),
        sa.Column("primary_source", sa.Boolean(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        *_common(),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_profile_immunizations_patient_id_patients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_profile_immunizations")),
    )
    op.create_table(
        "profile_allergies",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("patient_id", sa.String(length=36), nullable=False),
        sa.Column("substance", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=True),
        sa.Column("criticality", sa.String(length=20), nullable=True),
        sa.Column("reaction", sa.Text(), nullable=True),
        sa.Column("clinical_status", sa.String(length=12), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        *_common(),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"], name=op.f("fk_profile_allergies_patient_id_patients")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_profile_allergies")),
    )
    op.create_table(
        "profile_questionnaire_responses",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("patient_id", sa.String(length=36), nullable=False),
        sa.Column("questionnaire", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("authored_at", carnet.storage.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        *_common(),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_profile_questionnaire_responses_patient_id_patients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_profile_questionnaire_responses")),
    )
    with op.batch_alter_table("profile_observations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_profile_observations_patient_kind_at", ["patient_id", "kind", "effective_at"], unique=False
        )
    with op.batch_alter_table("profile_immunizations", schema=None) as batch_op:
        batch_op.create_index("ix_profile_immunizations_patient_date", ["patient_id", "occurrence_date"], unique=False)
    with op.batch_alter_table("profile_allergies", schema=None) as batch_op:
        batch_op.create_index("ix_profile_allergies_patient", ["patient_id"], unique=False)
    with op.batch_alter_table("profile_questionnaire_responses", schema=None) as batch_op:
        batch_op.create_index(
            "ix_profile_questionnaire_responses_patient_at", ["patient_id", "authored_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("profile_questionnaire_responses", schema=None) as batch_op:
        batch_op.drop_index("ix_profile_questionnaire_responses_patient_at")
    with op.batch_alter_table("profile_allergies", schema=None) as batch_op:
        batch_op.drop_index("ix_profile_allergies_patient")
    with op.batch_alter_table("profile_immunizations", schema=None) as batch_op:
        batch_op.drop_index("ix_profile_immunizations_patient_date")
    with op.batch_alter_table("profile_observations", schema=None) as batch_op:
        batch_op.drop_index("ix_profile_observations_patient_kind_at")
    op.drop_table("profile_questionnaire_responses")
    op.drop_table("profile_allergies")
    op.drop_table("profile_immunizations")
    op.drop_table("profile_observations")

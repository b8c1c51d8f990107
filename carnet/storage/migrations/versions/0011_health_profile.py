"""the holder's health profile, vitals, vaccinations (issue 8)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 13:40:00
"""

from __future__ import annotations

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # the tables come with the part of issue 8 this revision is reserved for


def downgrade() -> None:
    pass

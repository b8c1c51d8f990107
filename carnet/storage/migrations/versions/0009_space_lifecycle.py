"""the holder's space lifecycle: opening campaigns, oppositions, closures (issue 8)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 13:40:00
"""

from __future__ import annotations

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # the tables come with the part of issue 8 this revision is reserved for


def downgrade() -> None:
    pass

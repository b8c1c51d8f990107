"""the catalogue of referenced apps and their connections (issue 8)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 13:40:00
"""

from __future__ import annotations

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # the tables come with the part of issue 8 this revision is reserved for


def downgrade() -> None:
    pass

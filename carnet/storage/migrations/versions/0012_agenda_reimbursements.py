"""the holder's agenda and reimbursements (issue 8)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 13:56:00
"""

from __future__ import annotations

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # the tables come with the part of issue 8 this revision is reserved for


def downgrade() -> None:
    pass

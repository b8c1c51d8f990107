"""referenced apps that feed the space: feed categories of the convention and the connection's feed grant (issue 8)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 17:00:00

``catalogue_apps.feed_asked`` / ``feed_granted``: the categories the publisher asks to feed and those the convention
lets it feed (JSON lists, empty for the apps referenced before). ``catalogue_connections.feed_categories`` and
``feed_grant_id``: what the holder let the app feed and the write grant it became; ``grant_id`` (the read grant)
becomes optional, since a connection may only feed.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_EMPTY = sa.text("'[]'")


def upgrade() -> None:
    # catalogue_apps is changed in place (ADD / DROP COLUMN): recreating it, as SQLite's batch mode may, would break
    # the foreign keys of the reviews and connections that point at it.
    with op.batch_alter_table("catalogue_apps", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("feed_asked", sa.JSON(), nullable=False, server_default=_EMPTY))
        batch_op.add_column(sa.Column("feed_granted", sa.JSON(), nullable=False, server_default=_EMPTY))
    with op.batch_alter_table("catalogue_connections", schema=None) as batch_op:
        batch_op.add_column(sa.Column("feed_grant_id", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("feed_categories", sa.JSON(), nullable=False, server_default=_EMPTY))
        batch_op.alter_column("grant_id", existing_type=sa.String(length=36), nullable=True)
        batch_op.create_foreign_key(op.f("fk_catalogue_connections_feed_grant_id_access_grants"), "access_grants",
                                    ["feed_grant_id"], ["id"])  # fmt: skip


def downgrade() -> None:
    # The older code knows no feed grant and could never end one (disconnection, withdrawal): every feed grant of a
    # connection is revoked now, so that no app keeps writing unseen. A connection that only fed has no read grant
    # and cannot be held by the older schema: it is deleted (its revoked grant stays in the directory of grants).
    op.execute(
        sa.text(
            "UPDATE access_grants SET revoked_at = CURRENT_TIMESTAMP WHERE revoked_at IS NULL AND id IN "
            "(SELECT feed_grant_id FROM catalogue_connections WHERE feed_grant_id IS NOT NULL)"
        )
    )
    op.execute(sa.text("DELETE FROM catalogue_connections WHERE grant_id IS NULL"))
    with op.batch_alter_table("catalogue_connections", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("fk_catalogue_connections_feed_grant_id_access_grants"), type_="foreignkey")
        batch_op.alter_column("grant_id", existing_type=sa.String(length=36), nullable=False)
        batch_op.drop_column("feed_categories")
        batch_op.drop_column("feed_grant_id")
    with op.batch_alter_table("catalogue_apps", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("feed_granted")
        batch_op.drop_column("feed_asked")

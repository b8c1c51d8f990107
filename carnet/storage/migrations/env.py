"""Alembic environment: the engine comes from ``config.attributes['engine']`` (see carnet.storage.migrate)."""

from __future__ import annotations

from alembic import context

from carnet.storage.models import metadata

config = context.config


def run() -> None:
    engine = config.attributes.get("engine")
    if engine is None:
        from carnet.settings import Settings
        from carnet.storage.db import make_engine

        engine = make_engine(Settings().effective_database_url)
    with engine.begin() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        context.run_migrations()


run()

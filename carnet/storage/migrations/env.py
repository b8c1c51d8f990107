"""Alembic environment: the engine comes from ``config.attributes['engine']`` (see carnet.storage.migrate)."""

from __future__ import annotations

from alembic import context

from carnet.storage.models import metadata

config = context.config

# Tables created with backend-specific DDL in the migrations (full-text index), unknown to the ORM metadata.
UNMANAGED_PREFIXES = ("document_search",)


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    return not (type_ == "table" and name is not None and name.startswith(UNMANAGED_PREFIXES))


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
            include_object=include_object,
        )
        context.run_migrations()


run()

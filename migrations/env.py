"""Alembic environment for the archcolor catalog (SQLite and PostgreSQL, batch mode on SQLite).

archcolor runs migrations in code (archive_colorizer/catalog/migrations.py) and hands over an open
connection in ``config.attributes["connection"]``. Run by the `alembic` tool, the URL comes from
``-x db=URL``, else ARCHCOLOR_DATABASE_URL, else the archcolor default.
"""

from __future__ import annotations

import os
from typing import Any

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy.engine import Connection

from archive_colorizer.catalog.engine import create_catalog_engine
from archive_colorizer.catalog.schema import Base, UtcDateTime
from archive_colorizer.config import DEFAULT_DATABASE_URL, ENV_DATABASE_URL

config = context.config
target_metadata = Base.metadata


def _render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | bool:
    """Render app-only column types as plain SQLAlchemy types, so migrations stand alone."""
    if type_ == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things: copy-and-move tables instead
        compare_type=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    return (
        context.get_x_argument(as_dictionary=True).get("db")
        or config.get_main_option("sqlalchemy.url")
        or os.environ.get(ENV_DATABASE_URL)
        or DEFAULT_DATABASE_URL
    )


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    given = config.attributes.get("connection")
    if given is not None:
        _run(given)
    else:
        engine = create_catalog_engine(_url())
        try:
            with engine.connect() as connection:
                _run(connection)
                connection.commit()
        finally:
            engine.dispose()

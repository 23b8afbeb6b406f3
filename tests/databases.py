"""Test helpers on real catalogs: make one read-only, list its tables, give it a user.

No mocks: SQLite is opened read-only with ``mode=ro`` (works as root, unlike file permissions),
PostgreSQL with ``default_transaction_read_only`` set on the database.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from tests.conftest import POSTGRES_URL


@contextmanager
def read_only(database_url: str) -> Iterator[str]:
    """A URL on which the catalog at ``database_url`` can be read but not written."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        yield f"sqlite:///file:{url.database}?mode=ro&uri=true"
        return
    admin = create_engine(make_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(
                text(f'ALTER DATABASE "{url.database}" SET default_transaction_read_only = on')
            )
        yield database_url
    finally:
        with admin.connect() as conn:
            conn.execute(
                text(f'ALTER DATABASE "{url.database}" RESET default_transaction_read_only')
            )
        admin.dispose()


def table_names(database_url: str) -> list[str]:
    """The tables in the database at ``database_url`` (read with a plain engine)."""
    engine = create_engine(make_url(database_url))
    try:
        with engine.connect() as conn:
            return sorted(inspect(conn).get_table_names())
    finally:
        engine.dispose()


@contextmanager
def postgres_user_with_own_database() -> Iterator[tuple[str, str]]:
    """A fresh PostgreSQL role and an empty database of the same name: (role, URL of that
    database). A URL naming the role but no database connects to it, so a test of such a URL
    never touches the server's shared ``postgres`` database."""
    import uuid

    name = f"archcolor_role_{uuid.uuid4().hex[:12]}"
    admin_url = make_url(POSTGRES_URL)
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE ROLE "{name}" LOGIN'))
            conn.execute(text(f'CREATE DATABASE "{name}" OWNER "{name}"'))
        yield name, admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'DROP ROLE IF EXISTS "{name}"'))
        admin.dispose()

"""Scratch databases for tests that need an empty one: SQLite, and PostgreSQL in CI."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from shared.db.engine import Database, normalise_url
from tests.support import postgres_admin_url


@contextmanager
def scratch_database(tmp_path: Path, kind: str) -> Iterator[str]:
    """The URL of an empty database of ``kind`` ("sqlite" or "postgresql"), dropped after."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path}/scratch-{uuid.uuid4().hex[:6]}.db"
        return
    admin = postgres_admin_url()
    assert admin, "MES_TEST_POSTGRES_URL is not set"
    name = f"mes_scratch_{uuid.uuid4().hex[:10]}"
    engine = create_engine(normalise_url(admin), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{admin.rsplit('/', 1)[0]}/{name}"
    finally:
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


#: The marks of a module whose tests need PostgreSQL itself: run by the PostgreSQL leg of
#: ``.ci/run``, skipped on the SQLite one.
POSTGRES_ONLY = [
    pytest.mark.db,
    pytest.mark.skipif(not postgres_admin_url(), reason="needs PostgreSQL: the PostgreSQL leg runs it"),
]


@contextmanager
def scratch_postgres(tmp_path: Path) -> Iterator[Database]:
    """A :class:`Database` on an empty PostgreSQL database, disposed and dropped after."""
    with scratch_database(tmp_path, "postgresql") as url:
        database = Database(url)
        try:
            yield database
        finally:
            database.dispose()


def database_kinds() -> list[str]:
    """SQLite always; PostgreSQL when the PostgreSQL leg runs."""
    return ["sqlite", "postgresql"] if postgres_admin_url() else ["sqlite"]

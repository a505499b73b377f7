"""The mesures read path's plain SQL: on SQLite each thread keeps one driver connection, and
it must never read a stale state (a revocation applies at once)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from services.catalog.rawsql import RawReader
from shared.db.engine import Database


@pytest.fixture
def database(tmp_path: Path) -> Database:
    db = Database(f"sqlite:///{tmp_path / 'raw.db'}")
    with db.session() as session:
        session.execute(text("CREATE TABLE consents (id TEXT PRIMARY KEY, status TEXT)"))
        session.execute(text("INSERT INTO consents VALUES ('c1', 'active')"))
    return db


def status(raw: RawReader) -> str:
    with raw.cursor() as cursor:
        return str(raw.rows(cursor, "SELECT status FROM consents WHERE id = :id", {"id": "c1"})[0][0])


def test_the_held_connection_reads_every_commit_at_once(database: Database) -> None:
    raw = RawReader(database.engine)
    assert status(raw) == "active"
    with raw.cursor() as cursor:
        held = cursor.connection
    with database.session() as session:  # another connection commits a revocation
        session.execute(text("UPDATE consents SET status = 'inactive' WHERE id = 'c1'"))
    assert status(raw) == "inactive"
    with raw.cursor() as cursor:
        assert cursor.connection is held  # the same connection, no transaction left open
        assert not cursor.connection.in_transaction
    raw.close()


def test_one_connection_per_thread(database: Database) -> None:
    raw = RawReader(database.engine)
    seen: list[object] = []

    def read() -> None:
        with raw.cursor() as cursor:
            seen.append(cursor.connection)

    read()
    other = threading.Thread(target=read)
    other.start()
    other.join()
    read()
    assert seen[0] is seen[2]
    assert seen[0] is not seen[1]
    raw.close()


def test_a_failing_connection_is_not_kept(database: Database) -> None:
    raw = RawReader(database.engine)
    with raw.cursor() as cursor:
        first = cursor.connection
    with pytest.raises(sqlite3.OperationalError), raw.cursor() as cursor:
        cursor.execute("SELECT nothing FROM nowhere")
    with raw.cursor() as cursor:
        assert cursor.connection is not first
    assert status(raw) == "active"
    raw.close()


def test_a_refusal_raised_while_reading_keeps_the_connection(database: Database) -> None:
    """The mesures read raises its 403s inside the block: the cursor closes, the connection stays."""
    raw = RawReader(database.engine)
    opened: list[sqlite3.Cursor] = []

    def refuse() -> None:
        with raw.cursor() as cursor:
            opened.append(cursor)
            raise PermissionError("Consent not given, access refused.")

    with pytest.raises(PermissionError):
        refuse()
    cursor = opened[0]
    first = cursor.connection
    with pytest.raises(sqlite3.ProgrammingError):
        cursor.execute("SELECT 1")  # closed
    with raw.cursor() as again:
        assert again.connection is first
    raw.close()

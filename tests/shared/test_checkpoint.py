"""SQLite's WAL is checkpointed by a thread of the Database, not by a committing request."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import text

from shared.db.checkpoint import BACKSTOP_PAGES
from shared.db.engine import Database


def _rows_in_database_file(path: Path) -> int:
    """The rows the database file itself holds (``immutable``: the WAL is not read)."""
    connection = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        count: int = connection.execute("SELECT count(*) FROM t").fetchone()[0]
    except sqlite3.OperationalError:  # the table itself is still only in the WAL
        return -1
    finally:
        connection.close()
    return count


def _eventually(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def _insert(database: Database, count: int) -> None:
    with database.session() as session:
        for _ in range(count):
            session.execute(text("INSERT INTO t (v) VALUES ('x')"))


def test_commits_reach_the_database_file_through_the_thread(tmp_path: Path) -> None:
    path = tmp_path / "checkpointed.db"
    database = Database(f"sqlite:///{path}")
    try:
        assert database.checkpointer is not None and database.checkpointer.alive
        with database.engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
            # The connections' own checkpoint is far away: nothing below reaches it.
            assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == BACKSTOP_PAGES
        _insert(database, 3)
        assert _eventually(lambda: _rows_in_database_file(path) == 3)
        # Without the thread, the same commits stay in the WAL.
        database.checkpointer.stop()
        assert not database.checkpointer.alive
        _insert(database, 2)
        time.sleep(0.5)
        assert _rows_in_database_file(path) == 3
        with database.session(write=False) as session:
            assert session.execute(text("SELECT count(*) FROM t")).scalar_one() == 5
    finally:
        database.dispose()


def test_dispose_stops_the_thread_and_memory_databases_have_none(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path}/disposed.db")
    checkpointer = database.checkpointer
    assert checkpointer is not None
    database.dispose()
    assert not checkpointer.alive
    memory = Database("sqlite://")
    assert memory.checkpointer is None
    memory.dispose()

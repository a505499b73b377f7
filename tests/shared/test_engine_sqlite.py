"""SQLite's pool hands out the connection used last (``shared/db/engine.py``): a read after a
write finds its pages in that connection's cache instead of reading the file again."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text

from shared.db.engine import Database


def _read_syscalls() -> int:
    """This process's read system calls so far (Linux)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("syscr:"):
            return int(line.split()[1])
    raise AssertionError("no syscr in /proc/self/io")


def test_a_read_after_a_write_reads_nothing_from_the_file(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path}/pool.db")
    try:
        with db.session() as session:
            session.execute(text("CREATE TABLE rows (id INTEGER PRIMARY KEY, body TEXT)"))
            # ~1 MB: within a connection's page cache (2 MB), 250 pages to read otherwise.
            session.execute(text("INSERT INTO rows (body) VALUES (:body)"), [{"body": "x" * 1000}] * 1000)
        # Two connections in the pool, as concurrent requests leave it.
        first, second = db.engine.connect(), db.engine.connect()
        for connection in (first, second):
            connection.execute(text("SELECT count(*) FROM rows")).scalar_one()
        first.close()
        second.close()
        reads = []
        for index in range(4):
            with db.dbapi_transaction() as connection:  # a request's write (a trace, say)
                connection.execute("UPDATE rows SET body = ? WHERE id = ?", ("y" * 1000, index + 1))
            before = _read_syscalls()
            with db.session(write=False) as session:  # the next request's read
                assert len(session.execute(text("SELECT body FROM rows")).all()) == 1000
            reads.append(_read_syscalls() - before)
        # Handed the other connection, whose cache the write made stale, each read
        # would read the table's pages again (~250 calls).
        assert max(reads) < 20, reads
    finally:
        db.dispose()


def test_the_loop_connections_need_opening_and_sqlite_has_none(tmp_path: Path) -> None:
    sqlite = Database(f"sqlite:///{tmp_path}/loop.db")
    try:
        asyncio.run(sqlite.open_loop())
        with pytest.raises(RuntimeError, match="not open"):
            sqlite.loop_connection()
    finally:
        sqlite.dispose()

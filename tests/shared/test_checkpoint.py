"""SQLite's WAL checkpointed by a thread of its own (``shared/db/checkpoint.py``): the
request connections no longer checkpoint past 1,000 pages, the thread does, and the log
starts again from its beginning even under a steady stream of commits."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import text

from shared.db.checkpoint import FALLBACK_PAGES, Checkpointer
from shared.db.engine import Database

BLOB = 60_000  # about a DMP publication: 15 pages


def _wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def _quick(db: Database, path: Path) -> Checkpointer:
    """``db``'s checkpointer replaced by one quicker to act, for a test of a few seconds."""
    assert db.checkpointer is not None
    db.checkpointer.stop()
    db.checkpointer = Checkpointer(str(path), db._writers, interval=0.02, restart_frames=300)
    db.checkpointer.start()
    return db.checkpointer


def _rows_in_the_file_alone(tmp_path: Path) -> int:
    """The rows a copy of the database file has, without its log: what checkpoints copied."""
    copy = tmp_path / "copy.db"
    copy.write_bytes((tmp_path / "dmp.db").read_bytes())
    try:
        with sqlite3.connect(copy) as reader:
            return int(reader.execute("SELECT count(*) FROM blobs").fetchone()[0])
    except sqlite3.DatabaseError:  # no table yet, or a page caught mid-copy
        return -1
    finally:
        copy.unlink()


def test_request_connections_leave_the_checkpoints_to_the_thread(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path}/dmp.db")
    try:
        assert db.checkpointer is not None and db.checkpointer.running
        with db.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == FALLBACK_PAGES
        db.checkpointer.stop()
        with db.session() as session:
            session.execute(text("CREATE TABLE blobs (id INTEGER PRIMARY KEY, body BLOB)"))
        with db.session() as session:  # ~1,500 pages: past the 1,000 of SQLite's own checkpoint
            session.execute(
                text("INSERT INTO blobs (body) VALUES (randomblob(:size))"), [{"size": BLOB}] * 100
            )
        # With SQLite's default, that commit would have copied the log into the file.
        assert _rows_in_the_file_alone(tmp_path) < 100
        db.checkpointer = Checkpointer(str(tmp_path / "dmp.db"), db._writers, interval=0.02)
        db.checkpointer.start()
        assert _wait_for(lambda: _rows_in_the_file_alone(tmp_path) == 100)
    finally:
        db.dispose()
    assert db.checkpointer is not None and not db.checkpointer.running


def test_the_log_starts_again_under_a_steady_stream_of_commits(tmp_path: Path) -> None:
    """Without the checkpoint that holds the writers back, the log grows as long as the
    commits go on (the checkpoints beside them never end with every frame copied)."""
    path = tmp_path / "busy.db"
    db = Database(f"sqlite:///{path}")
    _quick(db, path)
    written = 0
    stop = threading.Event()

    def commits() -> None:
        nonlocal written
        while not stop.is_set():
            with db.dbapi_transaction() as connection:
                connection.execute("INSERT INTO blobs (body) VALUES (randomblob(?))", (BLOB,))
            written += BLOB
            time.sleep(0.0005)  # a request's own work between two commits

    try:
        with db.session() as session:
            session.execute(text("CREATE TABLE blobs (id INTEGER PRIMARY KEY, body BLOB)"))
        writer = threading.Thread(target=commits)
        writer.start()
        try:
            started = time.monotonic()
            assert _wait_for(lambda: db.checkpointer is not None and db.checkpointer.restarts >= 3)
            time.sleep(max(0.0, 1.0 - (time.monotonic() - started)))
        finally:
            stop.set()
            writer.join()
        # Tens of MB committed; the log, reused from its start, stayed a fraction of that.
        assert os.path.getsize(f"{path}-wal") < written / 3, (os.path.getsize(f"{path}-wal"), written)
        with db.session(write=False) as session:
            assert session.execute(text("SELECT count(*) FROM blobs")).scalar_one() == written // BLOB
    finally:
        db.dispose()


def test_no_thread_for_a_database_in_memory_and_none_creates_a_missing_file(tmp_path: Path) -> None:
    assert Database("sqlite://").checkpointer is None
    missing = tmp_path / "not-yet.db"
    checkpointer = Checkpointer(str(missing), interval=0.01)
    checkpointer.start()
    try:
        time.sleep(0.1)
        assert checkpointer.running and not missing.exists() and checkpointer.checkpoints == 0
    finally:
        checkpointer.stop()
    assert not checkpointer.running


_OTHER_PROCESS = """
import sys, time
from sqlalchemy import text
from shared.db.checkpoint import Checkpointer
from shared.db.engine import Database

db = Database(f"sqlite:///{sys.argv[1]}")
db.checkpointer.stop()
db.checkpointer = Checkpointer(sys.argv[1], db._writers, interval=0.02, restart_frames=300)
db.checkpointer.start()
with db.session() as session:
    session.execute(text("INSERT INTO blobs (body) VALUES (randomblob(:size))"), [{"size": 60_000}] * 50)
deadline = time.monotonic() + 10
while db.checkpointer.restarts == 0 and time.monotonic() < deadline:
    time.sleep(0.02)
db.dispose()
print(db.checkpointer.restarts)
"""


def test_another_process_on_the_same_file_loses_nothing(tmp_path: Path) -> None:
    """POSIX advisory locks are the process's: closing any descriptor of the database file
    drops all of them, SQLite's included (sqlite.org, "How To Corrupt An SQLite Database
    File" 2.2). A checkpointer that opened and closed the file made the other process's
    last connection think it was the last one anywhere: it folded the log and deleted it
    under this process, whose later commits went to the deleted log (bench.psc's minting
    process and Pro Santé Connect: every code minted next was unknown)."""
    path = tmp_path / "shared.db"
    db = Database(f"sqlite:///{path}")
    _quick(db, path)
    try:
        with db.session() as session:
            session.execute(text("CREATE TABLE blobs (id INTEGER PRIMARY KEY, body BLOB)"))
            blobs = [{"size": BLOB}] * 50
            session.execute(text("INSERT INTO blobs (body) VALUES (randomblob(:size))"), blobs)
        assert _wait_for(lambda: db.checkpointer is not None and db.checkpointer.restarts > 0)
        other = subprocess.run(
            [sys.executable, "-c", _OTHER_PROCESS, str(path)], capture_output=True, text=True, timeout=60
        )
        assert other.returncode == 0, other.stderr
        assert int(other.stdout) > 0  # the other process restarted its log too
        # This process still shares the log: its next commit and the other's rows are seen
        # by a third connection, and the log was never deleted under it.
        with db.session() as session:
            session.execute(text("INSERT INTO blobs (body) VALUES (randomblob(10))"))
        assert Path(f"{path}-wal").exists()
        with sqlite3.connect(path) as third:
            assert third.execute("SELECT count(*) FROM blobs").fetchone()[0] == 101
    finally:
        db.dispose()

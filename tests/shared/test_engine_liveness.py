"""PostgreSQL pooled connections: a connection the server ended is replaced at checkout,
a live one is reused, and neither costs a round trip; the one used last is handed out
first (``shared/db/engine.py``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from shared.db.engine import Database, normalise_url
from tests.platform.dbs import POSTGRES_ONLY, scratch_postgres
from tests.support import postgres_admin_url

pytestmark = POSTGRES_ONLY


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    with scratch_postgres(tmp_path) as database:
        yield database


def _backend(db: Database) -> int:
    with db.engine.connect() as connection:
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _terminate(pid: int) -> None:
    admin = create_engine(normalise_url(postgres_admin_url() or ""), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            assert connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
            # pg_terminate_backend only signals: wait until the backend is gone.
            for _ in range(200):
                gone = not connection.execute(
                    text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
                ).scalar_one()
                if gone:
                    return
                time.sleep(0.01)
    finally:
        admin.dispose()
    raise AssertionError(f"backend {pid} still running")


def test_a_live_connection_is_reused_without_a_round_trip(db: Database, tmp_path: Path) -> None:
    first = _backend(db)
    trace = tmp_path / "libpq.trace"
    with trace.open("w") as sink:
        # libpq's own protocol trace of the pooled connection: every message it sends.
        pooled = db.engine.raw_connection()
        driver: Any = pooled.driver_connection
        driver.pgconn.trace(sink.fileno())
        pooled.close()
        with db.engine.connect() as connection:
            assert connection.execute(text("SELECT pg_backend_pid() + 0")).scalar_one() == first
            driver.pgconn.untrace()
    sent = [line.split("\t")[-1].strip() for line in trace.read_text().splitlines() if "\tF\t" in line]
    # Nothing before the transaction: pool_pre_ping would have sent its empty query ";".
    assert sent[:2] == ['"BEGIN"', '"SELECT pg_backend_pid() + 0"'], sent


def test_a_connection_the_server_ended_is_replaced_at_checkout(db: Database) -> None:
    ended = _backend(db)
    _terminate(ended)
    # The session path and the bare DBAPI path both check out of the same pool.
    assert _backend(db) != ended
    again = _backend(db)
    _terminate(again)
    with db.dbapi_transaction() as connection:
        row = connection.execute("SELECT pg_backend_pid()").fetchone()
    assert row[0] not in (ended, again)


def test_every_pooled_connection_the_server_ended_is_replaced(db: Database) -> None:
    # Several idle connections in the pool, all ended by a server restart's equivalent.
    connections = [db.engine.connect() for _ in range(3)]
    pids = [int(c.execute(text("SELECT pg_backend_pid()")).scalar_one()) for c in connections]
    for connection in connections:
        connection.close()
    for pid in pids:
        _terminate(pid)
    with db.session(write=True) as session:
        assert session.execute(text("SELECT 1")).scalar_one() == 1
        assert session.execute(text("SELECT pg_backend_pid()")).scalar_one() not in pids


def test_the_connection_used_last_is_handed_out_first(db: Database) -> None:
    # Three connections in the pool, as concurrent requests leave it.
    connections = [db.engine.connect() for _ in range(3)]
    pids = [int(c.execute(text("SELECT pg_backend_pid()")).scalar_one()) for c in connections]
    for connection in connections:
        connection.close()
    # One request after another: the same server process, the last one returned (in turn,
    # the three would answer one after the other).
    assert [_backend(db) for _ in range(3)] == [pids[-1]] * 3


def test_commits_do_not_wait_for_the_wal_unless_the_url_says_so(db: Database) -> None:
    """``synchronous_commit=off``, as SQLite's ``synchronous=NORMAL``; the URL's own
    ``options`` win."""
    with db.engine.connect() as connection:
        assert connection.execute(text("SHOW synchronous_commit")).scalar_one() == "off"
    url = db.engine.url.set(query={"options": "-c synchronous_commit=on"})
    strict = Database(url.render_as_string(hide_password=False))
    try:
        with strict.engine.connect() as connection:
            assert connection.execute(text("SHOW synchronous_commit")).scalar_one() == "on"
        # The event loop's connections (shared/db/loop.py) as the engine's.
        assert [_loop_setting(database) for database in (db, strict)] == ["off", "on"]
    finally:
        strict.dispose()


def _loop_setting(db: Database) -> str:
    """``synchronous_commit`` on a connection of ``db``'s event loop."""

    async def show() -> str:
        await db.open_loop()
        try:
            async with db.loop_connection() as connection:
                row = await (await connection.execute("SHOW synchronous_commit")).fetchone()
                assert row is not None
                return str(row[0])
        finally:
            await db.close_loop()

    return asyncio.run(show())

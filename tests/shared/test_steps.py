"""``shared/db/steps.py``, ``shared/db/loop.py`` and ``shared/db/prepared.py`` on PostgreSQL:
a path's reads are one round trip, its writes one statement (or one pipelined
transaction), all or nothing, on the event loop's connections, which the pool checks
without a round trip; statements reach the server as compiled."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest
from psycopg.pq import TransactionStatus
from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    bindparam,
    select,
)

from shared.db import steps
from shared.db.engine import Database
from shared.db.prepared import InsertChain, Prepared, native_dialect
from tests.platform.dbs import POSTGRES_ONLY, scratch_postgres
from tests.shared.test_engine_liveness import _terminate

pytestmark = POSTGRES_ONLY
T = TypeVar("T")

METADATA = MetaData()
PARENTS = Table(
    "parents",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("body", LargeBinary),
    Column("doc", JSON),
    Column("at", DateTime(timezone=True)),
)
CHILDREN = Table(
    "children",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("parent_id", Integer, ForeignKey("parents.id"), nullable=False),
    Column("label", Text, nullable=False),
)
AT = dt.datetime(2026, 12, 3, 14, 0, tzinfo=dt.UTC)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    with scratch_postgres(tmp_path) as database:
        METADATA.create_all(database.engine)
        yield database


def _on_loop(db: Database, work: Callable[[], Awaitable[T]]) -> T:
    """``work`` on an event loop of its own, the database's loop connections open."""

    async def run() -> T:
        await db.open_loop()
        try:
            return await work()
        finally:
            await db.close_loop()

    return asyncio.run(run())


def _parent(key: int, **values: Any) -> tuple[Table, dict[str, Any]]:
    return PARENTS, {"id": key, "body": b"\x00\xffpdf", "doc": {"é": [key]}, "at": AT, **values}


def _child(key: int, parent: int) -> tuple[Table, dict[str, Any]]:
    return CHILDREN, {"id": key, "parent_id": parent, "label": f"child {key}"}


def _counts(db: Database) -> tuple[int, int]:
    with db.dbapi_transaction() as connection:
        return (
            connection.execute("SELECT count(*) FROM parents").fetchone()[0],
            connection.execute("SELECT count(*) FROM children").fetchone()[0],
        )


def _sent(trace: Path) -> list[list[str]]:
    """The messages libpq sent, from its protocol trace."""
    return [line.split("\t") for line in trace.read_text().splitlines() if "\tF\t" in line]


async def _traced(db: Database, trace: Path, path: steps.Steps[T]) -> T:
    """``path`` on one loop connection whose messages libpq writes to ``trace``."""
    async with db.loop_connection() as connection:
        with trace.open("w") as sink:
            connection.pgconn.trace(sink.fileno())
            try:
                return await steps.run_async(connection, native_dialect(db.engine.dialect), path)
            finally:
                connection.pgconn.untrace()


def _just(step: steps.Read | steps.Write) -> steps.Steps[Any]:
    """A path of one step; it returns what the step gave (a Read's rows)."""
    reply = yield step
    return reply


def test_a_path_reads_in_one_round_trip_and_writes_in_one_statement(db: Database, tmp_path: Path) -> None:
    dialect = native_dialect(db.engine.dialect)
    by_id = Prepared(select(PARENTS).where(PARENTS.c.id == bindparam("key")), dialect)
    labels = Prepared(select(CHILDREN.c.label).order_by(CHILDREN.c.id), dialect)
    writing, reading = tmp_path / "write.trace", tmp_path / "read.trace"
    # The children name a parent written by the same statement.
    rows = [_parent(1), _child(10, 1), _child(11, 1)]
    _on_loop(db, lambda: _traced(db, writing, _just(steps.Write(rows))))
    found = _on_loop(db, lambda: _traced(db, reading, _just(steps.Read([(by_id, {"key": 1}), (labels, {})]))))
    assert found == [[(1, b"\x00\xffpdf", {"é": [1]}, AT)], [("child 10",), ("child 11",)]]
    written = _sent(writing)
    assert [fields[3] for fields in written].count("Sync") == 1
    parsed = [fields[-1] for fields in written if fields[3] == "Parse"]
    assert len(parsed) == 1 and '"WITH row0 AS' in parsed[0], parsed
    read = [fields[3] for fields in _sent(reading)]
    assert read.count("Execute") == 2 and read.count("Sync") == 1, read
    assert read.index("Sync") > max(i for i, kind in enumerate(read) if kind == "Execute")


@pytest.mark.parametrize("size", ["chained", "pipelined"])
def test_a_write_is_all_or_nothing_and_leaves_the_connection_idle(db: Database, size: str) -> None:
    """A foreign key or a unique key violated by a row in the middle: no row is left, and
    the connection goes back to the pool outside any transaction."""
    count = 4 if size == "chained" else steps.CHAINED_ROWS + 6
    assert (count < steps.CHAINED_ROWS) == (size == "chained")
    many = [_parent(n) for n in range(count)]
    broken = {
        "foreign key": [*many[:2], _child(1, 999), *many[2:]],
        "unique key": [*many[:2], _parent(0), *many[2:]],
    }
    dialect = native_dialect(db.engine.dialect)

    async def work() -> list[TransactionStatus]:
        statuses = []
        for rows in broken.values():
            async with db.loop_connection() as connection:
                with pytest.raises(psycopg.errors.IntegrityError):
                    await steps.run_async(connection, dialect, _just(steps.Write(rows)))
                statuses.append(connection.info.transaction_status)
        # The same rows without the faulty one are written whole.
        await steps.perform(db, _just(steps.Write(many)))
        return statuses

    assert _on_loop(db, work) == [TransactionStatus.IDLE, TransactionStatus.IDLE]
    assert _counts(db) == (count, 0)


def test_a_pipelined_write_is_begin_the_inserts_and_commit_in_one_round_trip(
    db: Database, tmp_path: Path
) -> None:
    trace = tmp_path / "libpq.trace"
    rows = [_parent(n) for n in range(steps.CHAINED_ROWS)]
    _on_loop(db, lambda: _traced(db, trace, _just(steps.Write(rows))))
    sent = _sent(trace)
    kinds = [fields[3] for fields in sent]
    assert kinds.count("Sync") == 1, kinds
    assert kinds.index("Sync") > max(i for i, kind in enumerate(kinds) if kind == "Execute"), kinds
    statements = [fields[-1].split('"')[3].split(" ")[0] for fields in sent if fields[3] == "Parse"]
    assert statements[0] == "BEGIN" and statements[-1] == "COMMIT", statements
    assert _counts(db) == (steps.CHAINED_ROWS, 0)


def test_a_path_that_raises_writes_nothing(db: Database) -> None:
    class Refused(Exception):
        pass

    def path() -> steps.Steps[None]:
        rows = [_parent(1)]
        yield steps.Read([(Prepared(select(PARENTS.c.id), native_dialect(db.engine.dialect)), {})])
        rows.append(_child(1, 1))
        raise Refused  # between two rows: the Write was never yielded

    with pytest.raises(Refused):
        _on_loop(db, lambda: steps.perform(db, path()))
    assert _counts(db) == (0, 0)


def test_a_loop_connection_the_server_ended_is_replaced_without_a_round_trip(
    db: Database, tmp_path: Path
) -> None:
    async def backend() -> int:
        async with db.loop_connection() as connection:
            row = await (await connection.execute("SELECT pg_backend_pid()")).fetchone()
            assert row is not None
            return int(row[0])

    async def work() -> tuple[set[int], set[int], list[str]]:
        # Every connection of the pool at rest, ended by the server.
        first = {await backend() for _ in range(4)}
        for pid in first:
            await asyncio.to_thread(_terminate, pid)
        trace = tmp_path / "libpq.trace"
        async with db.loop_connection() as connection:
            with trace.open("w") as sink:
                connection.pgconn.trace(sink.fileno())
                await connection.execute("SELECT 1")
                connection.pgconn.untrace()
        after = {await backend() for _ in range(4)}
        sent = [fields[-1].strip() for fields in _sent(trace)]
        return first, after, sent

    first, after, sent = _on_loop(db, work)
    assert first and not first & after
    # No ping before the statement.
    assert sent[0] == '"SELECT 1"', sent


def test_an_insert_chain_keeps_the_last_shapes_compiled(db: Database) -> None:
    """A statement per sequence of tables, the last ``SHAPES`` of them kept."""
    chain = InsertChain(db.engine.dialect)
    shapes = [(PARENTS,) * n for n in range(1, InsertChain.SHAPES + 5)]
    for index, shape in enumerate(shapes):
        with db.dbapi_transaction() as connection:
            prepared, values = chain.bind([_parent(1000 * index + n) for n in range(len(shape))])
            prepared.execute(connection.cursor(), values)
    assert chain.compiled.cache_info().currsize == InsertChain.SHAPES
    hits = chain.compiled.cache_info().hits
    chain.compiled(shapes[-1])  # the newest is kept
    assert chain.compiled.cache_info().hits == hits + 1
    chain.compiled(shapes[0])  # the oldest was dropped
    assert chain.compiled.cache_info().hits == hits + 1


def _wide_table() -> tuple[Any, Any]:
    """A table of 60 columns: an INSERT of every column is past one of psycopg's limits for
    caching its rewrite of ``%(name)s`` placeholders (50 parameters; 4,096 characters)."""
    from sqlalchemy import JSON, Column, DateTime, Integer, MetaData, Table, Text

    metadata = MetaData()
    columns = [Column(f"a_rather_long_column_name_{n:02d}", Text) for n in range(57)]
    wide = Table(
        "wide",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("at", DateTime(timezone=True)),
        Column("doc", JSON),
        *columns,
    )
    return metadata, wide


def test_native_statements_reach_postgresql_as_compiled(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import datetime as dt

    from sqlalchemy import bindparam, insert, select

    from shared.db.prepared import Prepared, native_cursor, native_dialect

    metadata, wide = _wide_table()
    metadata.create_all(db.engine)
    dialect = native_dialect(db.engine.dialect)
    assert dialect is native_dialect(db.engine.dialect) and dialect is not db.engine.dialect
    write = Prepared(insert(wide), dialect, column_keys=[c.key for c in wide.columns])
    assert len(write.names) == 60 and "$60" in write.sql
    # The same name twice is one parameter.
    read = Prepared(
        select(wide.c.id, wide.c.at, wide.c.doc).where(
            wide.c.id == bindparam("key"), wide.c.id >= bindparam("key")
        ),
        dialect,
    )
    assert read.sql.count("$1") == 2 and "$2" not in read.sql
    at = dt.datetime(2026, 12, 3, 14, 0, tzinfo=dt.UTC)
    values = {c.key: f"v{n}" for n, c in enumerate(wide.columns)} | {"id": 7, "at": at, "doc": {"é": [1]}}

    def rewritten(*_: Any) -> Any:
        raise AssertionError("psycopg rewrote the statement's placeholders")

    trace = tmp_path / "libpq.trace"
    with trace.open("w") as sink, db.dbapi_transaction() as connection:
        connection.pgconn.trace(sink.fileno())
        with monkeypatch.context() as patched:
            patched.setattr("psycopg._queries._query2pg_nocache", rewritten)
            patched.setattr("psycopg._queries._query2pg", rewritten)
            cursor = native_cursor(connection)
            assert write.execute(cursor, values) == 1
            row = read.first(cursor, {"key": 7})
        connection.pgconn.untrace()
    assert row == (7, at, {"é": [1]})
    parsed = [line.split("\t")[-1] for line in trace.read_text().splitlines() if "\tF\t" in line]
    assert any(write.sql.split(" (")[0] in line and "$60" in line for line in parsed), parsed
    # The check can fail: the same long statement in psycopg's own style is rewritten.
    plain = Prepared(insert(wide), db.engine.dialect, column_keys=[c.key for c in wide.columns])
    with db.dbapi_transaction() as connection, monkeypatch.context() as patched:
        patched.setattr("psycopg._queries._query2pg_nocache", rewritten)
        with pytest.raises(AssertionError, match="rewrote"):
            plain.execute(connection.cursor(), values | {"id": 8})

"""A hot path's database work as steps, run by the same code on SQLite and on PostgreSQL.

A path (the DMP's usual ITI-65 publication and ITI-67 search) is a generator: it yields
what it needs read (:class:`Read`: SELECTs answered together) or written (:class:`Write`:
rows, all or none) and is sent back the rows; its rules are plain code between the steps.
:func:`perform` runs the steps with statements compiled once for
:data:`~shared.db.prepared.native_dialect`:

* on SQLite, in one transaction of :meth:`~shared.db.engine.Database.dbapi_transaction`,
  here on the event loop: a local file and a transaction of a few hundred microseconds,
  shorter than the hand-off to a thread of the pool and back when they share a core (the
  process's other writers run in the pool and never hold the writer lock across an await,
  so waiting for it here is short);
* on PostgreSQL, on a connection of the event loop (:mod:`shared.db.loop`), in autocommit
  and in as few round trips as the steps allow: the SELECTs of one :class:`Read` are sent
  together (psycopg's pipeline mode; they share one implicit transaction, until their
  Sync); a :class:`Write` of fewer than :data:`CHAINED_ROWS` rows is one statement
  (:class:`~shared.db.prepared.InsertChain`), a transaction of its own; a larger one is
  BEGIN, its INSERTs and COMMIT sent together, then one Sync. A statement that fails makes
  the server skip the rest, COMMIT included, and the pool rolls the connection back before
  anyone else gets it. The reads before a write are not in the write's transaction: at
  READ COMMITTED each statement sees what was committed before it began anyway.

Nothing is written before the :class:`Write` step: a path that raises (a refusal, an
injected fault between two rows) leaves the database as it was.
"""

from __future__ import annotations

import functools
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from psycopg.pq import TransactionStatus
from sqlalchemy import Table
from sqlalchemy.engine import Dialect

from shared.db.engine import Database
from shared.db.loop import AsyncConnection
from shared.db.prepared import InsertChain, PerDialect, Prepared, native_cursor, native_dialect

T = TypeVar("T")

#: A :class:`Write` of this many rows or more is sent INSERT by INSERT (in one transaction,
#: one round trip) rather than as one statement: each sequence of tables is a statement
#: compiled and cached of its own, and a 32-document submission's would be ~65 INSERTs long.
CHAINED_ROWS = 64


@dataclass(frozen=True)
class Read:
    """SELECTs, run in order; the path is sent their rows, one list per SELECT."""

    queries: Sequence[tuple[Prepared, Mapping[str, Any]]]


@dataclass(frozen=True)
class Write:
    """Rows giving every column of their table, inserted in order, all or none."""

    rows: Sequence[tuple[Table, Mapping[str, Any]]]


Steps = Generator[Read | Write, Any, T]


class _Writers:
    """The INSERTs of one (native) dialect."""

    def __init__(self, dialect: Dialect) -> None:
        self.chain = InsertChain(dialect)
        self.insert = functools.cache(functools.partial(_insert_into, dialect=dialect))


def _insert_into(table: Table, *, dialect: Dialect) -> Prepared:
    return Prepared.insert_into(table, dialect)


_WRITERS: PerDialect[_Writers] = PerDialect(_Writers)


async def perform(db: Database, steps: Steps[T]) -> T:
    """The path's steps run on ``db`` (SQLite's transaction or PostgreSQL's event-loop
    connection); what the path returns."""
    dialect = native_dialect(db.engine.dialect)
    if db.is_sqlite:
        with db.dbapi_transaction() as connection:
            return run(connection, dialect, steps)
    async with db.loop_connection() as connection:
        return await run_async(connection, dialect, steps)


def run(connection: Any, dialect: Dialect, steps: Steps[T]) -> T:
    """The steps on a DBAPI connection in its transaction, statement by statement."""
    cursor, writers = native_cursor(connection), _WRITERS(dialect)
    reply: Any = None
    while True:
        try:
            step = steps.send(reply)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        if isinstance(step, Read):
            reply = [prepared.all(cursor, values) for prepared, values in step.queries]
        else:
            for table, values in step.rows:
                writers.insert(table).execute(cursor, values)
            reply = None


async def run_async(connection: AsyncConnection, dialect: Dialect, steps: Steps[T]) -> T:
    """The steps on a connection of :mod:`shared.db.loop` (autocommit, raw cursors)."""
    writers = _WRITERS(dialect)
    reply: Any = None
    while True:
        try:
            step = steps.send(reply)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        if isinstance(step, Read):
            reply = await _read(connection, step)
        else:
            await _write(connection, writers, step)
            reply = None


async def _read(connection: AsyncConnection, step: Read) -> list[list[Any]]:
    cursors = [connection.cursor() for _ in step.queries]
    if len(cursors) == 1:
        prepared, values = step.queries[0]
        await cursors[0].execute(prepared.sql, prepared.parameters(values))
    else:
        async with connection.pipeline():
            for cursor, (prepared, values) in zip(cursors, step.queries, strict=True):
                await cursor.execute(prepared.sql, prepared.parameters(values))
    return [
        prepared.convert(await cursor.fetchall())
        for cursor, (prepared, _) in zip(cursors, step.queries, strict=True)
    ]


async def _write(connection: AsyncConnection, writers: _Writers, step: Write) -> None:
    cursor = connection.cursor()
    if len(step.rows) < CHAINED_ROWS:
        chained, bound = writers.chain.bind(step.rows)
        await cursor.execute(chained.sql, chained.parameters(bound))
        return
    try:
        async with connection.pipeline():
            await cursor.execute("BEGIN")
            for table, values in step.rows:
                prepared = writers.insert(table)
                await cursor.execute(prepared.sql, prepared.parameters(values))
            await cursor.execute("COMMIT")
    except BaseException:
        # A failed statement left the transaction open and aborted: rolled back here
        # rather than by the pool, which would log it as a connection returned dirty.
        if connection.info.transaction_status in (TransactionStatus.INTRANS, TransactionStatus.INERROR):
            await connection.rollback()
        raise

"""Fewer PostgreSQL round trips on a bare psycopg connection, for the hot paths that run
:mod:`shared.db.prepared` statements on :meth:`shared.db.engine.Database.dbapi_transaction`.

psycopg in its default mode sends BEGIN as a round trip of its own before the first
statement, then each statement, then COMMIT: five round trips for a read and two writes,
each a wake-up of the server and of this process (on two cores shared with the load, a
good part of a DMP request's CPU). In autocommit, a statement is its own transaction, and
in pipeline mode statements are sent together and answered at one Sync; an explicit BEGIN
and COMMIT inside the pipeline then make its writes one transaction in one round trip.
On SQLite both helpers do nothing: the connection's own transaction stays.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from psycopg.pq import TransactionStatus


@contextmanager
def statement_by_statement(connection: Any, is_sqlite: bool) -> Iterator[None]:
    """On PostgreSQL, each statement its own transaction (psycopg's autocommit), put back
    before the connection returns to the pool: the pool's sessions need transactions."""
    if is_sqlite:
        yield
        return
    connection.autocommit = True
    try:
        yield
    finally:
        try:
            connection.autocommit = False
        except Exception:
            connection.close()  # never back to the pool in autocommit
            raise


@contextmanager
def pipelined_transaction(connection: Any, is_sqlite: bool) -> Iterator[None]:
    """The statements run in the block, in one transaction sent in one round trip: BEGIN,
    them, COMMIT, then one Sync (inside :func:`statement_by_statement`).

    Atomic as a transaction is. A statement that fails makes the server skip the rest,
    COMMIT included, up to the Sync; an exception raised in the block (an injected fault
    between two INSERTs) leaves COMMIT unsent. Either way the transaction is then open or
    failed, and is rolled back here before the error goes on. The block must not read a
    result before it ends (that would need a Sync of its own, splitting the round trip)."""
    if is_sqlite:
        yield
        return
    cursor = connection.cursor()
    try:
        with connection.pipeline():
            cursor.execute("BEGIN")
            yield
            cursor.execute("COMMIT")
    except BaseException:
        if connection.info.transaction_status in (TransactionStatus.INTRANS, TransactionStatus.INERROR):
            connection.execute("ROLLBACK")
        raise

"""PostgreSQL on the event loop: psycopg's asynchronous connections, pooled by psycopg_pool,
for the hot paths that run their statements as steps (:mod:`shared.db.steps`).

Through SQLAlchemy's pool each PostgreSQL statement of a request ran in a thread of the
pool: the event loop handed the request over, the thread sent the statement, waited for the
server with the GIL released, took the GIL back from the loop's thread and handed the
answer back. Here the loop sends the statement and serves other requests until the answer
arrives: no hand-off, no thread of the pool held while PostgreSQL works. Measured in
alternating runs (README "DMP", Benchmark): ~4 % less CPU per ITI-65 publication, no
difference beyond the machine's noise for an ITI-67 search.

Every connection of this pool is in autocommit (a statement is a transaction of its own,
unless the steps' driver sends BEGIN and COMMIT around several), decodes and encodes JSON
with the services' codec (the engine dialect's own adapters), and gives raw cursors: the
statements are compiled for :data:`shared.db.prepared.native_dialect`. A connection is
checked when it is handed out, without a round trip (:func:`ended_while_idle`).
"""

from __future__ import annotations

import select
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

AsyncConnection = psycopg.AsyncConnection[Any]


def ended_while_idle(connection: psycopg.Connection[Any] | AsyncConnection) -> str | None:
    """Why an idle ``connection`` cannot serve, or ``None``: a liveness check without the
    round trip of a ping (one of a DMP search's three round trips, 10-18 % of its CPU).

    A connection the server ended (a restart, ``pg_terminate_backend``,
    ``idle_session_timeout``) is told apart without it: the server sends its FATAL message
    and closes the socket, which makes an idle connection's socket readable, and an idle
    connection has nothing else to read (the sandbox never LISTENs; should the server ever
    volunteer a message, a sound connection is replaced: a reconnection, not an error). A
    peer that vanishes without closing (a cut network, not a local or compose setup) goes
    unseen by both checks until TCP gives up."""
    if connection.closed or connection.broken:
        return "the PostgreSQL connection is closed"
    poller = select.poll()
    poller.register(connection.fileno(), select.POLLIN | select.POLLPRI)
    if poller.poll(0):
        return "the server ended this PostgreSQL connection (readable while idle)"
    return None


class LoopPool:
    """The pool of one database, opened and closed by the service's lifespan (its
    connections belong to that event loop)."""

    #: Connections kept open, and at most: as the engine's pool (10 at rest).
    MIN_SIZE = 2
    MAX_SIZE = 10

    def __init__(self, connect_args: dict[str, Any]) -> None:
        """``connect_args``: psycopg's connection parameters (host, dbname, options, the
        adapters of SQLAlchemy's dialect as ``context``...)."""
        self._pool = AsyncConnectionPool(
            kwargs={
                **connect_args,
                "autocommit": True,
                "cursor_factory": psycopg.AsyncRawCursor,
            },
            min_size=self.MIN_SIZE,
            max_size=self.MAX_SIZE,
            open=False,
        )

    async def open(self) -> None:
        await self._pool.open(wait=True)

    async def close(self) -> None:
        await self._pool.close()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection]:
        """A live connection for the block, back to the pool after (rolled back first if
        the block left a transaction open, dropped if it broke)."""
        connection = await self._live()
        try:
            yield connection
        finally:
            await self._pool.putconn(connection)

    async def _live(self) -> AsyncConnection:
        # Checked here rather than by the pool's own ``check``: the pool waits a second or
        # more before trying again after a failed check (its reconnection back-off), which
        # every request would pay after a restart of PostgreSQL. A connection closed here
        # is dropped by the pool, which opens another in the background.
        while True:
            connection = await self._pool.getconn()
            if ended_while_idle(connection) is None:
                return connection
            await connection.close()
            await self._pool.putconn(connection)

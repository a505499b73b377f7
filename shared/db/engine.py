"""Engines and request-scoped sessions (architecture rule 5).

SQLite is tuned for a sandbox that serves concurrent requests: WAL (readers never wait
for the writer), ``synchronous=NORMAL``, foreign keys on, a busy timeout, and write
transactions opened with ``BEGIN IMMEDIATE`` so that two writers queue on the lock
instead of failing with "database is locked" when one upgrades a read to a write.

The writers of one process also queue on a lock of their own before ``BEGIN IMMEDIATE``:
SQLite's busy handler makes a waiting writer sleep and retry (1, 2, 5 ... 100 ms), so
under concurrent writes the unlucky ones waited hundreds of milliseconds while the
database was free; a thread lock hands the turn over at once. It gives up after the busy
timeout, and then SQLite decides as before.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from shared import jsoncodec
from shared.db.checkpoint import FALLBACK_PAGES, Checkpointer
from shared.db.loop import AsyncConnection, LoopPool, ended_while_idle

_BEGIN = "sqlite_begin"
#: ``PRAGMA busy_timeout``, in seconds: how long a writer waits for the database.
BUSY_TIMEOUT = 10.0


def normalise_url(url: str) -> str:
    """``postgresql://`` means psycopg 3 here (the driver we ship)."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any, *, autocheckpoint: int | None = None) -> None:
    # The driver's own implicit BEGIN is switched off: SQLAlchemy's "begin" event below
    # emits BEGIN or BEGIN IMMEDIATE itself.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT * 1000)}")
    if autocheckpoint is not None:
        cursor.execute(f"PRAGMA wal_autocheckpoint={autocheckpoint}")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    mode = connection.get_execution_options().get(_BEGIN, "DEFERRED")
    connection.exec_driver_sql(f"BEGIN {mode}")


#: JSON columns (DMP resources, MSSanté headers, traces) through the services' codec: the
#: DMP decodes ten of them per search. psycopg decodes with it too (SQLAlchemy installs
#: the deserializer on each connection).
_JSON_CODEC: dict[str, Any] = {"json_serializer": jsoncodec.dumps_text, "json_deserializer": jsoncodec.loads}


def _refuse_closed_psycopg(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """The pool's ``checkout`` check of a psycopg connection, in place of ``pool_pre_ping``
    (:func:`shared.db.loop.ended_while_idle`: no round trip). Raising
    :class:`DisconnectionError` makes the pool drop the connection and check out a fresh
    one, as a failed ping does."""
    reason = ended_while_idle(getattr(dbapi_connection, "driver_connection", dbapi_connection))
    if reason is not None:
        raise DisconnectionError(reason)


#: What a PostgreSQL connection sets unless its URL says otherwise (``?options=...``).
POSTGRES_OPTIONS = "-c synchronous_commit=off"


def _postgres_durability(parsed: URL) -> dict[str, Any]:
    """PostgreSQL commits as SQLite's ``synchronous=NORMAL`` does here: without waiting for
    its WAL to reach the disk. A crash of the machine (or of PostgreSQL) may lose the last
    fraction of a second of commits (at most three ``wal_writer_delay``, 600 ms by default),
    never leave one half-written (PostgreSQL's documentation, "Asynchronous Commit"). Every
    DMP search commits its access trace: waiting for the WAL's ``fdatasync`` made its p50
    and, when the disk was slow (40-240 ms seen, ``pg_stat_activity`` in ``WALSync``), its
    p99 (README "How fast"). A URL that sets ``options`` itself keeps its own."""
    if "options" in parsed.query:
        return {}
    return {"options": POSTGRES_OPTIONS}


def sqlite_file(url: str) -> str | None:
    """The file of a SQLite database URL; ``None`` for another database or one in memory."""
    parsed = make_url(normalise_url(url))
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:") or "mode=memory" in url:
        return None
    return database


def build_engine(url: str, *, background_checkpoints: bool = False) -> Engine:
    """The engine of ``url``; with ``background_checkpoints`` (a file SQLite database), its
    connections leave the WAL's checkpoints to a :class:`~shared.db.checkpoint.Checkpointer`
    the caller runs."""
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        psycopg = parsed.get_driver_name() == "psycopg"
        engine = create_engine(
            url,
            pool_pre_ping=not psycopg,
            pool_size=10,
            max_overflow=20,
            # The connection used last first, as on SQLite below. Measured: ITI-65 at -c8
            # made 27-50 % more publications per second with 14-25 % less CPU, in 3 of 3
            # pairs; most likely because the same few server processes answer, warm,
            # instead of all the pool's in turn (not verified).
            pool_use_lifo=True,
            connect_args=_postgres_durability(parsed) if psycopg else {},
            **_JSON_CODEC,
        )
        if psycopg:
            event.listen(engine, "checkout", _refuse_closed_psycopg)
        return engine
    database = sqlite_file(url)
    in_memory = database is None
    if database is not None:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False},
        # One shared connection for an in-memory database (each new one would be empty).
        poolclass=StaticPool if in_memory else None,
        # The connection used last first: SQLite empties a connection's page cache when
        # it finds that another connection wrote since its last transaction, so that
        # handing out the pool's connections in turn (its default) made every request
        # read its pages from the file again, a write on each (a DMP search's trace)
        # being enough: ~30 reads of 4 kB per search, ~8 % of its CPU (``bench.dmp``).
        **({} if in_memory else {"pool_use_lifo": True}),
        **_JSON_CODEC,
    )
    pragmas = functools.partial(
        _sqlite_pragmas, autocheckpoint=FALLBACK_PAGES if background_checkpoints and not in_memory else None
    )
    event.listen(engine, "connect", pragmas)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


class Database:
    """An engine and its session factory; built in the service's lifespan."""

    def __init__(self, url: str) -> None:
        path = sqlite_file(url)
        self.engine = build_engine(url, background_checkpoints=path is not None)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        #: This process's SQLite writers, in turn. A plain lock, not an RLock: FastAPI may
        #: leave a session dependency in another thread of the pool than it entered it.
        self._writers = threading.Lock()
        #: The WAL's checkpoints, off the requests' threads (:mod:`shared.db.checkpoint`).
        self.checkpointer = Checkpointer(path, self._writers) if path is not None else None
        if self.checkpointer is not None:
            self.checkpointer.start()
        #: PostgreSQL's connections for the event loop (:mod:`shared.db.loop`), opened by
        #: :meth:`open_loop` in the service's lifespan.
        self._loop_pool: LoopPool | None = None

    async def open_loop(self) -> None:
        """Open the event loop's connections (PostgreSQL; nothing on SQLite), from the
        lifespan of the service whose loop will use them."""
        if self.is_sqlite or self._loop_pool is not None:
            return
        # The parameters the engine's connections get from the same URL (its query
        # included, e.g. ``options``), not the URL rendered again: libpq would read a
        # space rendered as ``+`` as a ``+``. They carry the dialect's adapters too
        # (``context``: JSON through the services' codec).
        _, parameters = self.engine.dialect.create_connect_args(self.engine.url)
        pool = LoopPool({**parameters, **_postgres_durability(self.engine.url)})
        await pool.open()
        self._loop_pool = pool

    async def close_loop(self) -> None:
        if self._loop_pool is not None:
            pool, self._loop_pool = self._loop_pool, None
            await pool.close()

    def loop_connection(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A PostgreSQL connection of the event loop for the block (:mod:`shared.db.loop`)."""
        if self._loop_pool is None:
            raise RuntimeError("the database's event-loop connections are not open (Database.open_loop)")
        return self._loop_pool.connection()

    @contextmanager
    def session(self, *, write: bool = True) -> Iterator[Session]:
        """A transaction: committed when the block ends, rolled back if it raises."""
        if write and self.is_sqlite:
            queued = self._writers.acquire(timeout=BUSY_TIMEOUT)
            try:
                with self._transaction(write=True) as session:
                    yield session
            finally:
                if queued:
                    self._writers.release()
            return
        with self._transaction(write=write) as session:
            yield session

    @contextmanager
    def _transaction(self, *, write: bool) -> Iterator[Session]:
        session = self._sessions()
        if self.is_sqlite:
            mode = "IMMEDIATE" if write else "DEFERRED"
            session.connection(execution_options={_BEGIN: mode})
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def dbapi_transaction(self) -> Iterator[Any]:
        """A write transaction on the bare DBAPI connection (sqlite3 or psycopg), for the few
        hot paths that run statements compiled once (``shared/db/prepared.py``):
        a session costs ~200 µs per transaction and ~50 µs per statement on top of SQLite's
        own ~5. Writers queue as in :meth:`session`; committed when the block ends, rolled
        back if it raises. Engine events (``before_cursor_execute``...) do not see these
        statements."""
        queued = self._writers.acquire(timeout=BUSY_TIMEOUT) if self.is_sqlite else False
        try:
            pooled = self.engine.raw_connection()
            try:
                driver: Any = pooled.driver_connection
                if self.is_sqlite:
                    driver.execute("BEGIN IMMEDIATE")
                try:
                    yield driver
                except BaseException:
                    driver.rollback()
                    raise
                driver.commit()
            finally:
                pooled.close()
        finally:
            if queued:
                self._writers.release()

    def dispose(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.stop()
        self.engine.dispose()

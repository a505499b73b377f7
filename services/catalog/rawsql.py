"""Plain SQL on the driver's connection, for the one hot path (the mesures read).

SQLAlchemy's execution costs about 0.1 ms per statement here (events, the platform's
``BEGIN`` on SQLite, result processing), the sqlite3 driver a tenth of that; the consent
check of every app read is two statements (bench/catalog.py). This module writes those
statements for the backend in use and reads their values back the way the ORM would:
SQLite keeps datetimes and dates as ISO text and JSON as text, PostgreSQL (psycopg) gives
Python objects. Nothing else in the service uses it.

On SQLite each thread keeps one driver connection for these reads instead of taking one
from the pool at every request (the checkout and its reset cost as much as the two
statements). It is safe for "revocation applies at once": the platform's SQLite
connections are in autocommit mode (``isolation_level=None``, no implicit ``BEGIN``) and
only single ``SELECT`` statements run on it, so no transaction stays open between requests
and every statement reads the last committed state (WAL). Resets and snapshot loads
replace rows in place, in the same database file.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from pydantic_core import from_json
from sqlalchemy import Engine
from sqlalchemy.pool import PoolProxiedConnection


class RawReader:
    """Reads with the driver's own connection: one per thread on SQLite, checked out of
    the engine's pool for each block on PostgreSQL."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sqlite = engine.dialect.name == "sqlite"
        self._local = threading.local()
        self._held: list[PoolProxiedConnection] = []
        self._lock = threading.Lock()

    def _thread_connection(self) -> PoolProxiedConnection:
        connection: PoolProxiedConnection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = self.engine.raw_connection()
            with self._lock:
                self._held.append(connection)
            self._local.connection = connection
        return connection

    def _drop_thread_connection(self) -> None:
        connection: PoolProxiedConnection | None = getattr(self._local, "connection", None)
        self._local.connection = None
        if connection is not None:
            with self._lock:
                if connection in self._held:
                    self._held.remove(connection)
            connection.invalidate()

    def close(self) -> None:
        """Gives back the connections the threads hold (at shutdown)."""
        with self._lock:
            held, self._held = self._held, []
        for connection in held:
            connection.close()

    def mark(self, name: str) -> str:
        """A named placeholder: ``:name`` for sqlite3, ``%(name)s`` for psycopg."""
        return f":{name}" if self.sqlite else f"%({name})s"

    @contextmanager
    def cursor(self) -> Iterator[Any]:
        """A cursor for a few ``SELECT`` statements (never a write: see the module's note)."""
        if self.sqlite:
            cursor = self._thread_connection().driver_connection.cursor()  # type: ignore[union-attr]
            failed = False
            try:
                yield cursor
            except sqlite3.Error:
                failed = True
                raise
            finally:
                cursor.close()
                if failed:
                    self._drop_thread_connection()  # a connection that failed is not kept
            return
        connection = self.engine.raw_connection()
        try:
            cursor = connection.driver_connection.cursor()  # type: ignore[union-attr]
            try:
                yield cursor
            finally:
                cursor.close()
        finally:
            connection.close()

    @staticmethod
    def rows(cursor: Any, sql: str, params: dict[str, Any]) -> list[Sequence[Any]]:
        cursor.execute(sql, params)
        return list(cursor.fetchall())

    def instant(self, value: Any) -> dt.datetime | None:
        """A ``UTCDateTime`` column: aware UTC, as the ORM gives it."""
        if value is None:
            return None
        moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
        assert isinstance(moment, dt.datetime)
        return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)

    def instant_param(self, value: dt.datetime) -> Any:
        """A datetime to compare with a ``UTCDateTime`` column (stored as naive UTC text on
        SQLite, in the format SQLAlchemy writes)."""
        utc = value.astimezone(dt.UTC)
        return utc.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f") if self.sqlite else utc

    def day(self, value: Any) -> dt.date:
        day = dt.date.fromisoformat(value) if isinstance(value, str) else value
        assert isinstance(day, dt.date)
        return day

    def document(self, value: Any) -> Any:
        """A ``JSON`` column (text on SQLite; already decoded by psycopg)."""
        # pydantic-core's parser: the same values as json.loads, in about 60 % of its time.
        return from_json(value) if self.sqlite and isinstance(value, str | bytes) else value

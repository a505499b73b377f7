"""Plain SQL on the driver's connection, for the one hot path (the mesures read).

SQLAlchemy's execution costs about 0.1 ms per statement here (events, the platform's
``BEGIN`` on SQLite, result processing), the sqlite3 driver a tenth of that; the consent
check of every app read is two statements (bench/catalog.py). This module writes those
statements for the backend in use and reads their values back the way the ORM would:
SQLite keeps datetimes and dates as ISO text and JSON as text, PostgreSQL (psycopg) gives
Python objects. Nothing else in the service uses it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine


class RawReader:
    """Reads with the driver's own connection (checked out of the engine's pool)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sqlite = engine.dialect.name == "sqlite"

    def mark(self, name: str) -> str:
        """A named placeholder: ``:name`` for sqlite3, ``%(name)s`` for psycopg."""
        return f":{name}" if self.sqlite else f"%({name})s"

    @contextmanager
    def cursor(self) -> Iterator[Any]:
        """A cursor of a pooled connection (given back, rolled back, when done)."""
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
        return json.loads(value) if self.sqlite and isinstance(value, str | bytes) else value

"""Declarative base, naming convention and portable column types.

Every service declares its own ``Base`` with :func:`make_metadata`, so that each has its
own database and its own migrations; the ``sandbox_meta`` table (seed snapshot, seeding
time) is part of every service's metadata and migrations.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Column, DateTime, Dialect, MetaData, String, Table, Text
from sqlalchemy.types import TypeDecorator

# Deterministic constraint names: Alembic can then alter them on SQLite (batch mode) and
# PostgreSQL alike.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SANDBOX_META = "sandbox_meta"


def make_metadata() -> MetaData:
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    Table(
        SANDBOX_META,
        metadata,
        Column("key", String(64), primary_key=True),
        Column("value", Text, nullable=False),
    )
    return metadata


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC datetime on every backend.

    PostgreSQL keeps the offset (``timestamptz``); SQLite stores text without one, so
    values are normalised to UTC on the way in and given back their UTC zone on the way
    out. Naive datetimes are refused: they are always a bug here.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if not isinstance(value, dt.datetime) or value.tzinfo is None:
            raise ValueError(f"UTCDateTime needs an aware datetime, got {value!r}")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)

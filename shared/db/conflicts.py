"""Telling a row refused by a given unique index from other database errors, on SQLite and
PostgreSQL alike: what a check-then-write path needs when a concurrent request wrote the
same key between its check and its write."""

from __future__ import annotations

import sqlite3

import psycopg
from sqlalchemy import Index


def unique_violation(error: BaseException, index: Index) -> bool:
    """Whether ``error`` (the driver's, or SQLAlchemy's wrapping it) is a row ``index``
    refused. PostgreSQL names the index; SQLite names its columns
    (``UNIQUE constraint failed: table.column``)."""
    cause = getattr(error, "orig", None) or error
    if isinstance(cause, psycopg.errors.UniqueViolation):
        return cause.diag.constraint_name == index.name
    if isinstance(cause, sqlite3.IntegrityError):
        table = index.table.name if index.table is not None else ""
        columns = ", ".join(f"{table}.{column.name}" for column in index.columns)
        return str(cause) == f"UNIQUE constraint failed: {columns}"
    return False

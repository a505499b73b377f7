"""Core statements compiled once for a dialect and run on a DBAPI cursor: the few hot paths
where SQLAlchemy's execution machinery costs more than the database (PSC's code exchange,
MSSanté's delivery writer).

Through a session each statement cost ~50 µs of Python before SQLite's own few
microseconds, and the transaction ~200 µs (measured on a 2.8 GHz Xeon); an executemany of
whole rows rebuilt every row's parameters and ran every column's bind processor again.
Here SQLAlchemy still writes the SQL and converts the values with the columns' own bind
and result processors (public ``TypeEngine.dialect_impl(...)``), so that ``UTCDateTime``,
JSON and binary columns read and write exactly as through Core and the ORM, on SQLite and
PostgreSQL alike; only its execution machinery is left out. Run them on
:meth:`shared.db.engine.Database.dbapi_transaction`'s connection or with
``Connection.exec_driver_sql``.
"""

from __future__ import annotations

import copy
import weakref
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache, partial
from typing import Any, Generic, TypeVar, cast

import psycopg
from sqlalchemy import Connection, Select, Table, bindparam, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

Processor = Callable[[Any], Any] | None
Parameters = tuple[Any, ...] | dict[str, Any]
S = TypeVar("S")


class Prepared:
    """One statement: its SQL for the dialect, its parameters in order, its columns."""

    def __init__(
        self, statement: ClauseElement, dialect: Dialect, *, column_keys: Sequence[str] | None = None
    ) -> None:
        compiled = cast(
            SQLCompiler,
            statement.compile(dialect=dialect, column_keys=list(column_keys) if column_keys else None),
        )
        self.sql = compiled.string
        #: The driver takes a tuple in the statement's order (SQLite's ``qmark``), else a
        #: mapping (psycopg's ``pyformat``).
        self.positional = compiled.positional
        binds = compiled.binds
        self.names: tuple[str, ...] = (
            tuple(compiled.positiontup or ()) if compiled.positional else tuple(binds)
        )
        self._binds: list[tuple[str, Processor]] = [
            (name, binds[name].type.dialect_impl(dialect).bind_processor(dialect)) for name in self.names
        ]
        if isinstance(statement, Select):
            columns = statement.selected_columns
            self._row = namedtuple("Row", list(columns.keys()))  # type: ignore[misc]
            results = [c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns]
            #: The columns to convert, by position: psycopg already gives most values as
            #: Python's (JSON and booleans included), SQLite not.
            self._results: list[tuple[int, Callable[[Any], Any]]] = [
                (index, process) for index, process in enumerate(results) if process is not None
            ]

    @classmethod
    def insert_into(cls, table: Table, dialect: Dialect) -> Prepared:
        """``INSERT INTO table (every column) VALUES (...)``, for rows giving every column."""
        return cls(insert(table), dialect, column_keys=[c.key for c in table.columns])

    def parameters(self, values: Mapping[str, Any], memo: dict[int, Any] | None = None) -> Parameters:
        """The DBAPI parameters; every bind must be given (a missing one raises KeyError).
        With ``memo``, a value object given again (the copies of one message share their
        recipients) is converted once."""
        converted: list[Any] = []
        for name, process in self._binds:
            value = values[name]
            if process is not None:
                if memo is None:
                    value = process(value)
                elif id(value) in memo:
                    value = memo[id(value)]
                else:
                    value = memo[id(value)] = process(value)
            converted.append(value)
        return tuple(converted) if self.positional else dict(zip(self.names, converted, strict=True))

    def many(self, rows: Sequence[Mapping[str, Any]]) -> list[Parameters]:
        """The parameters of an ``executemany``; shared values converted once per call."""
        memo: dict[int, Any] = {}  # id(value) -> converted; the rows keep the values alive
        return [self.parameters(row, memo) for row in rows]

    def execute(self, cursor: Any, values: Mapping[str, Any]) -> int:
        """Run it; the number of rows an INSERT, UPDATE or DELETE touched."""
        cursor.execute(self.sql, self.parameters(values))
        count: int = cursor.rowcount
        return count

    def first(self, cursor: Any, values: Mapping[str, Any]) -> Any | None:
        """The first row of a SELECT with its columns by name, converted, or ``None``."""
        cursor.execute(self.sql, self.parameters(values))
        raw = cursor.fetchone()
        if raw is None:
            return None
        return self._convert(raw)

    def all(self, cursor: Any, values: Mapping[str, Any]) -> list[Any]:
        """Every row of a SELECT, as :meth:`first` gives one."""
        cursor.execute(self.sql, self.parameters(values))
        return self.convert(cursor.fetchall())

    def convert(self, raw_rows: Sequence[Sequence[Any]]) -> list[Any]:
        """Rows the driver gave for this SELECT, as :meth:`first` gives one (rows fetched
        by an asynchronous cursor: ``convert(await cursor.fetchall())``)."""
        return [self._convert(raw) for raw in raw_rows]

    def _convert(self, raw: Sequence[Any]) -> Any:
        if not self._results:
            return self._row(*raw)
        values = list(raw)
        for index, process in self._results:
            values[index] = process(values[index])
        return self._row(*values)


class PreparedInsert:
    """``INSERT INTO table (every column) VALUES (...)`` for rows that give every column,
    compiled once per dialect and run by the driver's ``executemany``."""

    def __init__(self, table: Table) -> None:
        self._compiled: PerDialect[Prepared] = PerDialect(partial(Prepared.insert_into, table))

    def execute(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        prepared = self._compiled(connection.dialect)
        connection.exec_driver_sql(prepared.sql, prepared.many(rows))


class InsertChain:
    """Rows of several tables written by one PostgreSQL statement: every INSERT but the last
    in a data-modifying ``WITH`` (PostgreSQL's documentation, "Data-Modifying Statements in
    WITH"), each row giving every column of its table.

    A statement is a transaction of its own in autocommit (:mod:`shared.db.steps`):
    all the rows or none, in one round trip, and psycopg's per-statement machinery run once
    instead of for BEGIN, each INSERT and COMMIT: four INSERTs cost its client ~120 µs of
    CPU instead of ~340 in pipeline mode (a micro-benchmark on the 2-vCPU EPYC, 2,000 runs
    of each). The foreign keys between the rows are checked at the statement's end, when
    they all exist. PostgreSQL only: SQLite has no data-modifying ``WITH``. A statement is
    compiled per sequence of tables, the last :data:`SHAPES` kept."""

    SHAPES = 32

    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect
        self.compiled = lru_cache(maxsize=self.SHAPES)(self._compile)

    def bind(self, rows: Sequence[tuple[Table, Mapping[str, Any]]]) -> tuple[Prepared, dict[str, Any]]:
        """The statement writing ``rows`` and its values by bind name: run it with
        ``prepared.execute(cursor, values)``, or on an asynchronous cursor with
        ``execute(prepared.sql, prepared.parameters(values))``."""
        prepared = self.compiled(tuple(table for table, _ in rows))
        values = {
            f"r{index}_{key}": value for index, (_, row) in enumerate(rows) for key, value in row.items()
        }
        return prepared, values

    def _compile(self, tables: tuple[Table, ...]) -> Prepared:
        def row(index: int, table: Table) -> Any:
            binds = {c.key: bindparam(f"r{index}_{c.key}", type_=c.type) for c in table.columns}
            return insert(table).values(binds)

        *first, last = tables
        statement = row(len(first), last)
        for index, table in enumerate(first):
            statement = statement.add_cte(row(index, table).cte(f"row{index}"))
        return Prepared(statement, self._dialect)


class PerDialect(Generic[S]):
    """What ``build`` makes for a dialect (a set of :class:`Prepared` statements), made once
    per dialect: one process may hold several engines (the tests run every service in one)."""

    def __init__(self, build: Callable[[Dialect], S]) -> None:
        self._build = build
        self._made: weakref.WeakKeyDictionary[Dialect, S] = weakref.WeakKeyDictionary()

    def __call__(self, dialect: Dialect) -> S:
        made = self._made.get(dialect)
        if made is None:
            made = self._made[dialect] = self._build(dialect)
        return made


def _native(dialect: Dialect) -> Dialect:
    if dialect.driver != "psycopg":
        return dialect
    numeric = copy.copy(dialect)  # the same types and processors: only the placeholders differ
    numeric.paramstyle, numeric.positional = "numeric_dollar", True
    return numeric


#: The dialect to compile statements for a :func:`native_cursor`: on psycopg, PostgreSQL's
#: own placeholders (``$1``...), which its raw cursors send as they are; other dialects as
#: they are (sqlite3 hands its ``?`` to SQLite untouched). A ``%(name)s`` statement is
#: rewritten into ``$n`` by psycopg in Python at every run, except those of fewer than
#: 4,096 characters and 51 parameters, which it caches: ITI-65's one statement of four
#: INSERTs (~7 kB, ~80 parameters) was parsed anew for each publication.
native_dialect: PerDialect[Dialect] = PerDialect(_native)


def native_cursor(connection: Any) -> Any:
    """A cursor of the DBAPI ``connection`` for statements compiled for
    :data:`native_dialect`: psycopg's raw cursor, or the connection's own."""
    if isinstance(connection, psycopg.Connection):
        return psycopg.RawCursor(connection)
    return connection.cursor()

"""Core statements compiled once for a dialect and run on a bare DBAPI cursor.

The code exchange runs four statements in one transaction; through SQLAlchemy's session
each cost ~50 µs of Python before SQLite's own few microseconds, and the transaction
~200 µs (measured on a 2.8 GHz Xeon). Here SQLAlchemy still writes the SQL and converts
the values (its bind and result processors, so ``UTCDateTime`` and JSON columns read and
write exactly as through the ORM, on SQLite and PostgreSQL alike); only its execution
machinery is left out. Used with :meth:`shared.db.engine.Database.dbapi_transaction`.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Mapping
from typing import Any, cast

from sqlalchemy import Select
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.types import TypeEngine

Processor = Callable[[Any], Any] | None


class Prepared:
    """One statement: its SQL for the dialect, its parameters in order, its columns."""

    def __init__(self, statement: ClauseElement, dialect: Dialect) -> None:
        compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
        self.sql = compiled.string
        self.positional = compiled.positional
        binds = compiled.binds
        names = list(compiled.positiontup or ()) if compiled.positional else list(binds)
        self._binds: list[tuple[str, Processor]] = [
            (name, _bind_processor(binds[name].type, dialect)) for name in names
        ]
        if isinstance(statement, Select):
            columns = statement.selected_columns
            self._row = namedtuple("Row", list(columns.keys()))  # type: ignore[misc]
            self._results: list[Processor] = [_result_processor(c.type, dialect) for c in columns]

    def parameters(self, values: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        """The DBAPI parameters; every bind must be given (a missing one raises KeyError)."""
        converted = [(name, values[name] if p is None else p(values[name])) for name, p in self._binds]
        if self.positional:
            return tuple(value for _name, value in converted)
        return dict(converted)

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
        return self._row(*(v if p is None else p(v) for v, p in zip(raw, self._results, strict=True)))


def _bind_processor(type_: TypeEngine[Any], dialect: Dialect) -> Processor:
    return type_.dialect_impl(dialect).bind_processor(dialect)


def _result_processor(type_: TypeEngine[Any], dialect: Dialect) -> Processor:
    return type_.dialect_impl(dialect).result_processor(dialect, None)

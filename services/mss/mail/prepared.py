"""An ``INSERT`` of whole rows compiled once per dialect and run by the driver's
``executemany``: the delivery writer's hot path.

Why not ``connection.execute(insert(Message), rows)``: for each row of each batch,
SQLAlchemy's Core builds the parameters anew (``construct_params``), looks up and runs
each column's bind processor, and serialises every JSON value; for a small message that
was most of the cost of storing it, far more than SQLite's own. Here the statement text
and the columns' bind processors (public ``TypeEngine.dialect_impl(...).bind_processor``, so every type
is stored exactly as Core stores it: ``UTCDateTime`` normalised to UTC, JSON serialised
by the dialect's serialiser...) are computed once per dialect, and a value shared by
several rows (the copies of one message share their recipients and attachments) is
processed once per call.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Table, insert
from sqlalchemy.engine import Dialect


@dataclass(frozen=True)
class _Compiled:
    sql: str
    #: The row keys in the statement's order.
    keys: tuple[str, ...]
    #: The driver takes a tuple in that order (SQLite's ``qmark``), else a mapping
    #: (psycopg's ``pyformat``).
    positional: bool
    values: Callable[[dict[str, Any]], tuple[Any, ...]]
    #: (index in ``keys``, bind processor) of the columns whose type has one.
    processors: tuple[tuple[int, Callable[[Any], Any]], ...]


class PreparedInsert:
    """``INSERT INTO table (every column) VALUES (...)`` for rows that give every column."""

    def __init__(self, table: Table) -> None:
        self._table = table
        self._compiled: weakref.WeakKeyDictionary[Dialect, _Compiled] = weakref.WeakKeyDictionary()

    def execute(self, connection: Connection, rows: Sequence[dict[str, Any]]) -> None:
        compiled = self._compiled.get(connection.dialect)
        if compiled is None:
            compiled = self._compiled[connection.dialect] = self._compile(connection.dialect)
        processed: dict[int, Any] = {}  # id(value) -> its processed form, for this call
        params: list[Any] = []
        for row in rows:
            values = list(compiled.values(row))
            for index, process in compiled.processors:
                value = values[index]
                if value is not None:
                    found = processed.get(id(value))
                    if found is None:
                        found = processed[id(value)] = process(value)
                    values[index] = found
            params.append(
                tuple(values) if compiled.positional else dict(zip(compiled.keys, values, strict=True))
            )
        connection.exec_driver_sql(compiled.sql, params)

    def _compile(self, dialect: Dialect) -> _Compiled:
        columns = list(self._table.columns)
        compiled = insert(self._table).compile(dialect=dialect, column_keys=[c.key for c in columns])
        keys = tuple(compiled.positiontup or ()) if compiled.positional else tuple(c.key for c in columns)
        types = {c.key: c.type for c in columns}
        processors: list[tuple[int, Callable[[Any], Any]]] = []
        for index, key in enumerate(keys):
            process = types[key].dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                processors.append((index, process))
        return _Compiled(compiled.string, keys, compiled.positional, itemgetter(*keys), tuple(processors))

"""Portable JSON snapshots of a service's whole state (``/_sandbox/snapshot``).

A snapshot is ``{"service", "schema", "tables": {name: [row, ...]}}`` with every value in
plain JSON: datetimes in ISO 8601, bytes in base64, JSON columns as they are. The column
types of the service's metadata say how to read each value back, so a snapshot taken on
SQLite loads on PostgreSQL and the other way round. Loading is one transaction: the
tables are emptied and refilled, or nothing changes.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    Table,
    Uuid,
    delete,
    func,
    select,
    text,
)
from sqlalchemy.engine import Connection
from sqlalchemy.types import TypeDecorator, TypeEngine

from shared.db.base import SANDBOX_META
from shared.errors import UnprocessableError

FORMAT = "mes-sandbox-snapshot/1"

Rows = dict[str, list[dict[str, Any]]]


def _base_type(column: Column[Any]) -> TypeEngine[Any]:
    kind: TypeEngine[Any] = column.type
    while isinstance(kind, TypeDecorator):
        kind = kind.impl if isinstance(kind.impl, TypeEngine) else kind.impl()
    return kind


def _encode(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if hasattr(value, "value") and not isinstance(value, dict | list | str | int | float | bool):
        return value.value  # enum members
    return value


def _decode(column: Column[Any], value: Any) -> Any:
    if value is None:
        return None
    kind = _base_type(column)
    try:
        if isinstance(kind, DateTime):
            parsed = dt.datetime.fromisoformat(value)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
        if isinstance(kind, Date):
            return dt.date.fromisoformat(value)
        if isinstance(kind, LargeBinary):
            return base64.b64decode(value)
        if isinstance(kind, Uuid):
            return uuid.UUID(str(value))
        if isinstance(kind, Numeric) and not isinstance(kind, Float):
            return decimal.Decimal(str(value))
        if isinstance(kind, Boolean):
            return bool(value)
        if isinstance(kind, Integer):
            return int(value)
    except (TypeError, ValueError) as exc:
        raise UnprocessableError(
            f"snapshot value for {column.table.name}.{column.name} is not a {kind}: {value!r}"
        ) from exc
    return value


def data_tables(metadata: MetaData) -> list[Table]:
    """The tables a snapshot carries, parents before children."""
    return [t for t in metadata.sorted_tables if t.name != SANDBOX_META]


def export_rows(connection: Connection, metadata: MetaData) -> Rows:
    rows: Rows = {}
    for table in data_tables(metadata):
        order = list(table.primary_key.columns) or list(table.columns)
        result = connection.execute(select(table).order_by(*order))
        rows[table.name] = [{key: _encode(value) for key, value in row._mapping.items()} for row in result]
    return rows


def decode_rows(metadata: MetaData, tables: dict[str, Any]) -> Rows:
    """Check a snapshot's tables against the schema and turn its values back into Python."""
    if not isinstance(tables, dict):
        raise UnprocessableError("snapshot 'tables' must be an object of table name → rows")
    known = {t.name: t for t in data_tables(metadata)}
    unknown = sorted(set(tables) - set(known))
    if unknown:
        raise UnprocessableError(f"snapshot has tables this service does not know: {', '.join(unknown)}")
    decoded: Rows = {}
    for name, table in known.items():
        raw_rows = tables.get(name, [])
        if not isinstance(raw_rows, list):
            raise UnprocessableError(f"snapshot table '{name}' must be a list of rows")
        columns = {c.name: c for c in table.columns}
        out = []
        for index, raw in enumerate(raw_rows):
            if not isinstance(raw, dict):
                raise UnprocessableError(f"snapshot row {name}[{index}] must be an object")
            extra = set(raw) - set(columns)
            if extra:
                raise UnprocessableError(
                    f"snapshot row {name}[{index}] has unknown columns: {', '.join(sorted(extra))}"
                )
            out.append({key: _decode(columns[key], value) for key, value in raw.items()})
        decoded[name] = out
    return decoded


def replace_rows(connection: Connection, metadata: MetaData, rows: Rows) -> None:
    """Empty every data table and insert ``rows`` (in the caller's transaction)."""
    tables = data_tables(metadata)
    for table in reversed(tables):
        connection.execute(delete(table))
    for table in tables:
        table_rows = rows.get(table.name)
        if table_rows:
            connection.execute(table.insert(), table_rows)
    if connection.dialect.name == "postgresql":
        _resync_sequences(connection, tables)


def _resync_sequences(connection: Connection, tables: Iterable[Table]) -> None:
    """Inserting explicit ids leaves PostgreSQL's serial sequences behind: move them on."""
    for table in tables:
        for column in table.primary_key.columns:
            if not isinstance(_base_type(column), Integer) or column.autoincrement is False:
                continue
            sequence = connection.execute(
                text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table.name, "c": column.name}
            ).scalar()
            if not sequence:
                continue
            highest = connection.execute(select(func.max(column))).scalar()
            if highest is None:
                connection.execute(text("SELECT setval(:s, 1, false)"), {"s": sequence})
            else:
                connection.execute(text("SELECT setval(:s, :v)"), {"s": sequence, "v": highest})


def build_snapshot(service: str, schema: str | None, rows: Rows) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "service": service,
        "schema": schema,
        "exported_at": dt.datetime.now(dt.UTC).isoformat(),
        "tables": rows,
    }


def check_snapshot(snapshot: Any, service: str, schema: str | None) -> dict[str, Any]:
    """The snapshot's ``tables`` once its header matches this service and schema."""
    if not isinstance(snapshot, dict) or "tables" not in snapshot:
        raise UnprocessableError("not a mes-sandbox snapshot: expected an object with 'tables'")
    if snapshot.get("format", FORMAT) != FORMAT:
        raise UnprocessableError(f"unknown snapshot format {snapshot.get('format')!r} (expected {FORMAT})")
    if snapshot.get("service") not in (None, service):
        raise UnprocessableError(f"this snapshot is of service '{snapshot['service']}', not of '{service}'")
    if snapshot.get("schema") not in (None, schema):
        raise UnprocessableError(
            f"this snapshot has schema revision {snapshot['schema']!r}; this service is at "
            f"{schema!r}: load it into the same version of mes-sandbox"
        )
    tables: dict[str, Any] = snapshot["tables"]
    return tables


# JSON columns need no conversion but are listed so readers see all types were considered.
_PASSTHROUGH = (JSON,)

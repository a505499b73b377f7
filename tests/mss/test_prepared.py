"""The prepared INSERT stores every type exactly as SQLAlchemy's Core INSERT does."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import JSON, Boolean, Column, Integer, LargeBinary, MetaData, String, Table, insert, text

from shared.db.base import UTCDateTime
from shared.db.engine import Database
from shared.db.prepared import PreparedInsert
from tests.support import postgres_admin_url

pytestmark = pytest.mark.db


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    database = Database(postgres_admin_url() or f"sqlite:///{tmp_path / 'prepared.db'}")
    yield database
    database.dispose()


def test_rows_read_back_the_same_as_core_s(database: Database) -> None:
    table = Table(
        f"prepared_{uuid.uuid4().hex[:8]}",
        MetaData(),
        Column("id", String(36), primary_key=True),
        Column("to", JSON),  # a reserved word in PostgreSQL: quoted by the compiler
        Column("cc", JSON),
        Column("raw", LargeBinary),
        Column("size", Integer),
        Column("at", UTCDateTime()),
        Column("seen", Boolean),
        Column("note", String(20), nullable=True),
    )
    table.create(database.engine)
    try:
        recipients = ["karim@example.org", "é@example.org"]
        at = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=2)))
        row = {
            "to": recipients,
            "cc": [],
            "raw": b"\x00\xff",
            "size": 2,
            "at": at,
            "seen": True,
            "note": None,
        }
        with database.session() as session:
            session.connection().execute(insert(table), [{"id": "core", **row}])
            # Two rows sharing their values: each shared value is processed once.
            PreparedInsert(table).execute(session.connection(), [{"id": "p1", **row}, {"id": "p2", **row}])
        with database.session(write=False) as session:
            rows = {r.id: r._asdict() for r in session.execute(table.select())}
            stored = {
                r[0]: tuple(r[1:])
                for r in session.execute(text(f'SELECT id, "to", at, seen FROM {table.name}'))
            }
        core = rows.pop("core")
        assert rows == {"p1": {**core, "id": "p1"}, "p2": {**core, "id": "p2"}}
        assert core["at"] == at and core["to"] == recipients and core["raw"] == b"\x00\xff"
        assert stored["p1"] == stored["p2"] == stored["core"]  # the very same stored text
    finally:
        table.drop(database.engine)


def test_copy_ids_are_version_7_uuids_that_grow_with_time() -> None:
    import time

    from services.mss.mail.delivery import copy_id

    first = copy_id()
    time.sleep(0.002)
    second = copy_id()
    assert uuid.UUID(first).version == uuid.UUID(second).version == 7
    assert uuid.UUID(first).variant == uuid.RFC_4122
    assert first < second and len({copy_id() for _ in range(1000)}) == 1000

"""The code exchange's statements compiled once and run on the bare DBAPI connection: they
read and write what the ORM does (aware UTC datetimes, JSON), and a failed block leaves
nothing behind."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import insert

from services.psc_auth.models import Base, PscSession
from services.psc_auth.reading import SELECT_SESSION, SESSIONS
from shared.db.engine import Database
from shared.db.prepared import Prepared

pytestmark = pytest.mark.db

WHEN = dt.datetime(2026, 5, 9, 12, 30, 15, 250000, tzinfo=dt.UTC)
ROW = {
    "id": "s-1",
    "professional_id": "jeanne-martin",
    "auth_mode": "CARD",
    "amr": ["sc", "pin"],
    "auth_time": WHEN,
    "expires_at": WHEN + dt.timedelta(hours=10),
    "ended_at": None,
}


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'psc.db'}")
    Base.metadata.create_all(database.engine)
    yield database
    database.dispose()


def test_rows_written_raw_read_back_by_the_orm(db: Database) -> None:
    statement = Prepared(insert(SESSIONS), db.engine.dialect)
    with db.dbapi_transaction() as connection:
        assert statement.execute(connection.cursor(), ROW) == 1
    with db.session(write=False) as session:
        stored = session.get(PscSession, "s-1")
        assert stored is not None
        assert (stored.amr, stored.auth_time, stored.ended_at) == (["sc", "pin"], WHEN, None)


def test_rows_written_by_the_orm_read_back_raw(db: Database) -> None:
    with db.session() as session:
        session.add(PscSession(**ROW))
    select_session = Prepared(SELECT_SESSION, db.engine.dialect)
    with db.dbapi_transaction() as connection:
        row = select_session.first(connection.cursor(), {"sid": "s-1"})
        assert select_session.first(connection.cursor(), {"sid": "nobody"}) is None
    assert row is not None
    assert row._asdict() == ROW
    assert row.auth_time.tzinfo is dt.UTC


def test_a_failed_block_is_rolled_back(db: Database) -> None:
    statement = Prepared(insert(SESSIONS), db.engine.dialect)

    def write_then_fail() -> None:
        with db.dbapi_transaction() as connection:
            statement.execute(connection.cursor(), ROW)
            raise RuntimeError("after the write")

    with pytest.raises(RuntimeError):
        write_then_fail()
    with db.session(write=False) as session:
        assert session.get(PscSession, "s-1") is None


def test_every_parameter_is_required(db: Database) -> None:
    statement = Prepared(insert(SESSIONS), db.engine.dialect)
    with pytest.raises(KeyError), db.dbapi_transaction() as connection:
        statement.execute(connection.cursor(), {k: v for k, v in ROW.items() if k != "ended_at"})

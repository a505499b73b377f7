"""Snapshots carry every column type across backends (SQLite ⇄ PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import uuid
from pathlib import Path

import pytest
from sqlalchemy import JSON, Boolean, Date, ForeignKey, Integer, LargeBinary, Numeric, String, Uuid, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db.base import UTCDateTime, make_metadata
from shared.db.engine import Database
from shared.db.snapshot import decode_rows, export_rows, replace_rows
from tests.platform.dbs import database_kinds, scratch_database

pytestmark = pytest.mark.db


class Base(DeclarativeBase):
    metadata = make_metadata()


class Parent(Base):
    __tablename__ = "parents"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(20))


class Thing(Base):
    __tablename__ = "things"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    parent_id: Mapped[int] = mapped_column(Integer, ForeignKey("parents.id"))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    day: Mapped[dt.date] = mapped_column(Date)
    blob: Mapped[bytes] = mapped_column(LargeBinary)
    doc: Mapped[dict] = mapped_column(JSON)  # type: ignore[type-arg]
    flag: Mapped[bool] = mapped_column(Boolean)
    amount: Mapped[decimal.Decimal] = mapped_column(Numeric(10, 2))
    uid: Mapped[uuid.UUID] = mapped_column(Uuid)
    note: Mapped[str | None] = mapped_column(String(50), nullable=True)


def _fill(db: Database) -> None:
    with db.session() as session:
        session.add(Parent(id=1, name="p"))
        session.flush()
        session.add(
            Thing(
                parent_id=1,
                at=dt.datetime(2026, 11, 23, 10, 30, 1, 5, tzinfo=dt.timezone(dt.timedelta(hours=1))),
                day=dt.date(2026, 1, 2),
                blob=b"\x00\xffPDF",
                doc={"a": [1, "é"], "b": None},
                flag=True,
                amount=decimal.Decimal("12.50"),
                uid=uuid.UUID(int=7),
                note=None,
            )
        )


@pytest.mark.parametrize("target", database_kinds())
@pytest.mark.parametrize("source", database_kinds())
def test_round_trip_across_backends(tmp_path: Path, source: str, target: str) -> None:
    with scratch_database(tmp_path, source) as src_url, scratch_database(tmp_path, target) as dst_url:
        src, dst = Database(src_url), Database(dst_url)
        try:
            for db in (src, dst):
                Base.metadata.create_all(db.engine)
            _fill(src)
            with src.session(write=False) as session:
                exported = export_rows(session.connection(), Base.metadata)
            wire = json.loads(json.dumps(exported))  # what travels over HTTP
            with dst.session() as session:
                replace_rows(session.connection(), Base.metadata, decode_rows(Base.metadata, wire))
            with dst.session(write=False) as session:
                thing = session.scalars(select(Thing)).one()
                assert thing.at == dt.datetime(2026, 11, 23, 9, 30, 1, 5, tzinfo=dt.UTC)
                assert (thing.day, thing.blob, thing.doc) == (
                    dt.date(2026, 1, 2),
                    b"\x00\xffPDF",
                    {"a": [1, "é"], "b": None},
                )
                assert (thing.flag, thing.amount, thing.uid, thing.note) == (
                    True,
                    decimal.Decimal("12.50"),
                    uuid.UUID(int=7),
                    None,
                )
                assert export_rows(session.connection(), Base.metadata) == exported
            # After explicit ids were loaded, the next generated id does not collide.
            with dst.session() as session:
                session.add(Parent(name="next"))
                session.flush()
                assert [p.id for p in session.scalars(select(Parent).order_by(Parent.id))] == [1, 2]
        finally:
            src.dispose()
            dst.dispose()


def test_utc_datetime_refuses_naive_values(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path}/naive.db")
    Base.metadata.create_all(db.engine)
    naive = Parent(id=1, name="p")
    try:
        with db.session() as session:
            session.add(naive)
            session.flush()
            thing = Thing(
                parent_id=1,
                at=dt.datetime(2026, 1, 1),
                day=dt.date.today(),
                blob=b"",
                doc={},
                flag=False,
                amount=decimal.Decimal(0),
                uid=uuid.uuid4(),
            )
            session.add(thing)
            with pytest.raises(Exception, match="aware datetime"):
                session.flush()
            session.rollback()
    finally:
        db.dispose()

"""``shared/db/roundtrips.py`` on PostgreSQL: a pipelined transaction is one round trip and
all or nothing, and the connection goes back to the pool as it came."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.pq import TransactionStatus

from shared.db.engine import Database
from shared.db.roundtrips import pipelined_transaction, statement_by_statement
from tests.platform.dbs import POSTGRES_ONLY, scratch_postgres

pytestmark = POSTGRES_ONLY


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    with scratch_postgres(tmp_path) as database:
        with database.dbapi_transaction() as connection:
            connection.execute("CREATE TABLE rows (id integer PRIMARY KEY, label text NOT NULL)")
        yield database


def _labels(db: Database) -> list[str]:
    with db.dbapi_transaction() as connection:
        return [row[0] for row in connection.execute("SELECT label FROM rows ORDER BY id")]


def _insert(connection: Any, key: int, label: str) -> None:
    connection.cursor().execute("INSERT INTO rows (id, label) VALUES (%s, %s)", (key, label))


class Injected(Exception):
    pass


def test_the_writes_are_sent_with_begin_and_commit_in_one_round_trip(db: Database, tmp_path: Path) -> None:
    trace = tmp_path / "libpq.trace"
    with trace.open("w") as sink, db.dbapi_transaction() as connection:
        with statement_by_statement(connection, False):
            connection.pgconn.trace(sink.fileno())
            with pipelined_transaction(connection, False):
                _insert(connection, 1, "one")
                _insert(connection, 2, "two")
            connection.pgconn.untrace()
        assert connection.autocommit is False
    sent = [line.split("\t") for line in trace.read_text().splitlines() if "\tF\t" in line]
    kinds = [fields[3] for fields in sent]
    # One Sync, after everything: the server answered once.
    assert kinds.count("Sync") == 1, kinds
    assert kinds.index("Sync") > max(i for i, kind in enumerate(kinds) if kind == "Execute"), kinds
    statements = [fields[-1] for fields in sent if fields[3] == "Parse"]
    assert [s.split('"')[3].split(" ")[0] for s in statements] == ["BEGIN", "INSERT", "INSERT", "COMMIT"]
    assert _labels(db) == ["one", "two"]


def _write(db: Database, rows: list[tuple[int, str]], *, fail_after: int | None = None) -> Any:
    """``rows`` in one pipelined transaction (an exception raised after ``fail_after`` of
    them, as an injected fault would); the connection used."""
    with (
        db.dbapi_transaction() as connection,
        statement_by_statement(connection, False),
        pipelined_transaction(connection, False),
    ):
        for index, (key, label) in enumerate(rows):
            if index == fail_after:
                raise Injected
            _insert(connection, key, label)
    return connection


def test_a_failing_statement_leaves_nothing_and_the_connection_clean(db: Database) -> None:
    with pytest.raises(psycopg.errors.UniqueViolation):
        _write(db, [(1, "one"), (1, "again"), (3, "three")])
    connection = _write(db, [])
    assert connection.info.transaction_status == TransactionStatus.IDLE
    assert connection.autocommit is False
    assert _labels(db) == []


def test_an_exception_in_the_block_leaves_nothing(db: Database) -> None:
    with pytest.raises(Injected):
        _write(db, [(1, "one"), (2, "two")], fail_after=1)
    assert _labels(db) == []
    # The pool's next user gets a working connection in a transaction of its own.
    with db.session() as session:
        session.connection().exec_driver_sql("INSERT INTO rows (id, label) VALUES (4, 'four')")
    assert _labels(db) == ["four"]


def _chain_tables() -> tuple[Any, Any]:
    from sqlalchemy import Column, ForeignKey, Integer, LargeBinary, MetaData, Table, Text

    metadata = MetaData()
    parents = Table("parents", metadata, Column("id", Integer, primary_key=True), Column("body", LargeBinary))
    children = Table(
        "children",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("parent_id", Integer, ForeignKey("parents.id"), nullable=False),
        Column("label", Text, nullable=False),
    )
    return metadata, (parents, children)


def test_an_insert_chain_is_one_statement_and_its_foreign_keys_hold(db: Database, tmp_path: Path) -> None:
    from shared.db.prepared import InsertChain

    metadata, (parents, children) = _chain_tables()
    metadata.create_all(db.engine)
    chain = InsertChain(db.engine.dialect)
    trace = tmp_path / "libpq.trace"
    with (
        trace.open("w") as sink,
        db.dbapi_transaction() as connection,
        statement_by_statement(connection, False),
    ):
        connection.pgconn.trace(sink.fileno())
        # The children name a parent written by the same statement.
        chain.execute(
            connection.cursor(),
            [
                (parents, {"id": 1, "body": b"\x00\xffpdf"}),
                (children, {"id": 10, "parent_id": 1, "label": "first"}),
                (children, {"id": 11, "parent_id": 1, "label": "second"}),
            ],
        )
        connection.pgconn.untrace()
    sent = [line.split("\t") for line in trace.read_text().splitlines() if "\tF\t" in line]
    assert [fields[3] for fields in sent].count("Sync") == 1
    parsed = [fields[-1] for fields in sent if fields[3] in ("Parse", "Query")]
    assert len(parsed) == 1 and '"WITH row0 AS' in parsed[0], parsed
    with db.dbapi_transaction() as connection:
        assert connection.execute("SELECT body FROM parents").fetchall() == [(b"\x00\xffpdf",)]
        assert connection.execute("SELECT id, label FROM children ORDER BY id").fetchall() == [
            (10, "first"),
            (11, "second"),
        ]


def test_an_insert_chain_writes_all_its_rows_or_none(db: Database) -> None:
    from shared.db.prepared import InsertChain

    metadata, (parents, children) = _chain_tables()
    metadata.create_all(db.engine)
    chain = InsertChain(db.engine.dialect)
    for failing in (
        [(parents, {"id": 1, "body": b""}), (children, {"id": 10, "parent_id": 2, "label": "no parent"})],
        [(parents, {"id": 1, "body": b""}), (parents, {"id": 1, "body": b"again"})],
    ):
        with (
            pytest.raises(psycopg.errors.IntegrityError),
            db.dbapi_transaction() as connection,
            statement_by_statement(connection, False),
        ):
            chain.execute(connection.cursor(), failing)
        with db.dbapi_transaction() as connection:
            assert connection.execute("SELECT count(*) FROM parents").fetchone() == (0,)
    # A statement per sequence of tables, the last SHAPES of them kept.
    shapes = [(parents,) * n for n in range(1, InsertChain.SHAPES + 5)]
    for index, shape in enumerate(shapes):
        with db.dbapi_transaction() as connection, statement_by_statement(connection, False):
            chain.execute(
                connection.cursor(), [(t, {"id": 1000 * index + n, "body": b""}) for n, t in enumerate(shape)]
            )
    assert chain.compiled.cache_info().currsize == InsertChain.SHAPES
    hits = chain.compiled.cache_info().hits
    chain.compiled(shapes[-1])  # the newest is kept
    assert chain.compiled.cache_info().hits == hits + 1
    chain.compiled(shapes[0])  # the oldest was dropped
    assert chain.compiled.cache_info().hits == hits + 1


def _wide_table() -> tuple[Any, Any]:
    """A table of 60 columns: an INSERT of every column is past one of psycopg's limits for
    caching its rewrite of ``%(name)s`` placeholders (50 parameters; 4,096 characters)."""
    from sqlalchemy import JSON, Column, DateTime, Integer, MetaData, Table, Text

    metadata = MetaData()
    columns = [Column(f"a_rather_long_column_name_{n:02d}", Text) for n in range(57)]
    wide = Table(
        "wide",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("at", DateTime(timezone=True)),
        Column("doc", JSON),
        *columns,
    )
    return metadata, wide


def test_native_statements_reach_postgresql_as_compiled(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import datetime as dt

    from sqlalchemy import bindparam, insert, select

    from shared.db.prepared import Prepared, native_cursor, native_dialect

    metadata, wide = _wide_table()
    metadata.create_all(db.engine)
    dialect = native_dialect(db.engine.dialect)
    assert dialect is native_dialect(db.engine.dialect) and dialect is not db.engine.dialect
    write = Prepared(insert(wide), dialect, column_keys=[c.key for c in wide.columns])
    assert len(write.names) == 60 and "$60" in write.sql
    # The same name twice is one parameter.
    read = Prepared(
        select(wide.c.id, wide.c.at, wide.c.doc).where(
            wide.c.id == bindparam("key"), wide.c.id >= bindparam("key")
        ),
        dialect,
    )
    assert read.sql.count("$1") == 2 and "$2" not in read.sql
    at = dt.datetime(2026, 12, 3, 14, 0, tzinfo=dt.UTC)
    values = {c.key: f"v{n}" for n, c in enumerate(wide.columns)} | {"id": 7, "at": at, "doc": {"é": [1]}}

    def rewritten(*_: Any) -> Any:
        raise AssertionError("psycopg rewrote the statement's placeholders")

    trace = tmp_path / "libpq.trace"
    with trace.open("w") as sink, db.dbapi_transaction() as connection:
        connection.pgconn.trace(sink.fileno())
        with monkeypatch.context() as patched:
            patched.setattr("psycopg._queries._query2pg_nocache", rewritten)
            patched.setattr("psycopg._queries._query2pg", rewritten)
            cursor = native_cursor(connection)
            assert write.execute(cursor, values) == 1
            row = read.first(cursor, {"key": 7})
        connection.pgconn.untrace()
    assert row == (7, at, {"é": [1]})
    parsed = [line.split("\t")[-1] for line in trace.read_text().splitlines() if "\tF\t" in line]
    assert any(write.sql.split(" (")[0] in line and "$60" in line for line in parsed), parsed
    # The check can fail: the same long statement in psycopg's own style is rewritten.
    plain = Prepared(insert(wide), db.engine.dialect, column_keys=[c.key for c in wide.columns])
    with db.dbapi_transaction() as connection, monkeypatch.context() as patched:
        patched.setattr("psycopg._queries._query2pg_nocache", rewritten)
        with pytest.raises(AssertionError, match="rewrote"):
            plain.execute(connection.cursor(), values | {"id": 8})

"""The delivery writer: deliveries that wait share a transaction, each in its savepoint."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from services.mss.writer import DeliveryWriter
from shared.db.engine import Database
from shared.observability.exchanges import annotate, start_notes, stop_notes


class Refused(Exception):
    pass


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'writer.db'}")
    with database.session() as session:
        session.execute(text("CREATE TABLE rows (name TEXT PRIMARY KEY)"))
    yield database
    database.dispose()


def names(database: Database) -> list[str]:
    with database.session(write=False) as session:
        return list(session.scalars(text("SELECT name FROM rows ORDER BY name")))


class Gate:
    """Holds the writer inside a first delivery until the next ones are queued."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.opened = threading.Event()

    async def until_entered(self) -> None:
        assert await asyncio.to_thread(self.entered.wait, 10)


def insert(name: str, *, fail: bool = False, gate: Gate | None = None) -> Callable[[Session], str]:
    def work(session: Session) -> str:
        if gate is not None:
            gate.entered.set()
            assert gate.opened.wait(10)
        session.execute(text("INSERT INTO rows (name) VALUES (:name)"), {"name": name})
        if fail:
            raise Refused(name)
        return name

    return work


def test_a_refused_delivery_in_a_batch_stores_nothing_and_the_others_are_committed(
    database: Database,
) -> None:
    writer = DeliveryWriter(lambda: database)
    gate = Gate()

    async def scenario() -> list[object]:
        # The first delivery holds the writer until the three others are queued behind
        # it: they then form one batch (one transaction, a savepoint each).
        first = asyncio.ensure_future(writer.run(insert("a", gate=gate)))
        await gate.until_entered()
        batch = [
            asyncio.ensure_future(writer.run(insert("b"))),
            asyncio.ensure_future(writer.run(insert("c", fail=True))),
            asyncio.ensure_future(writer.run(insert("d"))),
        ]
        await asyncio.sleep(0.05)  # the three are queued (run() puts them at once)
        gate.opened.set()
        return await asyncio.gather(first, *batch, return_exceptions=True)

    try:
        results = asyncio.run(scenario())
    finally:
        writer.close()
    assert results[:2] == ["a", "b"] and results[3] == "d"
    assert isinstance(results[2], Refused)
    assert names(database) == ["a", "b", "d"]


def test_a_delivery_alone_is_rolled_back_when_it_fails(database: Database) -> None:
    writer = DeliveryWriter(lambda: database)

    async def scenario() -> None:
        with pytest.raises(Refused):
            await writer.run(insert("x", fail=True))
        assert await writer.run(insert("y")) == "y"

    try:
        asyncio.run(scenario())
    finally:
        writer.close()
    assert names(database) == ["y"]


def test_a_failed_commit_fails_every_delivery_of_the_batch(database: Database) -> None:
    writer = DeliveryWriter(lambda: database)
    gate = Gate()

    def poison(session: Session) -> str:
        # Valid inside the transaction, refused at COMMIT: a deferred foreign key.
        session.execute(text("PRAGMA defer_foreign_keys = ON"))
        session.execute(text("CREATE TABLE IF NOT EXISTS child (p TEXT REFERENCES rows(name))"))
        session.execute(text("INSERT INTO child (p) VALUES ('nobody')"))
        return "poison"

    async def scenario() -> list[object]:
        first = asyncio.ensure_future(writer.run(insert("a", gate=gate)))
        await gate.until_entered()
        batch = [asyncio.ensure_future(writer.run(poison)), asyncio.ensure_future(writer.run(insert("b")))]
        await asyncio.sleep(0.05)  # both are queued
        gate.opened.set()
        return await asyncio.gather(first, *batch, return_exceptions=True)

    try:
        results = asyncio.run(scenario())
    finally:
        writer.close()
    assert results[0] == "a"
    assert all(isinstance(result, Exception) for result in results[1:])
    assert names(database) == ["a"]


def test_the_work_runs_in_the_callers_context(database: Database) -> None:
    writer = DeliveryWriter(lambda: database)

    def work(session: Session) -> None:
        annotate("written by the writer thread")

    async def scenario() -> list[str]:
        notes, token = start_notes()
        try:
            await writer.run(work)
        finally:
            stop_notes(token)
        return notes

    try:
        assert asyncio.run(scenario()) == ["written by the writer thread"]
    finally:
        writer.close()


class Escaped(BaseException):
    pass


def test_the_writer_outlives_a_delivery_that_escapes_exception_handling(database: Database) -> None:
    writer = DeliveryWriter(lambda: database)

    def escape(session: Session) -> str:
        session.execute(text("INSERT INTO rows (name) VALUES ('lost')"))
        raise Escaped

    async def scenario() -> None:
        with pytest.raises(RuntimeError, match="delivery writer failed"):
            await writer.run(escape)
        assert await writer.run(insert("next")) == "next"

    try:
        asyncio.run(scenario())
    finally:
        writer.close()
    assert names(database) == ["next"]


# -- deliveries that are not isolated: no savepoint, their writes left for before_commit --

PENDING = "pending names"


def deferred(name: str, *, refuse: bool = False) -> Callable[[Session], str]:
    """A plain delivery: refuses before writing anything, else leaves its row for later."""

    def work(session: Session) -> str:
        if refuse:
            raise Refused(name)
        session.info.setdefault(PENDING, []).append(name)
        return name

    return work


def write_pending(session: Session) -> None:
    for name in session.info.pop(PENDING, []):
        session.execute(text("INSERT INTO rows (name) VALUES (:name)"), {"name": name})


def in_order(database: Database) -> list[str]:
    with database.session(write=False) as session:
        return list(session.scalars(text("SELECT name FROM rows ORDER BY rowid")))


def batch_of(writer: DeliveryWriter, works: list[tuple[Callable[[Session], str], bool]]) -> list[object]:
    gate = Gate()

    async def scenario() -> list[object]:
        first = asyncio.ensure_future(writer.run(insert("first", gate=gate)))
        await gate.until_entered()
        batch = [asyncio.ensure_future(writer.run(work, isolated=isolated)) for work, isolated in works]
        await asyncio.sleep(0.05)  # all queued behind the first: one batch
        gate.opened.set()
        return await asyncio.gather(first, *batch, return_exceptions=True)

    try:
        return asyncio.run(scenario())
    finally:
        writer.close()


def test_plain_deliveries_are_written_once_for_the_batch_in_their_order(database: Database) -> None:
    calls: list[int] = []

    def before_commit(session: Session) -> None:
        calls.append(len(session.info.get(PENDING, [])))
        write_pending(session)

    writer = DeliveryWriter(lambda: database, before_commit=before_commit)
    results = batch_of(
        writer,
        [
            (deferred("a"), False),
            (deferred("b", refuse=True), False),
            (deferred("c"), False),
            (insert("d"), True),  # isolated: the pending rows are written before its savepoint
            (deferred("e"), False),
            (insert("f", fail=True), True),
        ],
    )
    assert results[:2] == ["first", "a"] and results[3:5] == ["c", "d"] and results[5] == "e"
    assert isinstance(results[2], Refused) and isinstance(results[6], Refused)
    assert in_order(database) == ["first", "a", "c", "d", "e"]
    # Before d's savepoint (a, c), before f's (e), before the commit (none left); and the
    # first delivery's own transaction before that.
    assert calls == [0, 2, 1, 0]


def test_a_failing_before_commit_fails_every_delivery_of_the_batch(database: Database) -> None:
    class Full(Exception):
        pass

    def before_commit(session: Session) -> None:
        if session.info.get(PENDING):
            write_pending(session)
            raise Full("the disk is full")

    writer = DeliveryWriter(lambda: database, before_commit=before_commit)
    results = batch_of(writer, [(insert("isolated"), True), (deferred("a"), False), (deferred("b"), False)])
    assert results[0] == "first"
    assert all(isinstance(result, Full) for result in results[1:])
    assert in_order(database) == ["first"]


# -- waiting for the deliveries announced ------------------------------------------------


def test_a_batch_waits_for_the_deliveries_under_way(database: Database) -> None:
    commits: list[int] = []

    def before_commit(session: Session) -> None:
        commits.append(len(session.info.get(PENDING, [])))
        write_pending(session)

    # Three senders inside a transaction: the first delivery waits for the two others.
    writer = DeliveryWriter(lambda: database, before_commit=before_commit, expected=lambda: 3, linger=5.0)

    async def scenario() -> list[str]:
        async def later(name: str, delay: float) -> str:
            await asyncio.sleep(delay)
            return await writer.run(deferred(name), isolated=False)

        return list(await asyncio.gather(later("a", 0), later("b", 0.05), later("c", 0.1)))

    started = time.monotonic()
    try:
        assert asyncio.run(scenario()) == ["a", "b", "c"]
    finally:
        writer.close()
    assert commits == [3] and time.monotonic() - started < 2
    assert in_order(database) == ["a", "b", "c"]


def test_a_lone_sender_never_waits(database: Database) -> None:
    writer = DeliveryWriter(lambda: database, before_commit=write_pending, expected=lambda: 1, linger=5.0)
    started = time.monotonic()
    try:
        assert asyncio.run(writer.run(deferred("alone"), isolated=False)) == "alone"
    finally:
        writer.close()
    assert time.monotonic() - started < 2 and in_order(database) == ["alone"]

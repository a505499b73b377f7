"""One writer for every delivery, HTTP and SMTP alike: a thread that writes them in turn,
several in one transaction when several are waiting (group commit).

Why: SQLite has one write lock. Deliveries written from many threads (the HTTP thread
pool, the SMTP sessions) queue on it through SQLite's busy handler, which sleeps for
milliseconds between tries; and a transaction per message pays its ``BEGIN`` and
``COMMIT`` each time. Here the deliveries that arrive while one is being written wait in
a queue, and the next batch runs in one transaction, each delivery in its own
``SAVEPOINT``: a refused or failing delivery rolls back to its savepoint and stores
nothing, the others are committed together, and no caller hears of its delivery before
that commit. If the commit itself fails, every delivery of the batch fails with it and
none is stored.

A delivery that is not ``isolated`` runs without a savepoint (a ``SAVEPOINT`` and its
``RELEASE`` cost more than a plain message's checks): it promises to raise, if it
refuses, before writing anything, and may leave its writes for the writer's
``before_commit`` callback, which the writer calls once for the batch (and before each
isolated delivery, so that the writes keep the order of arrival and stay out of its
savepoint). A failing ``before_commit`` fails the whole batch, as a failing commit does.

A batch costs about as much as three plain messages (the session, ``BEGIN``, the UID
update, ``COMMIT`` and its pages), so the bigger the cheaper. ``expected()`` tells how
many deliveries are under way (the SMTP sessions inside a mail transaction, those
waiting for this writer included): while the batch is smaller, the writer waits for
them, at most ``linger`` seconds (PostgreSQL's ``commit_delay`` with
``commit_siblings``, in spirit). Several sessions sharing one CPU then commit together
instead of in two alternating halves; a lone sender never waits.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy.orm import Session

from shared.db.engine import Database

log = logging.getLogger(__name__)

T = TypeVar("T")

#: At most this many deliveries share a transaction (bounds the time the lock is held).
MAX_BATCH = 32
#: How long a batch may wait for the deliveries ``expected`` announces, in seconds.
LINGER = 0.002


@dataclass
class _Job(Generic[T]):
    work: Callable[[Session], T]
    context: contextvars.Context
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[T]
    isolated: bool = True
    result: Any = None
    error: BaseException | None = None


class DeliveryWriter:
    """Runs ``work(session)`` callables on the writer thread (see the module docstring)."""

    def __init__(
        self,
        database: Callable[[], Database],
        *,
        max_batch: int = MAX_BATCH,
        before_commit: Callable[[Session], None] | None = None,
        expected: Callable[[], int] | None = None,
        linger: float = LINGER,
    ) -> None:
        self._database = database
        self._max_batch = max_batch
        self._before_commit = before_commit or _nothing
        self._expected = expected or _none
        self._linger = linger
        self._jobs: queue.SimpleQueue[_Job[Any] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="mss-writer", daemon=True)
        self._thread.start()

    async def run(self, work: Callable[[Session], T], *, isolated: bool = True) -> T:
        """``work(session)``'s result once its transaction is committed, or its exception.

        ``work`` runs in a copy of the caller's context (exchange notes reach the caller's
        exchange). It must only flush: the writer commits. ``isolated=False``: see the
        module docstring."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put(_Job(work, contextvars.copy_context(), loop, future, isolated))
        return await future

    def close(self) -> None:
        """Write what is queued, then stop the thread."""
        self._jobs.put(None)
        self._thread.join()

    # -- the writer thread ---------------------------------------------------------------

    def _serve(self) -> None:
        stopping = False
        while not stopping:
            job = self._jobs.get()
            if job is None:
                return
            batch: list[_Job[Any]] = [job]
            deadline = time.monotonic() + self._linger
            while len(batch) < self._max_batch:
                # Wait a little for the deliveries announced (see ``expected``), not for others.
                wait = deadline - time.monotonic() if len(batch) < self._under_way() else 0.0
                try:
                    more = self._jobs.get(timeout=wait) if wait > 0 else self._jobs.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                batch.append(more)
            try:
                self._write(batch)
            except BaseException as exc:  # the thread must outlive any batch
                for job in batch:
                    job.error = job.error or RuntimeError(f"the delivery writer failed: {exc!r}")
            _resolve(batch)

    def _under_way(self) -> int:
        try:
            return self._expected()
        except Exception:  # a hint only: never worth the writer thread
            log.exception("the delivery writer's expected() failed")
            return 0

    def _write(self, batch: list[_Job[Any]]) -> None:
        try:
            with self._database().session(write=True) as session:
                if len(batch) == 1:
                    # Alone: the transaction is the delivery's (no savepoint needed).
                    batch[0].result = batch[0].context.run(batch[0].work, session)
                else:
                    for job in batch:
                        self._run(session, job)
                self._before_commit(session)
        except Exception as exc:  # the lone job failed, or the commit did
            for job in batch:
                if job.error is None:
                    job.error = exc
            if len(batch) > 1:
                log.warning("a batch of %d deliveries failed to commit: %s", len(batch), exc)

    def _run(self, session: Session, job: _Job[Any]) -> None:
        """One delivery of a batch; what it raises is its caller's answer, not the batch's."""
        if not job.isolated:
            try:
                job.result = job.context.run(job.work, session)
            except Exception as exc:
                job.error = exc
            return
        self._before_commit(session)  # outside the savepoint; a failure fails the batch
        try:
            with session.begin_nested():
                job.result = job.context.run(job.work, session)
        except Exception as exc:
            job.error = exc


def _nothing(session: Session) -> None:
    return None


def _none() -> int:
    return 0


def _resolve(batch: list[_Job[Any]]) -> None:
    by_loop: dict[asyncio.AbstractEventLoop, list[_Job[Any]]] = {}
    for job in batch:
        by_loop.setdefault(job.loop, []).append(job)
    for loop, jobs in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle, jobs)
        except RuntimeError:  # the loop is closed: nobody waits any more
            continue


def _settle(jobs: list[_Job[Any]]) -> None:
    for job in jobs:
        if job.future.cancelled():
            continue
        if job.error is not None:
            job.future.set_exception(job.error)
        else:
            job.future.set_result(job.result)

"""SQLite's WAL folded into the database file by a thread of its own, not by a request.

By default the commit that takes SQLite's write-ahead log past 1,000 pages (4 MB) runs the
checkpoint itself: it copies the log's pages into the database file and waits for two
``fdatasync`` calls, 15-20 ms on the machines we measure on, on the request's thread (the
event loop, for the DMP's publications and PSC's token endpoint). A DMP search writes its
trace, so one search in ~230 waited that long, and one publication in ~60.

Here the request connections keep only a distant automatic checkpoint, as a safety net
(:data:`FALLBACK_PAGES`), and a daemon thread runs ``PRAGMA wal_checkpoint(PASSIVE)``, the
checkpoint SQLite would run, which never blocks readers or writers, whenever the log has
changed (a ``stat`` every :data:`INTERVAL`). The GIL is released while it copies and syncs.

The log must also start again from its beginning, or it grows: SQLite restarts it when a
write transaction begins with every frame of it copied, which never happens while
checkpoints run beside a steady stream of commits (tens land during each). So once the log
is :data:`RESTART_FRAMES` long the thread syncs the database file itself, catches up with
what was committed meanwhile, and runs the last, short, checkpoint with this process's
writers held back (the lock they already take in turn, :class:`shared.db.engine.Database`):
the next commit then starts the log again. Measured with ``bench.dmp`` (README "How fast").
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading

log = logging.getLogger(__name__)

#: Seconds between two looks at the log.
INTERVAL = 0.25
#: The log's length, in frames (pages of 4 kB), past which it is made to start again. Each
#: restart holds this process's writers back ~10 ms; a long log costs only disk space.
RESTART_FRAMES = 5_000
#: Checkpoints run beside the writers, before the one that holds them back.
CATCH_UP_PASSES = 2
#: ``PRAGMA wal_autocheckpoint`` of the request connections while a checkpointer runs: a
#: commit checkpoints by itself only if the log reaches 160 MB, which happens only if the
#: thread stopped.
FALLBACK_PAGES = 40_000


class Checkpointer:
    """Checkpoints the SQLite database at ``path`` from a daemon thread until :meth:`stop`.

    ``writers`` is the lock this process's writers take before they write; without it the
    log is checkpointed but not made to start again (the safety net does that)."""

    def __init__(
        self,
        path: str,
        writers: threading.Lock | None = None,
        *,
        interval: float = INTERVAL,
        restart_frames: int = RESTART_FRAMES,
    ) -> None:
        self.path = path
        self.interval = interval
        self.restart_frames = restart_frames
        #: Checkpoints run, and those that held the writers back (for tests and logs).
        self.checkpoints = 0
        self.restarts = 0
        self._writers = writers
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"wal-checkpoint {path}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _log_state(self) -> tuple[int, int] | None:
        """The log file's modification time and size; ``None`` without a log."""
        try:
            status = os.stat(self.path + "-wal")
        except OSError:
            return None
        return status.st_mtime_ns, status.st_size

    def _run(self) -> None:
        connection: sqlite3.Connection | None = None
        seen: tuple[int, int] | None = None
        try:
            while not self._stopping.wait(self.interval):
                state = self._log_state()
                if state is None or state == seen:
                    continue
                # ``seen`` is the state before the checkpoint: a commit made while it ran
                # changes the log again, and the next look checkpoints that too.
                seen = state
                if connection is None:
                    connection = self._connect()
                    if connection is None:
                        continue
                try:
                    self._checkpoint(connection)
                except (sqlite3.Error, OSError) as exc:
                    # Busy (another process's checkpoint), or the file went away: the next
                    # look tries again, changed or not.
                    log.debug("checkpoint of %s: %s", self.path, exc)
                    seen = None
        finally:
            if connection is not None:
                with contextlib.suppress(sqlite3.Error):
                    connection.close()

    def _connect(self) -> sqlite3.Connection | None:
        """A connection of the thread's own; none while the database does not exist (the
        service's engine creates it, in WAL mode: this one must not create an empty file)."""
        try:
            connection = sqlite3.connect(
                f"file:{self.path}?mode=rw", uri=True, isolation_level=None, check_same_thread=False
            )
            # Checkpoints sync as the request connections' own would (synchronous=NORMAL);
            # a short busy timeout: a checkpoint missed now is run at the next look.
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute("PRAGMA busy_timeout=100")
        except sqlite3.Error:
            return None
        return connection

    def _pass(self, connection: sqlite3.Connection) -> int:
        """One PASSIVE checkpoint; the log's length in frames when it began."""
        _busy, frames, _copied = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if frames < 0:
            # SQLite could not run it (its answer for "not in WAL mode": seen while another
            # process's connection was opening the database): the next look tries again.
            raise sqlite3.OperationalError("the checkpoint could not run")
        self.checkpoints += 1
        return int(frames)

    def _checkpoint(self, connection: sqlite3.Connection) -> None:
        frames = self._pass(connection)
        if frames < self.restart_frames or self._writers is None:
            return
        self._sync_database()
        for _ in range(CATCH_UP_PASSES):
            before, frames = frames, self._pass(connection)
            self._sync_database()
            if frames - before < self.restart_frames // 10:  # little was committed meanwhile
                break
        if not self._writers.acquire(timeout=self.interval):
            return  # a long write transaction: next look
        try:
            self._pass(connection)
            self.restarts += 1
        finally:
            self._writers.release()

    def _sync_database(self) -> None:
        """The pages the checkpoints copied into the database file written to the disk now,
        beside the writers. A checkpoint syncs the file only when no commit landed while it
        copied, which under load is only the one run with the writers held back: that one
        then waited for every page the others had copied (110-130 ms for 50 MB, measured)
        instead of a few.

        It syncs a descriptor SQLite opened (this thread's connection has one), never one
        of its own: closing any descriptor of the file would drop every POSIX lock this
        process holds on it, SQLite's included, and another process's last connection would
        then fold and delete the log under this one (sqlite.org, "How To Corrupt An SQLite
        Database File", 2.2; ``tests/shared/test_checkpoint.py``). Looked up each time: a
        pooled connection may have closed its own meanwhile. Where none is found (no
        ``/proc``), the held checkpoint syncs it all, as SQLite does."""
        for descriptor in sorted(_descriptors_of(self.path)):
            try:
                os.fdatasync(descriptor)
            except OSError:  # closed since it was listed: another
                continue
            return


def _descriptors_of(path: str) -> set[int]:
    """This process's open descriptors of ``path`` (Linux's ``/proc/self/fd``)."""
    wanted = os.path.realpath(path)
    found: set[int] = set()
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return found
    for name in names:
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/self/fd/{name}") == wanted:
                found.add(int(name))
    return found

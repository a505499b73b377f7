"""SQLite WAL checkpoints in a thread of their own, not in the committing request.

With SQLite's default, the commit that takes the WAL past ``wal_autocheckpoint`` pages
(~4 MB) copies every page into the database file and waits for it to reach the disk. The
DMP and Pro Santé Connect commit their hottest transactions on the event loop (ITI-65,
ITI-67's trace, the token endpoint), so that commit held every request of the service:
at ~450 publications of 50 kB per second, six checkpoints a second of ~20 ms each, about
an eighth of the DMP's time spent waiting on the disk (``python -m bench.dmp``, README
"How fast"). Here a thread checkpoints (``PASSIVE``: it never blocks a reader or a
writer) whenever the WAL has changed since its last look, a few times a second; the
connections of the service keep an automatic checkpoint, further away, for the case
where this thread cannot keep up.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger(__name__)

#: How often the thread looks at the WAL, in seconds.
INTERVAL = 0.2
#: The services' own automatic checkpoint, in pages (SQLite's default is 1,000): only a
#: WAL this thread could not checkpoint in time grows that far.
BACKSTOP_PAGES = 10_000


class Checkpointer:
    """Checkpoints ``path``'s WAL while started; :meth:`stop` ends the thread."""

    def __init__(self, path: str, interval: float = INTERVAL) -> None:
        self.path = path
        self.wal = Path(f"{path}-wal")
        self.interval = interval
        self.checkpoints = 0
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"wal-checkpoint {Path(path).name}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        connection: sqlite3.Connection | None = None
        seen: tuple[int, int] | None = None
        try:
            while not self._stopping.wait(self.interval):
                try:
                    stat = os.stat(self.wal)
                except FileNotFoundError:
                    continue
                state = (stat.st_mtime_ns, stat.st_size)
                if state == seen:
                    continue
                try:
                    if connection is None:
                        connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
                        # As the services' connections: the WAL is synced before a
                        # checkpoint and the database file after it.
                        connection.execute("PRAGMA synchronous=NORMAL")
                        connection.execute("PRAGMA busy_timeout=1000")
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.checkpoints += 1
                    # The checkpoint itself does not write the WAL: its stat is the one seen.
                    seen = state
                except sqlite3.Error as exc:  # a busy or vanished database: next round
                    log.debug("checkpoint of %s skipped: %s", self.path, exc)
        finally:
            if connection is not None:
                connection.close()

"""Pro Santé Connect's clock, which tests may move (``/_sandbox/clock``).

Codes, pushes, sessions, TOTP steps and token lifetimes all read this clock, so that a test
suite can expire a code or a push without waiting. It is a control, like the fault rules:
kept in memory and set back to real time by a reset. Tokens issued while the clock is moved
carry the moved times, which other services (using real time) will see as such.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable


class Clock:
    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()
        #: Called after every move: tokens may have expired (services/psc_auth/events.py).
        self.on_change: list[Callable[[], None]] = []

    @property
    def offset(self) -> float:
        return self._offset

    def time(self) -> float:
        """Seconds since the epoch, moved by the offset."""
        return time.time() + self._offset

    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.time(), dt.UTC)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds
        self._changed()

    def reset(self) -> None:
        with self._lock:
            self._offset = 0.0
        self._changed()

    def _changed(self) -> None:
        for listener in self.on_change:
            listener()

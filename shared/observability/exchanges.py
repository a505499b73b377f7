"""The recorded exchanges behind ``GET /_sandbox/exchanges`` (README, "Exchanges").

Every request a service handles and every call it makes to a peer (HTTP, and SMTP/IMAP
sessions for MSSanté) becomes one :class:`Exchange`: time, method, path, status, duration,
caller, trace id and both bodies cut to a bound. They are kept in memory, newest last, up
to a capacity: they are a window for the flow console and for debugging, not data, so a
reset or a snapshot does not touch them.
"""

from __future__ import annotations

import base64
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

Direction = Literal["inbound", "outbound"]

#: Paths that are never recorded (nor faulted): the sandbox's own controls and its docs.
CONTROL_PREFIXES = ("/_sandbox", "/health", "/docs", "/redoc", "/openapi.json", "/favicon.ico")

_TEXT_TYPES = ("json", "xml", "text", "x-www-form-urlencoded", "javascript", "yaml", "html")


@dataclass(slots=True)
class Message:
    """One side of an exchange. ``body`` is text when it decodes as UTF-8, else base64."""

    headers: dict[str, str]
    body: str | None = None
    body_encoding: Literal["utf-8", "base64"] = "utf-8"
    size: int = 0
    truncated: bool = False


@dataclass(slots=True)
class Exchange:
    service: str
    direction: Direction
    method: str
    path: str
    time: datetime
    caller: str
    target: str
    trace_id: str | None
    span_id: str | None = None
    parent_span_id: str | None = None
    protocol: str = "http"
    query: str = ""
    url: str = ""
    status: int | None = None
    duration_ms: float = 0.0
    client_id: str | None = None
    request: Message = field(default_factory=lambda: Message({}))
    response: Message = field(default_factory=lambda: Message({}))
    #: Why the service answered as it did (access rules applied, faults injected...).
    notes: list[str] = field(default_factory=list)
    fault: dict[str, Any] | None = None
    error: str | None = None
    id: int = 0
    #: What is left to fill in (the bodies, the headers, the client): the recorder of a
    #: request defers it to the first read, so that the ~30 µs it costs are paid by the
    #: few exchanges someone looks at rather than by every request.
    pending: Callable[[Exchange], None] | None = field(default=None, repr=False, compare=False)

    def complete(self) -> Exchange:
        pending, self.pending = self.pending, None
        if pending is not None:
            pending(self)
        return self

    def to_json(self) -> dict[str, Any]:
        self.complete()
        data = asdict(self)
        del data["pending"]
        data["time"] = self.time.isoformat()
        return data


def capture_body(data: bytes, limit: int, content_type: str | None) -> tuple[str | None, str, bool]:
    """(body, encoding, truncated) for ``data`` cut at ``limit`` bytes."""
    if not data:
        return None, "utf-8", False
    truncated = len(data) > limit
    kept = data[:limit]
    textual = content_type is None or any(t in content_type.lower() for t in _TEXT_TYPES)
    if textual:
        try:
            return kept.decode("utf-8"), "utf-8", truncated
        except UnicodeDecodeError:
            if truncated:  # a multi-byte character cut at the limit
                try:
                    return kept.decode("utf-8", errors="ignore"), "utf-8", truncated
                except UnicodeDecodeError:  # pragma: no cover - errors="ignore" cannot fail
                    pass
    return base64.b64encode(kept).decode("ascii"), "base64", truncated


def make_message(headers: Mapping[str, str], data: bytes, limit: int, *, size: int | None = None) -> Message:
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), None)
    body, encoding, truncated = capture_body(data, limit, content_type)
    total = len(data) if size is None else size
    return Message(
        dict(headers),
        body,
        encoding,  # type: ignore[arg-type]
        total,
        truncated or total > len(data),
    )


class ExchangeLog:
    """A bounded, thread-safe list of exchanges with increasing ids."""

    def __init__(self, service: str, capacity: int = 5_000) -> None:
        self.service = service
        self._items: deque[Exchange] = deque(maxlen=capacity)
        self._lock = threading.Lock()
        self._next_id = 1

    def add(self, exchange: Exchange) -> Exchange:
        with self._lock:
            exchange.id = self._next_id
            self._next_id += 1
            self._items.append(exchange)
        return exchange

    def clear(self) -> int:
        with self._lock:
            count = len(self._items)
            self._items.clear()
            return count

    def query(
        self,
        *,
        trace_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        after: int | None = None,
        direction: Direction | None = None,
        limit: int = 500,
    ) -> list[Exchange]:
        """Matching exchanges, oldest first, at most ``limit`` (the most recent ones)."""
        with self._lock:
            items: Iterable[Exchange] = list(self._items)
        selected = [
            ex
            for ex in items
            if (trace_id is None or ex.trace_id == trace_id)
            and (since is None or ex.time >= since)
            and (until is None or ex.time <= until)
            and (after is None or ex.id > after)
            and (direction is None or ex.direction == direction)
        ]
        chosen = selected[-limit:] if limit >= 0 else selected
        with self._lock:  # completed once, even by two readers at a time
            return [ex.complete() for ex in chosen]


_notes: ContextVar[list[str] | None] = ContextVar("mes_exchange_notes", default=None)


def annotate(note: str) -> None:
    """Attach a reason to the exchange being recorded (for instance the access rule that
    allowed or refused the call); shown by the flow console. A no-op outside a request."""
    notes = _notes.get()
    if notes is not None:
        notes.append(note)


def start_notes() -> tuple[list[str], object]:
    notes: list[str] = []
    return notes, _notes.set(notes)


def stop_notes(token: object) -> None:
    _notes.reset(token)  # type: ignore[arg-type]

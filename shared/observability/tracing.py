"""W3C Trace Context (https://www.w3.org/TR/trace-context/): ``traceparent`` in and out.

Every inbound request continues the caller's trace (or starts one); every call a service
makes to a peer carries ``traceparent`` with the current trace id and a new span id, so
that the exchanges of one journey across the four services share one trace id.
"""

from __future__ import annotations

import re
import secrets
from contextvars import ContextVar
from dataclasses import dataclass

# §3.2.2: version "00", 32 hex trace-id, 16 hex parent-id, 2 hex flags; all-zero ids invalid.
_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


@dataclass(frozen=True)
class SpanContext:
    trace_id: str
    span_id: str
    parent_span_id: str | None = None
    flags: str = "01"

    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"

    def child(self) -> SpanContext:
        """A new span in the same trace, whose parent is this span."""
        return SpanContext(self.trace_id, new_span_id(), self.span_id, self.flags)


def new_trace_id() -> str:
    return secrets.token_hex(16)


def new_span_id() -> str:
    return secrets.token_hex(8)


def parse_traceparent(value: str | None) -> SpanContext | None:
    """The caller's span, or ``None`` when the header is absent or malformed (§3.2.2.x)."""
    if not value:
        return None
    match = _TRACEPARENT.match(value.strip().lower())
    if not match:
        return None
    trace_id, parent_id, flags = match.groups()
    if trace_id == "0" * 32 or parent_id == "0" * 16:
        return None
    return SpanContext(trace_id, parent_id, None, flags)


def server_span(traceparent: str | None) -> SpanContext:
    """The span of a request this service handles: a child of the caller's, or a new trace."""
    caller = parse_traceparent(traceparent)
    if caller is None:
        return SpanContext(new_trace_id(), new_span_id())
    return caller.child()


_current: ContextVar[SpanContext | None] = ContextVar("mes_span", default=None)


def current_span() -> SpanContext | None:
    return _current.get()


def set_current_span(span: SpanContext | None) -> object:
    """Make ``span`` current; returns the token to restore the previous one."""
    return _current.set(span)


def reset_current_span(token: object) -> None:
    _current.reset(token)  # type: ignore[arg-type]


def current_trace_id() -> str | None:
    span = _current.get()
    return span.trace_id if span else None


_service: ContextVar[str | None] = ContextVar("mes_service", default=None)


def current_service() -> str | None:
    """The service handling the current request (several share one process in tests)."""
    return _service.get()


def set_current_service(name: str) -> object:
    return _service.set(name)


def reset_current_service(token: object) -> None:
    _service.reset(token)  # type: ignore[arg-type]

"""The one factory of outbound HTTP clients (architecture rule 7).

Every call a service makes to a peer goes through a client built here: a timeout, a
``User-Agent`` naming the calling service (so the peer records who called), the W3C
``traceparent`` of the current request, and a record of the call in the caller's
``/_sandbox/exchanges``. Each service wraps it in a typed client in its ``clients.py``.
Tests inject a peer failure by passing an ``httpx.MockTransport`` as ``transport``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx

from shared import __version__
from shared.observability import tracing
from shared.observability.exchanges import CONTROL_PREFIXES, Exchange, ExchangeLog, make_message

USER_AGENT_PREFIX = "mes-sandbox-"


def _prepare(request: httpx.Request) -> tracing.SpanContext:
    parent = tracing.current_span()
    span = parent.child() if parent else tracing.SpanContext(tracing.new_trace_id(), tracing.new_span_id())
    request.headers["traceparent"] = span.traceparent()
    return span


class _Recorder:
    def __init__(self, service: str, peer: str, exchanges: ExchangeLog | None, body_limit: int) -> None:
        self.service = service
        self.peer = peer
        self.exchanges = exchanges
        self.body_limit = body_limit

    def record(
        self,
        request: httpx.Request,
        span: tracing.SpanContext,
        started_at: datetime,
        started: float,
        response: httpx.Response | None,
        error: BaseException | None,
    ) -> None:
        if self.exchanges is None or request.url.path.startswith(CONTROL_PREFIXES):
            return
        request_body = request.content if isinstance(request.stream, httpx.ByteStream) else b""
        self.exchanges.add(
            Exchange(
                service=self.service,
                direction="outbound",
                method=request.method,
                path=request.url.path,
                query=request.url.query.decode("latin-1"),
                url=str(request.url),
                time=started_at,
                caller=self.service,
                target=self.peer,
                trace_id=span.trace_id,
                span_id=span.span_id,
                parent_span_id=span.parent_span_id,
                status=response.status_code if response is not None else None,
                duration_ms=round((time.perf_counter() - started) * 1000, 3),
                request=make_message(dict(request.headers.items()), request_body, self.body_limit),
                response=make_message(
                    dict(response.headers.items()) if response is not None else {},
                    response.content if response is not None else b"",
                    self.body_limit,
                ),
                error=f"{type(error).__name__}: {error}" if error else None,
            )
        )


class RecordingTransport(httpx.BaseTransport):
    def __init__(self, inner: httpx.BaseTransport, recorder: _Recorder) -> None:
        self.inner = inner
        self.recorder = recorder

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        span = _prepare(request)
        started_at, started = datetime.now(UTC), time.perf_counter()
        try:
            response = self.inner.handle_request(request)
            response.read()
        except BaseException as exc:
            self.recorder.record(request, span, started_at, started, None, exc)
            raise
        self.recorder.record(request, span, started_at, started, response, None)
        return response

    def close(self) -> None:
        self.inner.close()


class AsyncRecordingTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport, recorder: _Recorder) -> None:
        self.inner = inner
        self.recorder = recorder

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        span = _prepare(request)
        started_at, started = datetime.now(UTC), time.perf_counter()
        try:
            response = await self.inner.handle_async_request(request)
            await response.aread()
        except BaseException as exc:
            self.recorder.record(request, span, started_at, started, None, exc)
            raise
        self.recorder.record(request, span, started_at, started, response, None)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def _headers(service: str) -> dict[str, str]:
    return {"User-Agent": f"{USER_AGENT_PREFIX}{service}/{__version__}"}


def make_client(
    *,
    service: str,
    peer: str,
    base_url: str,
    exchanges: ExchangeLog | None,
    timeout: float = 10.0,
    body_limit: int = 16_384,
    transport: httpx.BaseTransport | None = None,
) -> httpx.Client:
    """A synchronous client from ``service`` to ``peer`` (used from sync endpoints)."""
    inner = transport or httpx.HTTPTransport()
    recorder = _Recorder(service, peer, exchanges, body_limit)
    return httpx.Client(
        base_url=base_url,
        timeout=timeout,
        headers=_headers(service),
        transport=RecordingTransport(inner, recorder),
    )


def make_async_client(
    *,
    service: str,
    peer: str,
    base_url: str,
    exchanges: ExchangeLog | None,
    timeout: float = 10.0,
    body_limit: int = 16_384,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """An asynchronous client from ``service`` to ``peer`` (used from async endpoints)."""
    inner = transport or httpx.AsyncHTTPTransport()
    recorder = _Recorder(service, peer, exchanges, body_limit)
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=timeout,
        headers=_headers(service),
        transport=AsyncRecordingTransport(inner, recorder),
    )

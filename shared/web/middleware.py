"""The one pure-ASGI middleware of every service: trace, faults, recording, access log.

For each HTTP request it continues the caller's W3C trace (or starts one), applies the
fault rules of ``/_sandbox/faults`` before the endpoint runs, renders unexpected
exceptions in the endpoint's error format, and records the exchange (both bodies cut to
``MES_EXCHANGE_BODY_LIMIT``) with one JSON log line.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.faults import FaultBook
from shared.http import USER_AGENT_PREFIX
from shared.observability import tracing
from shared.observability.exchanges import (
    CONTROL_PREFIXES,
    Exchange,
    ExchangeLog,
    make_message,
    start_notes,
    stop_notes,
)
from shared.web.errors import body_for_status, formats_of, render

log = logging.getLogger("mes.access")

#: Static assets are faulted like any page but not recorded (they would drown the journeys).
UNRECORDED_PREFIXES = (*CONTROL_PREFIXES, "/static")


def caller_of(headers: Headers) -> str:
    """Which peer called: our services announce themselves in ``User-Agent``."""
    agent = headers.get("user-agent", "")
    if agent.startswith(USER_AGENT_PREFIX):
        return agent[len(USER_AGENT_PREFIX) :].split("/", 1)[0]
    return "external"


def client_hint(headers: Headers) -> str | None:
    """The OAuth client behind a request, for display only (nothing is verified here)."""
    auth = headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    try:
        if scheme.lower() == "basic":
            return base64.b64decode(value).decode().split(":", 1)[0] or None
        if scheme.lower() == "bearer" and value.count(".") == 2:
            payload = value.split(".")[1]
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            hint = claims.get("azp") or claims.get("client_id")
            return str(hint) if hint else None
    except (ValueError, UnicodeDecodeError, AttributeError):
        return None
    return None


class SandboxMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        service: str,
        exchanges: ExchangeLog,
        faults: FaultBook,
        body_limit: int,
    ) -> None:
        self.app = app
        self.service = service
        self.exchanges = exchanges
        self.faults = faults
        self.body_limit = body_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        span = tracing.server_span(headers.get("traceparent"))
        span_token = tracing.set_current_span(span)
        service_token = tracing.set_current_service(self.service)
        notes, notes_token = start_notes()
        try:
            await self._handle(scope, receive, send, headers, span, notes)
        finally:
            stop_notes(notes_token)
            tracing.reset_current_span(span_token)
            tracing.reset_current_service(service_token)

    async def _handle(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        headers: Headers,
        span: tracing.SpanContext,
        notes: list[str],
    ) -> None:
        path: str = scope["path"]
        method: str = scope["method"]
        limit = self.body_limit
        recorded = not path.startswith(UNRECORDED_PREFIXES)
        started_at = datetime.now(UTC)
        started = time.perf_counter()
        request_body = bytearray()
        request_size = 0
        response_body = bytearray()
        response_size = 0
        state: dict[str, Any] = {"status": None, "headers": [], "started": False}

        async def receive_wrapper() -> Message:
            nonlocal request_size
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                request_size += len(chunk)
                if recorded and len(request_body) < limit:
                    request_body.extend(chunk[: limit - len(request_body)])
            return message

        async def send_wrapper(message: Message) -> None:
            nonlocal response_size
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                state["started"] = True
                raw = list(message.get("headers", []))
                raw.append((b"traceresponse", span.traceparent().encode()))
                message = {**message, "headers": raw}
                state["headers"] = raw
            elif message["type"] == "http.response.body":
                chunk = message.get("body", b"")
                response_size += len(chunk)
                if recorded and len(response_body) < limit:
                    response_body.extend(chunk[: limit - len(response_body)])
            await send(message)

        fault = None if path.startswith(CONTROL_PREFIXES) else self.faults.hit(method, path)
        fault_info: dict[str, Any] | None = None
        try:
            if fault is not None:
                fault_info = {"rule": fault.rule_id, "status": fault.status, "latency_ms": fault.latency_ms}
                notes.append(f"fault injected by rule {fault.rule_id}")
                if fault.latency_ms:
                    await asyncio.sleep(fault.latency_ms / 1000)
            if fault is not None and fault.status is not None:
                request = Request(scope, receive_wrapper)
                body = body_for_status(fault.status, fault.detail)
                response = render(body, formats_of(request).for_path(path), request)
                await response(scope, receive_wrapper, send_wrapper)
            else:
                await self.app(scope, receive_wrapper, send_wrapper)
        except Exception as exc:
            log.exception("unexpected error on %s %s", method, path)
            if state["started"]:
                raise
            request = Request(scope, receive_wrapper)
            body = body_for_status(500, f"unexpected error in {self.service}: {type(exc).__name__}")
            await render(body, formats_of(request).for_path(path), request)(
                scope, receive_wrapper, send_wrapper
            )
        finally:
            duration_ms = (time.perf_counter() - started) * 1000
            status = state["status"]
            if log.isEnabledFor(logging.INFO):
                # The record is handed over directly: ``log.info`` would first walk the stack
                # for the caller's file and line (a quarter of the line's cost), which this
                # one line per request never shows.
                log.handle(
                    log.makeRecord(
                        log.name,
                        logging.INFO,
                        __file__,
                        0,
                        "%s %s %s %.1fms",
                        (method, path, status, duration_ms),
                        None,
                        extra={
                            "method": method,
                            "path": path,
                            "status": status,
                            "duration_ms": round(duration_ms, 2),
                        },
                    )
                )
            if recorded:
                self._record(
                    scope,
                    headers,
                    span,
                    started_at,
                    duration_ms,
                    status,
                    state["headers"],
                    bytes(request_body),
                    request_size,
                    bytes(response_body),
                    response_size,
                    notes,
                    fault_info,
                )

    def _record(
        self,
        scope: Scope,
        headers: Headers,
        span: tracing.SpanContext,
        started_at: datetime,
        duration_ms: float,
        status: int | None,
        raw_response_headers: list[tuple[bytes, bytes]],
        request_body: bytes,
        request_size: int,
        response_body: bytes,
        response_size: int,
        notes: list[str],
        fault: dict[str, Any] | None,
    ) -> None:
        limit = self.body_limit

        def complete(exchange: Exchange) -> None:
            # Decoding headers and bodies waits for the first read of the exchange.
            response_headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in raw_response_headers}
            exchange.client_id = client_hint(headers)
            exchange.request = make_message(dict(headers.items()), request_body, limit, size=request_size)
            exchange.response = make_message(response_headers, response_body, limit, size=response_size)

        self.exchanges.add(
            Exchange(
                service=self.service,
                direction="inbound",
                method=scope["method"],
                path=scope["path"],
                query=scope.get("query_string", b"").decode("latin-1"),
                time=started_at,
                caller=caller_of(headers),
                target=self.service,
                trace_id=span.trace_id,
                span_id=span.span_id,
                parent_span_id=span.parent_span_id,
                status=status,
                duration_ms=round(duration_ms, 3),
                notes=list(notes),
                fault=fault,
                pending=complete,
            )
        )

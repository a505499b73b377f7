"""Recorded exchanges shaped exactly as ``/_sandbox/exchanges`` returns them, for the
journey tests that need a precise picture (the live-sandbox tests use real ones)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

_ids = itertools.count(1)
T0 = datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC)


def exchange(
    service: str,
    direction: str,
    method: str,
    path: str,
    *,
    at: float,
    span: str,
    parent: str | None = None,
    caller: str = "external",
    target: str | None = None,
    status: int = 200,
    trace: str = "a" * 32,
    notes: list[str] | None = None,
    request_headers: dict[str, str] | None = None,
    request_body: str | None = None,
    response_headers: dict[str, str] | None = None,
    response_body: str | None = None,
    client_id: str | None = None,
    duration_ms: float = 5.0,
) -> dict[str, Any]:
    return {
        "service": service,
        "direction": direction,
        "method": method,
        "path": path,
        "time": (T0 + timedelta(milliseconds=at)).isoformat(),
        "caller": caller if direction == "inbound" else service,
        "target": target or service,
        "trace_id": trace,
        "span_id": span,
        "parent_span_id": parent,
        "protocol": "http",
        "query": "",
        "url": "" if direction == "inbound" else f"http://127.0.0.1:1/{path.lstrip('/')}",
        "status": status,
        "duration_ms": duration_ms,
        "client_id": client_id,
        "request": {
            "headers": request_headers or {},
            "body": request_body,
            "body_encoding": "utf-8",
            "size": len(request_body or ""),
            "truncated": False,
        },
        "response": {
            "headers": response_headers or {"content-type": "application/json"},
            "body": response_body,
            "body_encoding": "utf-8",
            "size": len(response_body or ""),
            "truncated": False,
        },
        "notes": notes or [],
        "fault": None,
        "error": None,
        "id": next(_ids),
    }


def dmp_read_with_introspection(trace: str = "a" * 32, status: int = 200) -> list[dict[str, Any]]:
    """The editor's software reads the DMP; the DMP fetches PSC's keys, then introspects.

    Returned in the order services would hand them over (by service, not by time)."""
    outer = exchange(
        "dmp",
        "inbound",
        "GET",
        "/fhir/DocumentReference",
        at=0,
        span="d0d0d0d0d0d0d0d0",
        parent="e0e0e0e0e0e0e0e0",
        trace=trace,
        status=status,
        duration_ms=40,
        notes=["DMP: refusé — professionnel bloqué par le patient"] if status == 403 else [],
        client_id="dpi-valmont",
    )
    jwks_out = exchange(
        "dmp",
        "outbound",
        "GET",
        "/auth/realms/esante-wallet/protocol/openid-connect/certs",
        at=5,
        span="c1c1c1c1c1c1c1c1",
        parent="d0d0d0d0d0d0d0d0",
        target="psc_auth",
        trace=trace,
    )
    intro_out = exchange(
        "dmp",
        "outbound",
        "POST",
        "/auth/realms/esante-wallet/protocol/openid-connect/token/introspect",
        at=15,
        span="c2c2c2c2c2c2c2c2",
        parent="d0d0d0d0d0d0d0d0",
        target="psc_auth",
        trace=trace,
    )
    # PSC's records of the same two calls (its clock is a hair behind: order must not depend on it).
    intro_in = exchange(
        "psc_auth",
        "inbound",
        "POST",
        "/auth/realms/esante-wallet/protocol/openid-connect/token/introspect",
        at=14,
        span="b2b2b2b2b2b2b2b2",
        parent="c2c2c2c2c2c2c2c2",
        caller="dmp",
        trace=trace,
        client_id="mes-sandbox-dmp",
    )
    jwks_in = exchange(
        "psc_auth",
        "inbound",
        "GET",
        "/auth/realms/esante-wallet/protocol/openid-connect/certs",
        at=4,
        span="b1b1b1b1b1b1b1b1",
        parent="c1c1c1c1c1c1c1c1",
        caller="dmp",
        trace=trace,
    )
    return [intro_in, jwks_in, intro_out, outer, jwks_out]

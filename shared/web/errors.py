"""Rendering :mod:`shared.errors` per protocol, chosen by the path of the request.

Each service declares which path prefixes speak FHIR and which speak OAuth; the rest
speaks ``{"error", "detail"}``. The same choice renders raised errors, routing errors
(404/405), validation errors, unexpected exceptions and injected faults, so that a
client always receives the error format of the endpoint it called.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from shared.errors import ErrorBody, Issue, SandboxError

log = logging.getLogger(__name__)


class ErrorFormat(StrEnum):
    JSON = "json"
    OAUTH = "oauth"
    FHIR = "fhir"


@dataclass(frozen=True)
class ErrorFormats:
    """Path prefix → format; the longest matching prefix wins."""

    prefixes: Sequence[tuple[str, ErrorFormat]] = ()
    default: ErrorFormat = ErrorFormat.JSON
    _sorted: tuple[tuple[str, ErrorFormat], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.prefixes, key=lambda p: len(p[0]), reverse=True))
        object.__setattr__(self, "_sorted", ordered)

    def for_path(self, path: str) -> ErrorFormat:
        for prefix, fmt in self._sorted:
            if (
                path == prefix
                or path.startswith(prefix.rstrip("/") + "/")
                or (prefix.endswith("*") and path.startswith(prefix[:-1]))
            ):
                return fmt
        return self.default


# RFC 6749 §4.1.2.1 and §5.2, RFC 6750 §3.1, RFC 7009, OIDC Core §3.1.2.6, CIBA §13.
OAUTH_ERROR_CODES = frozenset(
    {
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
        "access_denied",
        "unsupported_response_type",
        "server_error",
        "temporarily_unavailable",
        "interaction_required",
        "login_required",
        "account_selection_required",
        "consent_required",
        "invalid_request_uri",
        "invalid_request_object",
        "request_not_supported",
        "request_uri_not_supported",
        "registration_not_supported",
        "invalid_token",
        "insufficient_scope",
        "unsupported_token_type",
        "authorization_pending",
        "slow_down",
        "expired_token",
        "invalid_binding_message",
        "invalid_user_code",
        "missing_user_code",
        "transaction_failed",
        # CIBA Core 1.0 §13, and OpenID Connect Unmet Authentication Requirements 1.0.
        "unknown_user_id",
        "expired_login_hint_token",
        "unmet_authentication_requirements",
    }
)

_OAUTH_BY_STATUS = {401: "invalid_client", 403: "access_denied", 429: "temporarily_unavailable"}

_FHIR_BY_STATUS = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    409: "conflict",
    410: "deleted",
    412: "conflict",
    413: "too-costly",
    415: "not-supported",
    422: "processing",
    423: "lock-error",
    429: "throttled",
}

_JSON_BY_STATUS = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    410: "gone",
    412: "precondition_failed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    423: "locked",
    429: "too_many_requests",
    500: "server_error",
    502: "bad_gateway",
    503: "unavailable",
    504: "gateway_timeout",
}


def body_for_status(status: int, detail: str, headers: dict[str, str] | None = None) -> ErrorBody:
    """An error body for a bare status (routing errors, injected faults)."""
    error = _JSON_BY_STATUS.get(status, "server_error" if status >= 500 else "error")
    fhir_code = _FHIR_BY_STATUS.get(status, "transient" if status >= 500 else "processing")
    return ErrorBody(
        status=status,
        error=error,
        detail=detail,
        fhir_code=fhir_code,
        issues=(Issue(diagnostics=detail, code=fhir_code),),
        headers=headers or {},
    )


def oauth_code(body: ErrorBody) -> str:
    if body.error in OAUTH_ERROR_CODES:
        return body.error
    if body.status >= 500:
        return "temporarily_unavailable" if body.status in (502, 503, 504) else "server_error"
    return _OAUTH_BY_STATUS.get(body.status, "invalid_request")


def render(body: ErrorBody, fmt: ErrorFormat, request: Request | None) -> Response:
    """The response for ``body`` in ``fmt`` (FHIR negotiates JSON or XML)."""
    headers = dict(body.headers)
    if fmt is ErrorFormat.FHIR:
        from shared.fhir.formats import FHIR_JSON, FHIR_XML, dump, negotiate_format
        from shared.fhir.outcome import operation_outcome

        kind = "json"
        if request is not None:
            try:
                kind = negotiate_format(request)
            except SandboxError:
                kind = "json"  # an unusable Accept must not hide the original error
        resource = operation_outcome(body.issues)
        media = FHIR_JSON if kind == "json" else FHIR_XML
        return Response(
            dump(resource, kind),  # type: ignore[arg-type]
            status_code=body.status,
            media_type=f"{media}; charset=utf-8",
            headers=headers,
        )
    payload: dict[str, Any]
    if fmt is ErrorFormat.OAUTH:
        payload = {"error": oauth_code(body), "error_description": body.detail}
        headers.setdefault("Cache-Control", "no-store")
    else:
        payload = {"error": body.error, "detail": body.detail}
    return Response(
        json.dumps(payload, ensure_ascii=False).encode(),
        status_code=body.status,
        media_type="application/json",
        headers=headers,
    )


def formats_of(request: Request) -> ErrorFormats:
    formats = getattr(request.app.state, "error_formats", None)
    return formats if isinstance(formats, ErrorFormats) else ErrorFormats()


def render_for_request(body: ErrorBody, request: Request) -> Response:
    return render(body, formats_of(request).for_path(request.url.path), request)


def _validation_body(exc: RequestValidationError, fmt: ErrorFormat) -> ErrorBody:
    problems = []
    issues = []
    for err in exc.errors():
        loc = ".".join(str(part) for part in err.get("loc", ()) if part != "body")
        message = f"{loc}: {err.get('msg', 'invalid')}" if loc else str(err.get("msg", "invalid"))
        problems.append(message)
        issues.append(Issue(diagnostics=message, code="invalid", expression=(loc,) if loc else ()))
    detail = "; ".join(problems) or "invalid request"
    # OAuth and FHIR answer a malformed request with 400; JSON APIs keep 422.
    status = 422 if fmt is ErrorFormat.JSON else 400
    error = "validation_error" if fmt is ErrorFormat.JSON else "invalid_request"
    return ErrorBody(status=status, error=error, detail=detail, fhir_code="invalid", issues=issues)


async def _sandbox_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SandboxError)
    return render_for_request(exc.body(), request)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no such endpoint: {request.method} {request.url.path}"
    elif exc.status_code == 405 and detail == "Method Not Allowed":
        detail = f"{request.method} is not allowed on {request.url.path}"
    body = body_for_status(exc.status_code, detail, dict(exc.headers or {}))
    return render_for_request(body, request)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    fmt = formats_of(request).for_path(request.url.path)
    return render(_validation_body(exc, fmt), fmt, request)


def install_error_handlers(app: FastAPI, formats: ErrorFormats) -> None:
    app.state.error_formats = formats
    app.add_exception_handler(SandboxError, _sandbox_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)

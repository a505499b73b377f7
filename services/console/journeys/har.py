"""A journey as an HTTP Archive (HAR 1.2, http://www.softwareishard.com/blog/har-12-spec/).

One page per trace, one entry per call, from the callee's record when there is one (what
the service received and answered). Custom fields start with ``_`` as the spec allows:
``_caller``, ``_target``, ``_traceId``, ``_notes`` (the access rules applied). Bodies are
as recorded: cut at ``MES_EXCHANGE_BODY_LIMIT`` (``_truncated`` says so).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from services.console.journeys.labels import STATUS_TEXT
from services.console.journeys.model import Call, Journey
from shared import __version__


def _headers(headers: dict[str, str]) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in headers.items()]


def _mime(headers: dict[str, str]) -> str:
    return next((v for k, v in headers.items() if k.lower() == "content-type"), "")


def _entry(call: Call, page: str, base_url: Callable[[str], str]) -> dict[str, Any]:
    record = call.record
    request, response = record["request"], record["response"]
    url = record.get("url") or f"{base_url(record['service'])}{call.path}"
    if call.query and "?" not in url:
        url = f"{url}?{call.query}"
    entry: dict[str, Any] = {
        "pageref": page,
        "startedDateTime": call.start.isoformat(),
        "time": call.duration_ms,
        "request": {
            "method": call.method,
            "url": url,
            "httpVersion": "HTTP/1.1",
            "cookies": [],
            "headers": _headers(request["headers"]),
            "queryString": [
                {"name": k, "value": v} for k, v in parse_qsl(call.query, keep_blank_values=True)
            ],
            "headersSize": -1,
            "bodySize": request.get("size", 0),
        },
        "response": {
            "status": call.status or 0,
            "statusText": STATUS_TEXT.get(call.status or 0, ""),
            "httpVersion": "HTTP/1.1",
            "cookies": [],
            "headers": _headers(response["headers"]),
            "content": {
                "size": response.get("size", 0),
                "mimeType": _mime(response["headers"]),
                "text": response.get("body") or "",
            },
            "redirectURL": next((v for k, v in response["headers"].items() if k.lower() == "location"), ""),
            "headersSize": -1,
            "bodySize": response.get("size", 0),
        },
        "cache": {},
        "timings": {"send": 0, "wait": call.duration_ms, "receive": 0},
        "_caller": call.caller,
        "_target": call.target,
        "_traceId": record.get("trace_id"),
        "_notes": call.notes,
        "_truncated": bool(request.get("truncated") or response.get("truncated")),
    }
    if response.get("body_encoding") == "base64":
        entry["response"]["content"]["encoding"] = "base64"
    if request.get("body") is not None:
        entry["request"]["postData"] = {"mimeType": _mime(request["headers"]), "text": request["body"]}
        if request.get("body_encoding") == "base64":
            entry["request"]["postData"]["comment"] = "base64"
    if call.error:
        entry["_error"] = call.error
    return entry


def render(journey: Journey, base_url: Callable[[str], str], title: str | None = None) -> dict[str, Any]:
    """The HAR document; ``base_url(service)`` completes the URLs of inbound records."""
    pages = []
    entries = []
    for section in journey.sections:
        if not section.calls:
            continue
        pages.append(
            {
                "startedDateTime": section.calls[0].start.isoformat(),
                "id": section.trace_id,
                "title": section.title or title or f"trace {section.trace_id}",
                "pageTimings": {},
            }
        )
        for call in (c for root in section.calls for c in root.walk()):
            entries.append(_entry(call, section.trace_id, base_url))
    return {
        "log": {
            "version": "1.2",
            "creator": {"name": "mes-sandbox console", "version": __version__},
            "pages": pages,
            "entries": entries,
        }
    }

"""What travelled in one exchange, opened for a person: FHIR and JSON pretty-printed, the
reason of a refusal, form fields, XML, and the JWTs found anywhere in it (decoded by
:mod:`.tokens`). MIME messages and XDM packages are opened by :mod:`.mime`."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from services.console.journeys.mime import (
    MimeView,
    looks_like_mime,
    open_json_message,
    open_mime,
    open_part,
    pretty_xml,
)

Message = dict[str, Any]


@dataclass
class BodyView:
    """One body, ready to show."""

    kind: str  # empty, json, fhir, form, xml, text, mime, binary
    pretty: str = ""
    size: int = 0
    truncated: bool = False
    content_type: str = ""
    #: FHIR Bundle entries, one line each (``POST DocumentReference → 201``).
    entries: list[str] = field(default_factory=list)
    #: Why an error answer says no: OperationOutcome issues, OAuth or JSON error bodies.
    problems: list[str] = field(default_factory=list)
    form: list[tuple[str, str]] = field(default_factory=list)
    mime: MimeView | None = None
    data: Any = None


def header(message: Message, name: str) -> str:
    return next((v for k, v in message["headers"].items() if k.lower() == name.lower()), "")


def _bundle_entries(bundle: dict[str, Any]) -> list[str]:
    lines = []
    for entry in bundle.get("entry") or []:
        if not isinstance(entry, dict):
            continue
        resource = entry.get("resource") or {}
        request = entry.get("request") or {}
        response = entry.get("response") or {}
        kind = resource.get("resourceType", "") if isinstance(resource, dict) else ""
        parts = [f"{request.get('method', '')} {request.get('url', '')}".strip() or kind]
        if kind and request:
            parts.append(f"({kind})")
        if response:
            parts.append(f"→ {response.get('status', '')} {response.get('location', '')}".rstrip())
        lines.append(" ".join(p for p in parts if p))
    return lines


def problems_of(data: Any) -> list[str]:
    """The reasons an error body gives, whatever the protocol (FHIR, OAuth, JSON)."""
    if not isinstance(data, dict):
        return []
    if data.get("resourceType") == "OperationOutcome":
        out = []
        for issue in data.get("issue") or []:
            where = ", ".join(issue.get("expression") or [])
            text = issue.get("diagnostics") or (issue.get("details") or {}).get("text") or ""
            out.append(
                f"{issue.get('severity', '')} {issue.get('code', '')}: {text}"
                + (f" [{where}]" if where else "")
            )
        return out
    if "error" in data and isinstance(data["error"], str):
        reason = data.get("error_description") or data.get("detail") or ""
        return [f"{data['error']}: {reason}" if reason else data["error"]]
    return []


def view_body(message: Message) -> BodyView:
    body = message.get("body")
    content_type = header(message, "content-type").lower()
    view = BodyView(
        kind="empty",
        size=int(message.get("size") or 0),
        truncated=bool(message.get("truncated")),
        content_type=content_type,
    )
    if body is None or body == "":
        return view
    if message.get("body_encoding") == "base64":
        raw = base64.b64decode(body)
        text = raw.decode("utf-8", errors="replace")
        if "message/rfc822" in content_type or looks_like_mime(text):
            view.kind, view.pretty, view.mime = "mime", text, open_mime(text)
        elif "zip" in content_type:
            view.kind, view.pretty = "binary", _hexdump(raw)
            view.mime = MimeView(parts=[open_part(content_type, None, raw)])
        else:
            view.kind, view.pretty = "binary", _hexdump(raw)
        return view
    if "json" in content_type or body.lstrip()[:1] in ("{", "["):
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if data is not None:
            view.data = data
            view.pretty = json.dumps(data, ensure_ascii=False, indent=2)
            view.kind = "fhir" if isinstance(data, dict) and "resourceType" in data else "json"
            if isinstance(data, dict) and data.get("resourceType") == "Bundle":
                view.entries = _bundle_entries(data)
            view.problems = problems_of(data)
            if isinstance(data, dict) and isinstance(data.get("attachments"), list):
                view.mime = open_json_message(data)
            return view
    if "x-www-form-urlencoded" in content_type:
        view.kind = "form"
        view.form = parse_qsl(body, keep_blank_values=True)
        view.pretty = "\n".join(f"{k} = {v}" for k, v in view.form)
        return view
    if "xml" in content_type or body.lstrip().startswith("<?xml"):
        view.kind, view.pretty = "xml", pretty_xml(body)
        return view
    if "message/rfc822" in content_type or looks_like_mime(body):
        view.kind, view.pretty, view.mime = "mime", body, open_mime(body)
        return view
    view.kind, view.pretty = "text", body
    return view


def _hexdump(data: bytes, limit: int = 512) -> str:
    lines = []
    for offset in range(0, min(len(data), limit), 16):
        chunk = data[offset : offset + 16]
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{offset:08x}  {chunk.hex(' '):<47}  {text}")
    if len(data) > limit:
        lines.append(f"… {len(data) - limit} octets de plus")
    return "\n".join(lines)

"""MIME messages (RFC 5322 / 2045) and IHE XDM packages (ITI TF-1 §16, the
``IHE_XDM.zip`` MSSanté attaches, fr-ecosystem.md §3.2), opened for a person.

Messages come either as MIME text (SMTP, ``message/rfc822``) or as the JSON of
MSSanté's HTTP API (``attachments[].content_base64``). A body cut at the recording limit
still shows its headers; an attachment cut with it is reported, not guessed.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import zipfile
from dataclasses import dataclass, field
from typing import Any

#: Headers worth showing first (the MSSanté ones: fr-ecosystem.md §3.2).
_SHOWN = ("from", "to", "cc", "subject", "date", "message-id", "in-reply-to", "disposition-notification-to")
_HEADER_LINE = re.compile(r"^[A-Za-z][A-Za-z0-9-]*:[ \t]")


@dataclass
class XdmView:
    files: list[tuple[str, int]] = field(default_factory=list)
    metadata: str = ""
    documents: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class PartView:
    content_type: str
    filename: str | None
    size: int
    text: str | None = None
    xdm: XdmView | None = None


@dataclass
class MimeView:
    headers: list[tuple[str, str]] = field(default_factory=list)
    parts: list[PartView] = field(default_factory=list)
    #: An MDN (RFC 8098): the disposition and its fields.
    disposition: list[tuple[str, str]] = field(default_factory=list)
    error: str | None = None


def pretty_xml(text: str) -> str:
    """Indented XML (entities and network access off: the text is untrusted)."""
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True)
    try:
        root = etree.fromstring(text.encode("utf-8"), parser=parser)
    except etree.XMLSyntaxError:
        return text
    return str(etree.tostring(root, pretty_print=True, encoding="unicode"))


def looks_like_mime(text: str) -> bool:
    head = text.lstrip().split("\n", 6)[:6]
    named = [line for line in head if _HEADER_LINE.match(line)]
    lowered = text[:4000].lower()
    return len(named) >= 2 and any(f"\n{h}:" in "\n" + lowered for h in ("from", "subject", "mime-version"))


def open_xdm(data: bytes) -> XdmView:
    view = XdmView()
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        view.error = f"archive illisible ({exc}) : pièce jointe tronquée à l'enregistrement ?"
        return view
    with archive:
        for info in archive.infolist():
            view.files.append((info.filename, info.file_size))
        metadata = next((n for n, _ in view.files if n.upper().endswith("METADATA.XML")), None)
        if metadata:
            raw = archive.read(metadata).decode("utf-8", errors="replace")
            view.metadata = pretty_xml(raw)
            view.documents = re.findall(r'<(?:\w+:)?ExtrinsicObject[^>]*\bid="([^"]+)"', raw)
    return view


def open_part(content_type: str, filename: str | None, payload: bytes) -> PartView:
    """One attachment: its text, or the XDM package inside a zip."""
    part = PartView(content_type=content_type, filename=filename, size=len(payload))
    is_zip = (filename or "").lower().endswith(".zip") or content_type.endswith("zip")
    if is_zip:
        part.xdm = open_xdm(payload)
    elif content_type.startswith("text/") or content_type in ("message/disposition-notification",):
        part.text = payload.decode("utf-8", errors="replace")[:8000]
    return part


def open_mime(text: str) -> MimeView:
    # email.policy is imported here: the console does not pay for it at start-up.
    from email import message_from_string, policy
    from email.message import EmailMessage

    view = MimeView()
    try:
        message = message_from_string(text, policy=policy.default)
    except (ValueError, TypeError) as exc:  # pragma: no cover - the parser is lenient
        view.error = str(exc)
        return view
    assert isinstance(message, EmailMessage)
    for name, value in message.items():
        if name.lower() in _SHOWN or name.lower().startswith("x-mss"):
            view.headers.append((name, str(value)))
    for leaf in message.walk():
        if leaf.is_multipart():
            continue
        try:
            payload = leaf.get_payload(decode=True)
        except (ValueError, binascii.Error):
            payload = None
        data = payload if isinstance(payload, bytes) else b""
        content_type = leaf.get_content_type()
        view.parts.append(open_part(content_type, leaf.get_filename(), data))
        if content_type == "message/disposition-notification":
            for line in data.decode("utf-8", errors="replace").splitlines():
                name, sep, value = line.partition(":")
                if sep:
                    view.disposition.append((name.strip(), value.strip()))
    return view


def open_json_message(data: dict[str, Any]) -> MimeView:
    """MSSanté's JSON message (contract 5): its fields and attachments."""
    view = MimeView()
    for name in ("from", "to", "cc", "subject", "in_reply_to", "message_id"):
        value = data.get(name)
        if value:
            view.headers.append((name, ", ".join(value) if isinstance(value, list) else str(value)))
    for name, value in (data.get("headers") or {}).items():
        view.headers.append((str(name), str(value)))
    for attachment in data.get("attachments") or []:
        if not isinstance(attachment, dict):
            continue
        try:
            payload = base64.b64decode(attachment.get("content_base64") or "", validate=False)
        except (binascii.Error, ValueError):
            payload = b""
        view.parts.append(
            open_part(str(attachment.get("content_type") or ""), attachment.get("filename"), payload)
        )
    return view

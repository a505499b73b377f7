"""Reading a mailbox: list, search, read, flag, delete (the HTTP API's side of the store)."""

from __future__ import annotations

import datetime as dt
from email import policy
from email.parser import BytesParser

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from services.mss.errors import NotFoundError
from services.mss.mail import mime
from services.mss.models import Message

FOLDERS = ("INBOX", "Sent")


def query(
    address: str,
    *,
    folder: str | None = "INBOX",
    unread: bool | None = None,
    sender: str | None = None,
    subject: str | None = None,
    thread: str | None = None,
    message_id: str | None = None,
    since: dt.datetime | None = None,
) -> Select[Message]:
    stmt = select(Message).where(Message.mailbox == address, Message.deleted.is_(False))
    if folder:
        stmt = stmt.where(Message.folder == folder)
    if unread is not None:
        stmt = stmt.where(Message.seen.is_(not unread))
    if sender:
        stmt = stmt.where(Message.sender.contains(sender.lower()))
    if subject:
        stmt = stmt.where(Message.subject.contains(subject))
    if thread:
        stmt = stmt.where(Message.thread == thread)
    if message_id:
        stmt = stmt.where(Message.message_id == message_id)
    if since:
        stmt = stmt.where(Message.received_at >= since)
    return stmt


def search(
    session: Session, stmt: Select[Message], text: str | None, limit: int, offset: int
) -> list[Message]:
    """Newest first; ``text`` also looks into the sender, recipients and the text body."""
    stmt = stmt.order_by(Message.received_at.desc(), Message.uid.desc())
    if not text:
        return list(session.scalars(stmt.limit(limit).offset(offset)))
    needle = text.lower()
    rows = session.scalars(stmt)
    found = [row for row in rows if _matches(row, needle)]
    return found[offset : offset + limit]


def _matches(row: Message, needle: str) -> bool:
    if needle in row.subject.lower() or needle in row.sender or any(needle in a for a in (*row.to, *row.cc)):
        return True
    try:
        return needle in mime.parse(row.raw).body.lower()
    except mime.MalformedMessage:
        return False


def get(session: Session, address: str, message: str) -> Message:
    """A message of ``address`` by its id or its Message-ID (404 otherwise)."""
    column = Message.message_id if message.startswith("<") else Message.id
    row = session.scalars(
        select(Message).where(Message.mailbox == address, column == message, Message.deleted.is_(False))
    ).first()
    if row is None:
        raise NotFoundError(f"no message {message} in {address}", error="unknown_message")
    return row


def headers_and_body(row: Message) -> tuple[list[tuple[str, str]], str, list[mime.Attachment]]:
    parsed = mime.parse(row.raw)
    message = BytesParser(policy=policy.default).parsebytes(row.raw)
    return [(k, str(v)) for k, v in message.items()], parsed.body, parsed.attachments

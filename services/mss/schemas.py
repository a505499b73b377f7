"""Pydantic shapes of MSSanté's JSON bodies."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class MailboxOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    address: str
    type: str
    display_name: str


class AttachmentIn(BaseModel):
    filename: str = Field(..., min_length=1, max_length=255)
    content_type: str = Field("application/octet-stream", pattern=r"^[\w.+-]+/[\w.+-]+$")
    content_base64: str


class MessageIn(BaseModel):
    """Contract 5: a message posted as JSON (``POST /api/messages``)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    sender: str = Field(..., alias="from", description="a mailbox the caller may send from")
    to: list[str] = Field(default_factory=list)
    cc: list[str] = Field(default_factory=list)
    subject: str = ""
    body: str = ""
    attachments: list[AttachmentIn] = Field(default_factory=list)
    headers: dict[str, str] = Field(default_factory=dict)
    in_reply_to: str | None = Field(None, description="the id or the Message-ID of the message replied to")


class SentOut(BaseModel):
    id: str = Field(..., description="the message in the sender's Sent folder")
    message_id: str
    thread: str
    sender: str
    recipients: list[str]
    acknowledgements: list[str] = Field(default_factory=list, description="Message-IDs of the MDNs sent back")


class AttachmentOut(BaseModel):
    index: int
    filename: str
    content_type: str
    size: int


class MessageSummary(BaseModel):
    id: str
    mailbox: str
    folder: str
    uid: int
    message_id: str
    thread: str
    in_reply_to: str | None
    sender: str
    to: list[str]
    cc: list[str]
    subject: str
    received_at: dt.datetime
    size: int
    seen: bool
    flagged: bool
    answered: bool
    attachments: list[AttachmentOut]


class MessageDetail(MessageSummary):
    headers: list[tuple[str, str]]
    body: str


class FlagsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seen: bool | None = None
    flagged: bool | None = None


class PasswordOut(BaseModel):
    address: str
    password: str
    usage: str


def summary_of(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "mailbox": row.mailbox,
        "folder": row.folder,
        "uid": row.uid,
        "message_id": row.message_id,
        "thread": row.thread,
        "in_reply_to": row.in_reply_to,
        "sender": row.sender,
        "to": row.to,
        "cc": row.cc,
        "subject": row.subject,
        "received_at": row.received_at,
        "size": row.size,
        "seen": row.seen,
        "flagged": row.flagged,
        "answered": row.answered,
        "attachments": [{"index": i, **a} for i, a in enumerate(row.attachments)],
    }

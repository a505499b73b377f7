"""MSSanté's errors: the platform's hierarchy, each with its SMTP reply (RFC 5321 §4.2,
enhanced status codes of RFC 3463), so that HTTP and SMTP refuse the same things alike."""

from __future__ import annotations

from typing import ClassVar

from shared.errors import (
    BadRequestError,
    ForbiddenError,
    NotFoundError,
    PayloadTooLargeError,
    SandboxError,
    UnprocessableError,
)

__all__ = [
    "BadAddressError",
    "BadRequestError",
    "ForbiddenError",
    "MalformedMessageError",
    "MessageTooLargeError",
    "NotFoundError",
    "ReplyOnlyError",
    "SenderRefusedError",
    "UnknownRecipientError",
    "smtp_reply",
]


class MalformedMessageError(BadRequestError):
    error = "malformed_message"
    smtp: ClassVar[str] = "554 5.6.0"


class BadAddressError(BadRequestError):
    error = "bad_address"
    smtp: ClassVar[str] = "553 5.1.3"


class UnknownRecipientError(UnprocessableError):
    error = "unknown_recipient"
    smtp: ClassVar[str] = "550 5.1.1"


class SenderRefusedError(ForbiddenError):
    error = "sender_refused"
    smtp: ClassVar[str] = "550 5.7.1"


class ReplyOnlyError(ForbiddenError):
    """A patient may only reply to a conversation a professional started."""

    error = "reply_only"
    smtp: ClassVar[str] = "550 5.7.1"


class MessageTooLargeError(PayloadTooLargeError):
    error = "message_too_large"
    smtp: ClassVar[str] = "552 5.3.4"


def smtp_reply(exc: SandboxError) -> str:
    """The SMTP reply line of an error raised by the delivery path."""
    code = getattr(exc, "smtp", None)
    if code is None:
        code = {401: "535 5.7.8", 403: "550 5.7.1", 404: "550 5.1.1", 413: "552 5.3.4"}.get(
            exc.status_code, "554 5.0.0" if exc.status_code < 500 else "451 4.3.0"
        )
    detail = " ".join(exc.detail.split())[:400]
    return f"{code} {detail}"

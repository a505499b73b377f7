"""Pro Santé Connect's errors: OAuth bodies on the protocol endpoints, French HTML pages on
the login and e-CPS pages, ``{"error", "detail"}`` on ``/_sandbox/``."""

from __future__ import annotations

from shared.errors import (
    ConflictError,
    InvalidClientError,
    LockedError,
    NotFoundError,
    OAuthError,
    SandboxError,
)

__all__ = [
    "CommitThenRaise",
    "ConflictError",
    "InvalidClientError",
    "LockedError",
    "NotFoundError",
    "OAuthError",
    "PageError",
]


class PageError(SandboxError):
    """An error shown to a person on a server-rendered page (in French), not to software.

    RFC 6749 §4.1.2.1: when the client or its redirect URI cannot be trusted, the error is
    shown to the user instead of being sent back to the client.
    """

    status = 400
    error = "invalid_request"
    fhir_code = "invalid"

    def __init__(self, title: str, detail: str, *, status: int = 400) -> None:
        super().__init__(detail, status=status)
        self.title = title


class CommitThenRaise(Exception):
    """Raised inside a write transaction whose changes must land although the request fails
    (a reused code revokes its grant, a too-fast CIBA poll is recorded); the transaction
    runner commits, then raises ``error``."""

    def __init__(self, error: SandboxError) -> None:
        super().__init__(error.detail)
        self.error = error

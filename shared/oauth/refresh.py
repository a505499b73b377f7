"""Refresh tokens as opaque handles, rotated on every use (RFC 6749 §6, RFC 9700 §4.14.2).

The server stores only a hash of each handle. Every refresh returns a new handle and marks
the one presented as rotated; presenting a rotated handle again means it leaked (either
the client or an attacker holds a copy), so the whole family of the grant is revoked and
the request refused. These functions are the protocol's part of that; the storage is the
authorization server's.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from shared.errors import OAuthError


def token_hash(token: str) -> str:
    """What is stored for an opaque token (codes, refresh tokens): its SHA-256, in hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_handle(nbytes: int = 32) -> tuple[str, str]:
    """A new opaque handle and the hash to store for it."""
    handle = secrets.token_urlsafe(nbytes)
    return handle, token_hash(handle)


@dataclass(frozen=True)
class RefreshState:
    """What the server knows of a presented refresh token."""

    client_id: str
    expires_at: dt.datetime
    rotated_at: dt.datetime | None
    revoked_at: dt.datetime | None


class RefreshTokenReused(OAuthError):
    """A rotated refresh token came back: revoke the grant's whole family, then refuse."""

    def __init__(self) -> None:
        super().__init__(
            "invalid_grant", "refresh token already used: the grant is revoked (refresh token reuse)"
        )


def check_refresh(state: RefreshState | None, client_id: str, now: dt.datetime) -> None:
    """§6: the token must exist, belong to the authenticated client and still be usable."""
    if state is None:
        raise OAuthError("invalid_grant", "unknown refresh token")
    if state.client_id != client_id:
        raise OAuthError("invalid_grant", "the refresh token was issued to another client")
    if state.revoked_at is not None:
        raise OAuthError("invalid_grant", "the refresh token has been revoked")
    if state.rotated_at is not None:
        raise RefreshTokenReused()
    if state.expires_at <= now:
        raise OAuthError("invalid_grant", "the refresh token has expired")


def narrowed_scope(requested: str | None, granted: str) -> str:
    """§6: "The requested scope MUST NOT include any scope not originally granted by the
    resource owner, and if omitted is treated as equal to the scope originally granted"."""
    if requested is None or not requested.strip():
        return granted
    extra = set(requested.split()) - set(granted.split())
    if extra:
        raise OAuthError("invalid_scope", f"scope beyond the original grant: {' '.join(sorted(extra))}")
    return " ".join(requested.split())

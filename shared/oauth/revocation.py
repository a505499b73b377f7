"""Token revocation (RFC 7009).

§2.1: the client authenticates, names the ``token`` and may hint its type; the server
checks that the token was issued to that client. §2.2: the answer is 200 whether or not
the token was valid ("invalid tokens do not cause an error response"), since the client
cannot do anything about it. Revoking a refresh token should revoke the access tokens of
the same grant, and revoking an access token may revoke its refresh token.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from shared.errors import OAuthError

TokenTypeHint = Literal["access_token", "refresh_token"]
HINTS: tuple[str, ...] = ("access_token", "refresh_token")


@dataclass(frozen=True)
class RevocationRequest:
    token: str
    #: ``None`` when absent or not one of ours: §2.1 lets the server ignore the hint and
    #: search all its tokens.
    hint: TokenTypeHint | None


def revocation_request(form: Mapping[str, str]) -> RevocationRequest:
    token = form.get("token")
    if not token:
        raise OAuthError("invalid_request", "the token parameter is required (RFC 7009 §2.1)")
    hint = form.get("token_type_hint")
    known: TokenTypeHint | None = None
    if hint == "access_token":
        known = "access_token"
    elif hint == "refresh_token":
        known = "refresh_token"
    return RevocationRequest(token=token, hint=known)


def check_owner(token_client_id: str, caller_client_id: str) -> None:
    """§2.1: "verifies whether the token was issued to the client making the revocation
    request. If this validation fails, the request is refused" (``unauthorized_client``)."""
    if token_client_id != caller_client_id:
        raise OAuthError("unauthorized_client", "the token was not issued to this client")

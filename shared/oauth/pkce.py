"""Proof Key for Code Exchange (RFC 7636)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from shared.errors import OAuthError

# §4.1: 43 to 128 characters of [A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~".
_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
METHODS = ("S256",)


def s256(verifier: str) -> str:
    """§4.2: BASE64URL-ENCODE(SHA256(ASCII(code_verifier)))."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def check_challenge(challenge: str | None, method: str | None) -> None:
    """At the authorization endpoint: only S256 (§4.3: "plain" is refused here)."""
    if challenge is None:
        return
    if (method or "plain") not in METHODS:
        raise OAuthError("invalid_request", "code_challenge_method must be S256")
    if not re.fullmatch(r"[A-Za-z0-9\-_]{43}", challenge):
        raise OAuthError("invalid_request", "code_challenge is not a base64url SHA-256")


def verify(verifier: str | None, challenge: str | None) -> None:
    """At the token endpoint (§4.6): the verifier must hash to the stored challenge."""
    if challenge is None:
        if verifier is not None:
            raise OAuthError("invalid_grant", "code_verifier sent but no code_challenge was")
        return
    if verifier is None:
        raise OAuthError("invalid_grant", "code_verifier is required (PKCE)")
    if not _VERIFIER.match(verifier):
        raise OAuthError("invalid_grant", "code_verifier is malformed (RFC 7636 §4.1)")
    if not hmac.compare_digest(s256(verifier), challenge):
        raise OAuthError("invalid_grant", "code_verifier does not match the code_challenge")

"""Pieces of an authorization server that do not depend on who its users are.

Token lifetimes and ids, the JWT access tokens' registered claims (RFC 9068 §2.2), and
introspection answers (RFC 7662 §2.2) for tokens the server signed itself.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Iterable
from typing import Any

from jose import JWTError, jwt

from shared.oauth.keys import ASYMMETRIC_ALGORITHMS, key_object, public_jwk


def new_jti() -> str:
    return str(uuid.uuid4())


def opaque_token(nbytes: int = 32) -> str:
    """Authorization codes, refresh-token handles, device codes: unguessable strings."""
    return secrets.token_urlsafe(nbytes)


def registered_claims(
    *, issuer: str, subject: str, audience: str | list[str], lifetime: int, client_id: str, scope: str
) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": issuer,
        "sub": subject,
        "aud": audience,
        "exp": now + lifetime,
        "iat": now,
        "nbf": now,
        "jti": new_jti(),
        "azp": client_id,
        "client_id": client_id,
        "scope": scope,
    }


# Only the signature and the issuer are left to python-jose: ``aud`` is each resource
# server's to check, and time is checked below against the caller's clock (a sandbox clock
# can be moved in tests).
_DECODE_OPTIONS = {
    "verify_aud": False,
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
    "verify_at_hash": False,
}


def decode_own(
    token: str,
    keys: Iterable[dict[str, Any]],
    issuer: str,
    *,
    now: float | None = None,
    allow_expired: bool = False,
) -> dict[str, Any] | None:
    """The claims of a token this server signed with one of ``keys``; ``None`` when it did
    not (wrong key, forged, ``alg=none``, HS256 keyed with a public key...) or when it is
    expired (at ``now``, default the system time) or not yet valid: introspection then says
    inactive. ``allow_expired`` accepts an expired one (an ``id_token_hint`` at logout)."""
    try:
        header = jwt.get_unverified_header(token)
    except JWTError:
        return None
    alg, kid = header.get("alg"), header.get("kid")
    if alg not in ASYMMETRIC_ALGORITHMS or not isinstance(kid, str):
        return None
    key = next((k for k in keys if k["kid"] == kid and k["alg"] == alg), None)
    if key is None:
        return None
    try:
        claims: dict[str, Any] = jwt.decode(
            token, key_object(public_jwk(key)), algorithms=[alg], issuer=issuer, options=_DECODE_OPTIONS
        )
    except JWTError:
        return None
    at = time.time() if now is None else now
    exp, nbf = claims.get("exp"), claims.get("nbf", 0)
    if not isinstance(exp, int | float) or (not allow_expired and exp <= at):
        return None
    if not isinstance(nbf, int | float) or nbf > at:
        return None
    return claims


def introspection_response(claims: dict[str, Any] | None, *, token_type: str = "Bearer") -> dict[str, Any]:
    """RFC 7662 §2.2: ``{"active": false}`` and nothing else for an inactive token."""
    if claims is None:
        return {"active": False}
    return {**claims, "active": True, "token_type": token_type}

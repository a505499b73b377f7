"""Bearer tokens in requests (RFC 6750 §2.1: the ``Authorization`` header only)."""

from __future__ import annotations

from starlette.requests import Request

from shared.errors import InvalidTokenError, UnauthorizedError, bearer_challenge


def bearer_token(request: Request) -> str:
    """The bearer token of ``request``; a 401 with the RFC 6750 challenge when absent."""
    header = request.headers.get("authorization")
    if not header:
        raise UnauthorizedError(
            "this endpoint needs an access token (Authorization: Bearer ...)",
            headers={"WWW-Authenticate": 'Bearer realm="mes-sandbox"'},
        )
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidTokenError("the Authorization header must be 'Bearer <token>'")
    return token.strip()


__all__ = ["bearer_challenge", "bearer_token"]

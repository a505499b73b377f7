"""JWT client assertions: ``client_secret_jwt`` and ``private_key_jwt`` (RFC 7523 §2.2, §3;
OpenID Connect Core 1.0 §9).

The client signs a short JWT about itself: ``iss`` = ``sub`` = its ``client_id``, ``aud``
= the authorization server (its token endpoint, or its issuer), ``exp``, and a ``jti`` that
the server accepts only once. With ``client_secret_jwt`` it is an HMAC keyed with the client
secret; with ``private_key_jwt`` a signature checked against the client's registered JWKS.

This module checks everything that can be checked from the assertion alone and returns
the ``jti`` and ``exp`` for the server to record (replay detection needs its storage).
Every failure is ``invalid_client`` (RFC 6749 §5.2).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from jose import JWTError, jwk, jws
from jose.exceptions import JOSEError

from shared.errors import InvalidClientError
from shared.oauth.keys import ASYMMETRIC_ALGORITHMS

#: client_secret_jwt: "The HMAC ... algorithm MUST be one of HS256, HS384, HS512" (OIDC §9).
HMAC_ALGORITHMS: tuple[str, ...] = ("HS256", "HS384", "HS512")
#: private_key_jwt: the asymmetric algorithms the sandbox verifies anywhere.
SIGNATURE_ALGORITHMS: tuple[str, ...] = ASYMMETRIC_ALGORITHMS
#: An assertion meant to live longer than this is refused (a replayable credential).
MAX_LIFETIME = 3600


@dataclass(frozen=True)
class VerifiedAssertion:
    client_id: str
    jti: str
    exp: int


def _header(assertion: str) -> dict[str, Any]:
    if assertion.count(".") != 2:
        raise InvalidClientError("client_assertion is not a signed JWT")
    try:
        header: dict[str, Any] = jws.get_unverified_header(assertion)
    except (JWTError, JOSEError) as exc:
        raise InvalidClientError("client_assertion is malformed") from exc
    return header


def _check_signature(assertion: str, alg: str, key: Any) -> bytes:
    try:
        payload: bytes = jws.verify(assertion, key, algorithms=[alg])
    except (JWTError, JOSEError, ValueError, TypeError) as exc:
        raise InvalidClientError("the client_assertion signature does not verify") from exc
    return payload


def _keys_for(jwks: dict[str, Any], alg: str, kid: str | None) -> list[dict[str, Any]]:
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list):
        raise InvalidClientError("the client has no usable JWKS registered")
    matching = [
        k
        for k in keys
        if isinstance(k, dict)
        and (kid is None or k.get("kid") == kid)
        and k.get("alg", alg) == alg
        and k.get("use", "sig") == "sig"
    ]
    if not matching:
        raise InvalidClientError("no registered key of the client matches the client_assertion (kid, alg)")
    return matching


def verify_client_assertion(
    assertion: str,
    *,
    client_id: str,
    audiences: Sequence[str],
    now: float,
    secret: str | None = None,
    jwks: dict[str, Any] | None = None,
    leeway: int = 30,
) -> VerifiedAssertion:
    """Check ``assertion`` for ``client_id``: with ``secret`` (client_secret_jwt) or with
    ``jwks`` (private_key_jwt), exactly one of the two. ``audiences`` are the values ``aud``
    may take (RFC 7523 §3 item 3: the token endpoint URL; OIDC §9 also allows the issuer)."""
    header = _header(assertion)
    alg = header.get("alg")
    if secret is not None:
        if alg not in HMAC_ALGORITHMS:
            raise InvalidClientError(f"client_secret_jwt needs an HMAC algorithm, not {alg!r}")
        payload = _check_signature(assertion, str(alg), secret.encode("utf-8"))
    elif jwks is not None:
        if alg not in SIGNATURE_ALGORITHMS:
            raise InvalidClientError(f"private_key_jwt needs one of {', '.join(SIGNATURE_ALGORITHMS)}")
        payload = b""
        failure: InvalidClientError | None = None
        for key in _keys_for(jwks, str(alg), header.get("kid")):
            try:
                payload = _check_signature(assertion, str(alg), jwk.construct(key, str(alg)))
                failure = None
                break
            except InvalidClientError as exc:
                failure = exc
            except (JOSEError, ValueError, TypeError) as exc:
                failure = InvalidClientError(f"a registered key of the client is unusable: {exc}")
        if failure is not None or not payload:
            raise failure or InvalidClientError("the client_assertion signature does not verify")
    else:
        raise InvalidClientError("the client has neither a secret nor keys to check an assertion with")
    return _check_claims(_claims(payload), client_id, audiences, now, leeway)


def _claims(payload: bytes) -> dict[str, Any]:
    try:
        claims = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidClientError("client_assertion: the claims are not JSON") from exc
    if not isinstance(claims, dict):
        raise InvalidClientError("client_assertion: the claims are not a JSON object")
    return claims


def _check_claims(
    claims: dict[str, Any], client_id: str, audiences: Sequence[str], now: float, leeway: int
) -> VerifiedAssertion:
    """RFC 7523 §3: iss and sub are the client, aud names us, exp is in the future."""
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        raise InvalidClientError("client_assertion: iss and sub must both be the client_id")
    aud = claims.get("aud")
    values = aud if isinstance(aud, list) else [aud]
    if not any(isinstance(v, str) and v.rstrip("/") in {a.rstrip("/") for a in audiences} for v in values):
        raise InvalidClientError("client_assertion: aud must be this server's token endpoint or issuer")
    exp = claims.get("exp")
    if not isinstance(exp, int | float):
        raise InvalidClientError("client_assertion: exp is required")
    if exp + leeway < now:
        raise InvalidClientError("client_assertion has expired")
    if exp - now > MAX_LIFETIME:
        raise InvalidClientError(f"client_assertion must expire within {MAX_LIFETIME} s")
    nbf = claims.get("nbf")
    if isinstance(nbf, int | float) and nbf - leeway > now:
        raise InvalidClientError("client_assertion is not valid yet (nbf)")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti:
        raise InvalidClientError("client_assertion: jti is required (replay protection)")
    return VerifiedAssertion(client_id=client_id, jti=jti, exp=int(exp))

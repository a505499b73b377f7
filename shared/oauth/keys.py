"""Signing keys as JWKs, the published JWKS, and signing (RFC 7517, RFC 7518 §3, RFC 7638).

Keys are stored by the authorization servers as private JWK dicts (in their database, so
that a restart, a reset or a snapshot keeps tokens verifiable); this module builds the
crypto objects once and caches them, since constructing an RSA key is costly.
"""

from __future__ import annotations

import base64
import hashlib
import json
from functools import lru_cache
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jose import jwk, jws
from jose.backends.base import Key

Algorithm = Literal["RS256", "ES256"]
#: The only algorithms the sandbox signs with or accepts for its tokens: never "none",
#: never HS* with a public key (the "algorithm confusion" attack).
ASYMMETRIC_ALGORITHMS: tuple[str, ...] = ("RS256", "ES256")

_PUBLIC_MEMBERS = {"RSA": ("kty", "n", "e"), "EC": ("kty", "crv", "x", "y")}


def _b64(value: int, length: int | None = None) -> str:
    raw = value.to_bytes(length or (value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def thumbprint(public: dict[str, Any]) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url): the ``kid`` of our keys."""
    members = {k: public[k] for k in _PUBLIC_MEMBERS[public["kty"]]}
    digest = hashlib.sha256(json.dumps(members, separators=(",", ":"), sort_keys=True).encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def generate_jwk(alg: Algorithm) -> dict[str, Any]:
    """A new private JWK for ``alg`` (RSA 2048 for RS256, P-256 for ES256), with its kid."""
    data: dict[str, Any]
    if alg == "RS256":
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        numbers = private.private_numbers()
        public = numbers.public_numbers
        data = {
            "kty": "RSA",
            "n": _b64(public.n),
            "e": _b64(public.e),
            "d": _b64(numbers.d),
            "p": _b64(numbers.p),
            "q": _b64(numbers.q),
            "dp": _b64(numbers.dmp1),
            "dq": _b64(numbers.dmq1),
            "qi": _b64(numbers.iqmp),
        }
    elif alg == "ES256":
        ec_private = ec.generate_private_key(ec.SECP256R1())
        ec_numbers = ec_private.private_numbers()
        data = {
            "kty": "EC",
            "crv": "P-256",
            "x": _b64(ec_numbers.public_numbers.x, 32),
            "y": _b64(ec_numbers.public_numbers.y, 32),
            "d": _b64(ec_numbers.private_value, 32),
        }
    else:
        raise ValueError(f"unsupported signing algorithm {alg!r} (use RS256 or ES256)")
    data.update({"alg": alg, "use": "sig", "kid": thumbprint(data)})
    return data


def public_jwk(private: dict[str, Any]) -> dict[str, Any]:
    """The public half of a JWK, as published at the JWKS endpoint."""
    members = _PUBLIC_MEMBERS[private["kty"]]
    public = {k: private[k] for k in members}
    public.update({"kid": private["kid"], "alg": private["alg"], "use": "sig"})
    return public


@lru_cache(maxsize=64)
def _key_object(serialised: str) -> Key:
    data = json.loads(serialised)
    return jwk.construct(data, data["alg"])


def key_object(jwk_dict: dict[str, Any]) -> Key:
    """A cached python-jose key for a JWK dict (private or public)."""
    return _key_object(json.dumps(jwk_dict, sort_keys=True))


def sign(claims: dict[str, Any], private: dict[str, Any], *, typ: str = "JWT") -> str:
    """A compact JWS of ``claims`` with the key's ``alg`` and ``kid`` in the header."""
    headers = {"kid": private["kid"], "typ": typ}
    token: str = jws.sign(claims, key_object(private), headers=headers, algorithm=private["alg"])
    return token

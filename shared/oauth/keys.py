"""Signing keys as JWKs, the published JWKS, and signing (RFC 7517, RFC 7518 §3, RFC 7638).

Keys are stored by the authorization servers as private JWK dicts (in their database, so
that a restart, a reset or a snapshot keeps tokens verifiable); this module builds the
crypto objects once and caches them, since constructing an RSA key is costly.

Signing goes to ``cryptography`` directly, not through python-jose: every token endpoint
call signs one to three tokens, and python-jose re-serialised the whole private JWK to find
its cached key and rebuilt the constant header for each one (about a third of an ES256
signature's cost). The compact JWS it makes is byte for byte python-jose's (same header
and payload serialisation); verifying stays with python-jose (``shared/oauth/server.py``).
"""

from __future__ import annotations

import base64
import hashlib
import json
from functools import lru_cache
from typing import Any, Literal

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from jose import jwk
from jose.backends.base import Key

from shared import jsoncodec

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


def _int(value: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")


def _b64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


class Signer:
    """One private JWK ready to sign compact JWS (RFC 7515 §7.1) with its ``alg`` and
    ``kid``: the ``cryptography`` key is built once, the encoded header once per ``typ``."""

    def __init__(self, private: dict[str, Any]) -> None:
        self.alg: str = private["alg"]
        self.kid: str = private["kid"]
        self._headers: dict[str, bytes] = {}
        if private["kty"] == "RSA":
            public = rsa.RSAPublicNumbers(_int(private["e"]), _int(private["n"]))
            self._rsa: rsa.RSAPrivateKey | None = rsa.RSAPrivateNumbers(
                _int(private["p"]),
                _int(private["q"]),
                _int(private["d"]),
                _int(private["dp"]),
                _int(private["dq"]),
                _int(private["qi"]),
                public,
            ).private_key()
            self._ec: ec.EllipticCurvePrivateKey | None = None
        elif private["kty"] == "EC" and private.get("crv") == "P-256":
            point = ec.EllipticCurvePublicNumbers(_int(private["x"]), _int(private["y"]), ec.SECP256R1())
            self._ec = ec.EllipticCurvePrivateNumbers(_int(private["d"]), point).private_key()
            self._rsa = None
        else:
            raise ValueError(f"unsupported signing key {private.get('kty')!r} (use RS256 or ES256)")
        if self.alg not in ASYMMETRIC_ALGORITHMS:
            raise ValueError(f"unsupported signing algorithm {self.alg!r} (use RS256 or ES256)")

    def _header(self, typ: str) -> bytes:
        encoded = self._headers.get(typ)
        if encoded is None:
            # python-jose's serialisation: sorted keys, no spaces.
            header = {"alg": self.alg, "kid": self.kid, "typ": typ}
            encoded = _b64url(json.dumps(header, separators=(",", ":"), sort_keys=True).encode())
            self._headers[typ] = encoded
        return encoded

    def _signature(self, signing_input: bytes) -> bytes:
        if self._rsa is not None:  # RFC 7518 §3.3: RSASSA-PKCS1-v1_5 with SHA-256
            return self._rsa.sign(signing_input, _PKCS1V15, _SHA256)
        assert self._ec is not None
        # RFC 7518 §3.4: ECDSA P-256 SHA-256, R and S as 32-byte big-endian, not DER.
        r, s = decode_dss_signature(self._ec.sign(signing_input, _ECDSA_SHA256))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def sign(self, claims: dict[str, Any], typ: str = "JWT") -> str:
        # Compact UTF-8 (orjson): a JSON text as valid as python-jose's ASCII-escaped one,
        # in a fifth of the time (two to three tokens per code exchange).
        payload = _b64url(jsoncodec.dumps(claims))
        signing_input = self._header(typ) + b"." + payload
        return (signing_input + b"." + _b64url(self._signature(signing_input))).decode("ascii")


_PKCS1V15 = padding.PKCS1v15()
_SHA256 = hashes.SHA256()
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())


#: Signers by (kid, alg, private member); a handful of keys live at a time (rotations).
_SIGNERS: dict[tuple[str, str, str], Signer] = {}


def signer(private: dict[str, Any]) -> Signer:
    """The cached :class:`Signer` of a private JWK, found by its kid (the thumbprint of its
    public key), alg and private member: strings whose hashes Python keeps, so that a
    lookup costs nothing like serialising the JWK."""
    key = (private["kid"], private["alg"], private["d"])
    found = _SIGNERS.get(key)
    if found is None:
        if len(_SIGNERS) >= 64:
            _SIGNERS.clear()
        found = _SIGNERS[key] = Signer(private)
    return found


def sign(claims: dict[str, Any], private: dict[str, Any], *, typ: str = "JWT") -> str:
    """A compact JWS of ``claims`` with the key's ``alg`` and ``kid`` in the header."""
    return signer(private).sign(claims, typ)

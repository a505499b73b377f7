"""Tokens that must never pass: forged, expired, ``alg=none``, signed with another key, or
HS256 keyed with the public key (algorithm confusion). Refused by introspection (RFC 7662)
and by the verifying helper the other services use (``shared/oauth/verify.py``)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from shared.errors import InvalidTokenError
from shared.oauth.keys import generate_jwk, key_object, public_jwk, sign
from shared.oauth.verify import TokenVerifier, VerifierConfig
from tests.psc_auth.support import CERTS, DMP_SERVICE, INTROSPECT, claims_of, introspect
from tests.support import Sandbox

pytestmark = pytest.mark.db

ISSUER_PATH = "/auth/realms/esante-wallet"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())


def _private_key(sb: Sandbox, kid: str) -> dict[str, Any]:
    """PSC's own private key, from its snapshot: to forge tokens a real attacker cannot."""
    rows = sb.admin("psc_auth", "GET", "snapshot").json()["tables"]["signing_keys"]
    key: dict[str, Any] = next(r["private_jwk"] for r in rows if r["kid"] == kid)
    return key


@pytest.fixture
def genuine(sb: Sandbox) -> str:
    return sb.psc_token("jeanne-martin")


def _forgeries(sb: Sandbox, genuine: str) -> dict[str, str]:
    from jose import jwt

    header = jwt.get_unverified_header(genuine)
    claims = claims_of(genuine)
    ours = _private_key(sb, header["kid"])
    public = public_jwk(ours)
    head, _payload, signature = genuine.split(".")
    tampered = _b64(json.dumps({**claims, "SubjectNameID": "899700223011"}).encode())
    pem = key_object(public).to_pem()
    hs256_header = {"alg": "HS256", "kid": header["kid"], "typ": "JWT"}
    confused_input = _unsigned(hs256_header, claims)
    confused = confused_input + "." + _b64(hmac.new(pem, confused_input.encode(), hashlib.sha256).digest())
    other = generate_jwk("RS256")
    now = int(time.time())
    return {
        "tampered payload": f"{head}.{tampered}.{signature}",
        "alg none": _unsigned({"alg": "none", "kid": header["kid"]}, claims) + ".",
        "alg none, no signature part": _unsigned({"alg": "none"}, claims),
        "HS256 keyed with the public key": confused,
        "another key, same kid": sign(claims, {**other, "kid": header["kid"]}),
        "another key, its own kid": sign(claims, other),
        "expired, our key": sign({**claims, "iat": now - 900, "exp": now - 600}, ours),
        "another issuer, our key": sign(
            {**claims, "iss": "https://evil.example/auth/realms/esante-wallet"}, ours
        ),
        "garbage": "not.a.jwt",
    }


@pytest.fixture
def verifier(sb: Sandbox) -> Iterator[TokenVerifier]:
    base = sb.url("psc_auth")
    config = VerifierConfig(
        issuer=base + ISSUER_PATH,
        jwks_url=base + CERTS,
        audience="dmp",
        introspection_url=base + INTROSPECT,
        client_id=DMP_SERVICE[0],
        client_secret=DMP_SERVICE[1],
    )
    with httpx.Client(timeout=10) as client:
        yield TokenVerifier(config, client)


def test_the_genuine_token_passes_both(sb: Sandbox, genuine: str, verifier: TokenVerifier) -> None:
    assert introspect(sb, genuine)["active"] is True
    assert verifier.verify(genuine)["SubjectNameID"] == "899700112545"


def test_every_forgery_is_inactive_at_introspection(sb: Sandbox, genuine: str) -> None:
    for name, token in _forgeries(sb, genuine).items():
        assert introspect(sb, token) == {"active": False}, name


def test_every_forgery_is_refused_by_the_verifying_helper(
    sb: Sandbox, genuine: str, verifier: TokenVerifier
) -> None:
    for name, token in _forgeries(sb, genuine).items():
        with pytest.raises(InvalidTokenError):
            verifier.verify(token)
        # Without introspection too: the signature check alone refuses them.
        offline = TokenVerifier(
            VerifierConfig(issuer=verifier.config.issuer, jwks_url=verifier.config.jwks_url, audience="dmp"),
            verifier.client,
        )
        with pytest.raises(InvalidTokenError):
            offline.verify(token)
        assert name


def test_a_token_for_another_audience_is_refused(sb: Sandbox, verifier: TokenVerifier) -> None:
    token = sb.psc_token("jeanne-martin")
    other = TokenVerifier(
        VerifierConfig(issuer=verifier.config.issuer, jwks_url=verifier.config.jwks_url, audience="catalog"),
        verifier.client,
    )
    with pytest.raises(InvalidTokenError):
        other.verify(token)


def test_a_revoked_token_is_refused_by_the_helper_with_introspection(
    sb: Sandbox, verifier: TokenVerifier
) -> None:
    body = sb.psc_tokens("jeanne-martin", client_id="dpi-valmont")
    assert verifier.verify(body["access_token"])
    sb.client("psc_auth").post(
        "/auth/realms/esante-wallet/protocol/openid-connect/revoke",
        data={"token": body["refresh_token"]},
        auth=("dpi-valmont", "dpi-valmont-secret"),
    )
    with pytest.raises(InvalidTokenError):
        verifier.verify(body["access_token"])


def test_an_id_token_is_not_an_access_token(sb: Sandbox) -> None:
    body = sb.psc_tokens("jeanne-martin")
    assert introspect(sb, body["id_token"]) == {"active": False}

"""The OAuth building blocks: keys, verification by a resource server, PKCE, client auth."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import pytest
from jose import jwt

from shared.errors import InvalidClientError, InvalidTokenError, OAuthError
from shared.oauth import pkce
from shared.oauth.client_auth import ASSERTION_TYPE, presented_client
from shared.oauth.keys import generate_jwk, public_jwk, sign, thumbprint
from shared.oauth.server import decode_own, introspection_response
from shared.oauth.verify import IssuerRouter, TokenVerifier, VerifierConfig

ISSUER = "http://psc.test/auth/realms/esante-wallet"


def _claims(**extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": ISSUER, "sub": "f:x:899700112545", "aud": ["dmp"], "iat": now, "exp": now + 60, **extra}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class FakeIssuer:
    """The issuer at the edge: JWKS and introspection over httpx.MockTransport."""

    def __init__(self, *keys: dict[str, Any]) -> None:
        self.keys = list(keys)
        self.active = True
        self.jwks_calls = 0

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/certs"):
            self.jwks_calls += 1
            return httpx.Response(200, json={"keys": [public_jwk(k) for k in self.keys]})
        assert request.headers["authorization"] == "Basic " + base64.b64encode(b"dmp:secret").decode()
        return httpx.Response(200, json={"active": self.active, "scope": "openid"})

    def verifier(self, introspect: bool = True) -> TokenVerifier:
        config = VerifierConfig(
            issuer=ISSUER,
            jwks_url=f"{ISSUER}/protocol/openid-connect/certs",
            audience="dmp",
            introspection_url=f"{ISSUER}/protocol/openid-connect/token/introspect" if introspect else None,
            client_id="dmp",
            client_secret="secret",
        )
        return TokenVerifier(config, httpx.Client(transport=httpx.MockTransport(self.handler)))


@pytest.fixture(scope="module")
def rsa() -> dict[str, Any]:
    return generate_jwk("RS256")


@pytest.fixture(scope="module")
def ec() -> dict[str, Any]:
    return generate_jwk("ES256")


def test_keys_have_thumbprint_kids_and_public_halves(rsa: dict[str, Any], ec: dict[str, Any]) -> None:
    assert rsa["kid"] == thumbprint(rsa)
    assert "d" not in public_jwk(rsa) and "d" not in public_jwk(ec)
    assert public_jwk(ec)["crv"] == "P-256"
    # RFC 7638 §3.1's example key and thumbprint.
    example = {
        "kty": "RSA",
        "e": "AQAB",
        "n": (
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjB"
            "ZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8"
            "KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_"
            "xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
        ),
    }
    assert thumbprint(example) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_signed_claims_are_compact_utf8_json_that_python_jose_reads(
    alg: str, rsa: dict[str, Any], ec: dict[str, Any]
) -> None:
    key = rsa if alg == "RS256" else ec
    claims = {"sub": "f:1:899700112545", "given_name": "HÉLÈNE", "SubjectOrganization": "Saint-Jérôme"}
    token = sign(claims, key)
    payload = token.split(".")[1]
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    assert raw == json.dumps(claims, ensure_ascii=False, separators=(",", ":")).encode()
    assert jwt.decode(token, public_jwk(key), algorithms=[alg]) == claims


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_a_good_token_is_accepted_with_introspection(
    alg: str, rsa: dict[str, Any], ec: dict[str, Any]
) -> None:
    key = rsa if alg == "RS256" else ec
    issuer = FakeIssuer(rsa, ec)
    claims = issuer.verifier().verify(sign(_claims(), key))
    assert claims["sub"] == "f:x:899700112545"
    assert claims["active"] is True
    assert issuer.jwks_calls == 1


def _refused(verifier: TokenVerifier, token: str, message: str) -> None:
    with pytest.raises(InvalidTokenError, match=message) as caught:
        verifier.verify(token)
    assert caught.value.status_code == 401
    assert caught.value.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')


def test_forged_expired_and_misdirected_tokens_are_refused(rsa: dict[str, Any], ec: dict[str, Any]) -> None:
    issuer = FakeIssuer(rsa)
    verifier = issuer.verifier()
    good = sign(_claims(), rsa)
    header, payload, signature = good.split(".")
    tampered = json.loads(base64.urlsafe_b64decode(payload + "=="))
    tampered["sub"] = "f:x:899700427885"
    _refused(verifier, f"{header}.{_b64(json.dumps(tampered).encode())}.{signature}", "not valid")
    _refused(verifier, sign(_claims(exp=int(time.time()) - 3600), rsa), "expired")
    _refused(verifier, sign(_claims(aud=["mss"]), rsa), "not valid here")
    _refused(verifier, sign(_claims(iss="http://evil.test"), rsa), "not valid here")
    none_header = _b64(json.dumps({"alg": "none", "kid": rsa["kid"]}).encode())
    _refused(verifier, f"{none_header}.{payload}.", "'none' is not accepted")
    # HS256 keyed with the issuer's public key: the algorithm-confusion attack.
    public_pem = json.dumps(public_jwk(rsa))
    confused = jwt.encode(_claims(), public_pem, algorithm="HS256", headers={"kid": rsa["kid"]})
    _refused(verifier, confused, "'HS256' is not accepted")
    # Another key pretending to be ours (same kid, different key).
    impostor = {**generate_jwk("RS256"), "kid": rsa["kid"]}
    _refused(verifier, sign(_claims(), impostor), "not valid")
    _refused(verifier, "a.b.c", "malformed")
    _refused(verifier, "not-a-jwt", "not a signed JWT")


def test_an_unknown_kid_refetches_the_jwks_once(rsa: dict[str, Any]) -> None:
    issuer = FakeIssuer(rsa)
    verifier = issuer.verifier()
    verifier.verify(sign(_claims(), rsa))
    rotated = generate_jwk("RS256")
    issuer.keys.append(rotated)
    assert verifier.verify(sign(_claims(), rotated))["active"]
    assert issuer.jwks_calls == 2
    _refused(verifier, sign(_claims(), generate_jwk("ES256")), "unknown key")
    assert issuer.jwks_calls == 3


def test_introspection_says_revoked(rsa: dict[str, Any]) -> None:
    issuer = FakeIssuer(rsa)
    issuer.active = False
    _refused(issuer.verifier(), sign(_claims(), rsa), "no longer active")
    assert issuer.verifier(introspect=False).verify(sign(_claims(), rsa))["sub"]


def test_issuer_router_picks_the_verifier_by_iss(rsa: dict[str, Any]) -> None:
    router = IssuerRouter([FakeIssuer(rsa).verifier()])
    assert router.verify(sign(_claims(), rsa))["iss"] == ISSUER
    with pytest.raises(InvalidTokenError, match="does not trust"):
        router.verify(sign(_claims(iss="http://other.test"), rsa))


def test_own_tokens_decode_for_introspection(rsa: dict[str, Any]) -> None:
    token = sign(_claims(), rsa)
    assert decode_own(token, [rsa], ISSUER)["sub"] == "f:x:899700112545"  # type: ignore[index]
    assert decode_own(token, [generate_jwk("RS256")], ISSUER) is None
    assert decode_own(sign(_claims(exp=1), rsa), [rsa], ISSUER) is None
    assert decode_own(token, [rsa], "http://another.issuer") is None
    # Time is the caller's clock: a sandbox moved past exp sees it expired.
    exp = jwt.get_unverified_claims(token)["exp"]
    assert decode_own(token, [rsa], ISSUER, now=exp) is None
    assert decode_own(token, [rsa], ISSUER, now=exp, allow_expired=True) is not None
    start = int(time.time())
    later = sign(_claims(nbf=start + 600, exp=start + 1200), rsa)
    assert decode_own(later, [rsa], ISSUER) is None
    assert decode_own(later, [rsa], ISSUER, now=start + 601) is not None
    assert introspection_response(None) == {"active": False}
    assert introspection_response({"sub": "x"})["active"] is True


def test_pkce_s256_rfc7636_appendix_b() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    assert pkce.s256(verifier) == challenge
    pkce.check_challenge(challenge, "S256")
    pkce.verify(verifier, challenge)
    with pytest.raises(OAuthError, match="does not match"):
        pkce.verify(verifier[:-1] + "Y", challenge)
    with pytest.raises(OAuthError, match="required"):
        pkce.verify(None, challenge)
    with pytest.raises(OAuthError, match="malformed"):
        pkce.verify("short", challenge)
    with pytest.raises(OAuthError, match="S256"):
        pkce.check_challenge(challenge, "plain")


def test_client_authentication_methods() -> None:
    basic = "Basic " + base64.b64encode(b"dpi%3Avalmont:s%C3%A9cret").decode()
    presented = presented_client(basic, {})
    assert (presented.method, presented.client_id, presented.secret) == (
        "client_secret_basic",
        "dpi:valmont",
        "sécret",
    )
    post = presented_client(None, {"client_id": "lgo", "client_secret": "x"})
    assert post.method == "client_secret_post"
    assertion = presented_client(
        None, {"client_id": "c", "client_assertion": "a.b.c", "client_assertion_type": ASSERTION_TYPE}
    )
    assert (assertion.method, assertion.assertion) == ("client_assertion", "a.b.c")
    assert presented_client(None, {"client_id": "public"}).method == "none"
    with pytest.raises(OAuthError, match="more than one"):
        presented_client(basic, {"client_id": "dpi:valmont", "client_secret": "x"})
    with pytest.raises(InvalidClientError):
        presented_client("Basic !!!", {})
    with pytest.raises(InvalidClientError, match="no client"):
        presented_client(None, {})

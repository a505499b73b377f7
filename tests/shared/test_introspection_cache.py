"""A resource server keeps an issuer's "active" answers (RFC 7662 §4) only while nothing can
have revoked them: until the token expires, until an event of the issuer arrives, and never
an answer that was on its way when an event arrived. Pushed events (RFC 8935) are checked
like tokens: signature, issuer, audience, type."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from jose import jwt

from shared.errors import InvalidTokenError
from shared.oauth.keys import generate_jwk, public_jwk, sign
from shared.oauth.security_events import SET_TYP, SetError, tokens_changed
from shared.oauth.verify import TokenVerifier, VerifierConfig

ISSUER = "http://psc.test/auth/realms/esante-wallet"


class Issuer:
    """JWKS and introspection at the edge (httpx.MockTransport), counting the calls."""

    def __init__(self, key: dict[str, Any]) -> None:
        self.keys = [key]
        self.active = True
        self.introspections = 0
        #: Run while an introspection is being answered (an event arriving meanwhile).
        self.during: Callable[[], None] | None = None

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/certs"):
            return httpx.Response(200, json={"keys": [public_jwk(k) for k in self.keys]})
        self.introspections += 1
        if self.during is not None:
            self.during()
        return httpx.Response(200, json={"active": self.active})

    def verifier(self, cache_seconds: float = 60.0, cache_limit: int = 10_000) -> TokenVerifier:
        config = VerifierConfig(
            issuer=ISSUER,
            jwks_url=f"{ISSUER}/protocol/openid-connect/certs",
            audience="dmp",
            introspection_url=f"{ISSUER}/protocol/openid-connect/token/introspect",
            client_id="mes-sandbox-dmp",
            client_secret="secret",
            cache_seconds=cache_seconds,
            cache_limit=cache_limit,
        )
        transport = httpx.MockTransport(self.handler)
        return TokenVerifier(
            config, httpx.Client(transport=transport), httpx.AsyncClient(transport=transport)
        )


@pytest.fixture(scope="module")
def key() -> dict[str, Any]:
    return generate_jwk("ES256")


def _token(key: dict[str, Any], **extra: Any) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": "f:x:899700112545", "aud": ["dmp"], "iat": now, "exp": now + 300}
    return sign({**claims, "jti": str(time.time_ns()), **extra}, key)


def test_an_active_answer_is_kept_until_an_event_drops_it(key: dict[str, Any]) -> None:
    issuer = Issuer(key)
    verifier = issuer.verifier()
    token = _token(key)
    assert verifier.verify(token)["active"] is True
    assert verifier.verify(token)["sub"] == "f:x:899700112545"
    assert issuer.introspections == 1 and verifier.cached == 1
    issuer.active = False  # revoked at the issuer, which pushes an event
    verifier.flush()
    with pytest.raises(InvalidTokenError, match="no longer active"):
        verifier.verify(token)
    assert issuer.introspections == 2 and verifier.cached == 0


def test_without_a_cache_every_request_introspects(key: dict[str, Any]) -> None:
    issuer = Issuer(key)
    verifier = issuer.verifier(cache_seconds=0)
    token = _token(key)
    for _ in range(3):
        verifier.verify(token)
    assert issuer.introspections == 3 and verifier.cached == 0


def test_an_answer_in_flight_when_an_event_arrives_is_not_kept(key: dict[str, Any]) -> None:
    issuer = Issuer(key)
    verifier = issuer.verifier()
    issuer.during = verifier.flush  # the revocation lands while the answer travels
    token = _token(key)
    assert verifier.verify(token)["active"] is True
    issuer.during = None
    verifier.verify(token)
    assert issuer.introspections == 2, "the answer that crossed an event was kept"


def test_inactive_answers_are_never_kept(key: dict[str, Any]) -> None:
    issuer = Issuer(key)
    verifier = issuer.verifier()
    issuer.active = False
    token = _token(key)
    for _ in range(2):
        with pytest.raises(InvalidTokenError):
            verifier.verify(token)
    assert issuer.introspections == 2 and verifier.cached == 0


def test_an_answer_is_not_served_past_the_tokens_expiry(key: dict[str, Any]) -> None:
    issuer = Issuer(key)
    verifier = issuer.verifier()
    # Expired 5 s ago: the signature check's 30 s leeway lets it through to introspection,
    # whose answer must not outlive exp (the issuer would say inactive from then on).
    token = _token(key, exp=int(time.time()) - 5)
    verifier.verify(token)
    verifier.verify(token)
    assert issuer.introspections == 2


def test_the_cache_is_bounded(key: dict[str, Any]) -> None:
    issuer = Issuer(key)
    verifier = issuer.verifier(cache_limit=5)
    first = _token(key)
    verifier.verify(first)
    for i in range(5):
        verifier.verify(_token(key, jti=f"t{i}"))
    assert verifier.cached == 5
    verifier.verify(first)  # the oldest went first: introspected again
    assert issuer.introspections == 7


def test_forgetting_the_keys_drops_the_answers_too(key: dict[str, Any]) -> None:
    issuer = Issuer(key)
    verifier = issuer.verifier()
    token = _token(key)
    verifier.verify(token)
    verifier.forget_keys()  # this service was reset
    verifier.verify(token)
    assert issuer.introspections == 2


def test_the_async_path_keeps_and_drops_the_same_way(key: dict[str, Any]) -> None:
    issuer = Issuer(key)
    verifier = issuer.verifier()
    token = _token(key)

    async def three_calls() -> None:
        await verifier.averify(token)
        await verifier.averify(token)
        verifier.flush()
        await verifier.averify(token)

    asyncio.run(three_calls())
    assert issuer.introspections == 2


# -- pushed events ---------------------------------------------------------------------


def _event(key: dict[str, Any], *, typ: str = SET_TYP, **changes: Any) -> str:
    claims = {**tokens_changed(ISSUER, "mes-sandbox-dmp", ["tokens"]), **changes}
    return sign(claims, key, typ=typ)


def _refused(verifier: TokenVerifier, token: str, err: str) -> None:
    with pytest.raises(SetError) as caught:
        asyncio.run(verifier.averify_event(token, "mes-sandbox-dmp"))
    assert caught.value.err == err, caught.value.description
    assert caught.value.body() == {"err": err, "description": caught.value.description}


def test_a_pushed_event_is_checked_like_a_token(key: dict[str, Any]) -> None:
    verifier = Issuer(key).verifier()
    claims = asyncio.run(verifier.averify_event(_event(key), "mes-sandbox-dmp"))
    assert claims["events"] == {
        "https://mes-sandbox.localhost/secevent/tokens-changed": {"reasons": ["tokens"]}
    }
    _refused(verifier, _event(key, aud="mes-sandbox-mss"), "invalid_audience")
    _refused(verifier, _event(key, iss="http://evil.test"), "invalid_issuer")
    _refused(verifier, _event(key, typ="JWT"), "invalid_request")  # an access token is no event
    _refused(verifier, _event(key, events={"urn:other": {}}), "invalid_request")
    _refused(verifier, _event(key, exp=int(time.time()) - 3600), "invalid_request")
    _refused(verifier, _event(generate_jwk("ES256")), "invalid_key")  # a kid the issuer never published
    impostor = {**generate_jwk("ES256"), "kid": key["kid"]}
    _refused(verifier, _event(impostor), "authentication_failed")
    confused = jwt.encode(
        tokens_changed(ISSUER, "mes-sandbox-dmp", ["tokens"]),
        json.dumps(public_jwk(key)),
        algorithm="HS256",
        headers={"kid": key["kid"], "typ": SET_TYP},
    )
    _refused(verifier, confused, "invalid_request")
    unsigned = base64.urlsafe_b64encode(b'{"alg":"none","typ":"secevent+jwt"}').rstrip(b"=").decode()
    _refused(verifier, f"{unsigned}.e30.", "invalid_request")
    _refused(verifier, "not-a-set", "invalid_request")

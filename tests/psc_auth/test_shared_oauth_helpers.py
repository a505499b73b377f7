"""The protocol helpers added to ``shared/oauth`` for both authorization servers: JWT client
assertions (RFC 7523), refresh-token rotation (RFC 6749 §6, RFC 9700 §4.14.2) and RFC 7009
request semantics. Pure functions: no sandbox needed."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from jose import jwt

from shared.errors import InvalidClientError, OAuthError
from shared.oauth.assertions import verify_client_assertion
from shared.oauth.keys import generate_jwk, public_jwk, sign
from shared.oauth.refresh import (
    RefreshState,
    RefreshTokenReused,
    check_refresh,
    narrowed_scope,
    new_handle,
    token_hash,
)
from shared.oauth.revocation import check_owner, revocation_request

AUD = "https://psc.example/auth/realms/esante-wallet/protocol/openid-connect/token"
NOW = 1_800_000_000


def _claims(**overrides: Any) -> dict[str, Any]:
    return {"iss": "app", "sub": "app", "aud": AUD, "jti": "j1", "exp": NOW + 60, **overrides}


def test_private_key_jwt_assertion() -> None:
    key = generate_jwk("ES256")
    jwks = {"keys": [public_jwk(key)]}
    verified = verify_client_assertion(
        sign(_claims(), key), client_id="app", audiences=[AUD], now=NOW, jwks=jwks
    )
    assert (verified.client_id, verified.jti, verified.exp) == ("app", "j1", NOW + 60)
    # aud may be a list holding one of ours.
    listed = sign(_claims(aud=["https://other", AUD]), key)
    assert verify_client_assertion(listed, client_id="app", audiences=[AUD], now=NOW, jwks=jwks).jti == "j1"


@pytest.mark.parametrize(
    "overrides",
    [
        {"iss": "other"},
        {"sub": "other"},
        {"aud": "https://elsewhere"},
        {"exp": NOW - 31},
        {"exp": NOW + 3601},
        {"nbf": NOW + 120},
        {"jti": ""},
    ],
)
def test_assertion_claims_are_checked(overrides: dict[str, Any]) -> None:
    key = generate_jwk("RS256")
    with pytest.raises(InvalidClientError):
        verify_client_assertion(
            sign(_claims(**overrides), key),
            client_id="app",
            audiences=[AUD],
            now=NOW,
            jwks={"keys": [public_jwk(key)]},
        )


def test_assertion_algorithms_match_the_method() -> None:
    secret = "s" * 40
    hmac_assertion = jwt.encode(_claims(), secret, algorithm="HS256")
    assert (
        verify_client_assertion(hmac_assertion, client_id="app", audiences=[AUD], now=NOW, secret=secret).jti
        == "j1"
    )
    key = generate_jwk("ES256")
    # An HMAC assertion is no private_key_jwt, an asymmetric one no client_secret_jwt.
    with pytest.raises(InvalidClientError):
        verify_client_assertion(
            hmac_assertion, client_id="app", audiences=[AUD], now=NOW, jwks={"keys": [public_jwk(key)]}
        )
    with pytest.raises(InvalidClientError):
        verify_client_assertion(
            sign(_claims(), key), client_id="app", audiences=[AUD], now=NOW, secret=secret
        )
    with pytest.raises(InvalidClientError):
        verify_client_assertion("not-a-jwt", client_id="app", audiences=[AUD], now=NOW, secret=secret)


def test_refresh_state_rules() -> None:
    now = dt.datetime.fromtimestamp(NOW, dt.UTC)
    later = now + dt.timedelta(minutes=5)
    fresh = RefreshState("app", later, None, None)
    check_refresh(fresh, "app", now)
    with pytest.raises(OAuthError, match="unknown"):
        check_refresh(None, "app", now)
    with pytest.raises(OAuthError, match="another client"):
        check_refresh(fresh, "other", now)
    with pytest.raises(RefreshTokenReused):
        check_refresh(RefreshState("app", later, now, None), "app", now)
    with pytest.raises(OAuthError, match="revoked"):
        check_refresh(RefreshState("app", later, None, now), "app", now)
    with pytest.raises(OAuthError, match="expired"):
        check_refresh(RefreshState("app", now, None, None), "app", now)


def test_scope_narrowing_and_handles() -> None:
    assert narrowed_scope(None, "openid scope_all") == "openid scope_all"
    assert narrowed_scope("openid", "openid scope_all") == "openid"
    with pytest.raises(OAuthError) as refused:
        narrowed_scope("openid admin", "openid scope_all")
    assert refused.value.error_code == "invalid_scope"
    handle, hashed = new_handle()
    assert token_hash(handle) == hashed
    assert handle not in hashed


def test_revocation_request_semantics() -> None:
    assert revocation_request({"token": "t", "token_type_hint": "refresh_token"}).hint == "refresh_token"
    # §2.1: an unknown hint is ignored, not an error.
    assert revocation_request({"token": "t", "token_type_hint": "id_token"}).hint is None
    with pytest.raises(OAuthError):
        revocation_request({})
    check_owner("app", "app")
    with pytest.raises(OAuthError) as refused:
        check_owner("app", "other")
    assert refused.value.error_code == "unauthorized_client"

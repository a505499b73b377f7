"""After the code: refresh with rotation, revocation (RFC 7009), introspection (RFC 7662),
logout with ``id_token_hint``, and signing-key rotation."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.psc_auth.support import (
    CERTS,
    DPI,
    LGO,
    LOGOUT,
    REVOKE,
    TOKEN,
    Browser,
    advance_clock,
    claims_of,
    exchange,
    introspect,
    query_of,
)
from tests.support import Sandbox

pytestmark = pytest.mark.db


@pytest.fixture
def tokens(sb: Sandbox, browser: Browser) -> dict[str, Any]:
    body: dict[str, Any] = exchange(sb, browser.card_login()["code"]).json()
    return body


def _refresh(sb: Sandbox, refresh_token: str, client: tuple[str, str] = DPI, **extra: str):  # type: ignore[no-untyped-def]
    return sb.client("psc_auth").post(
        TOKEN, data={"grant_type": "refresh_token", "refresh_token": refresh_token, **extra}, auth=client
    )


def test_refresh_rotates_the_refresh_token(sb: Sandbox, tokens: dict[str, Any]) -> None:
    answer = _refresh(sb, tokens["refresh_token"])
    assert answer.status_code == 200, answer.text
    fresh = answer.json()
    assert fresh["refresh_token"] != tokens["refresh_token"]
    assert claims_of(fresh["access_token"])["sid"] == claims_of(tokens["access_token"])["sid"]
    new_id = claims_of(fresh["id_token"])
    assert new_id["auth_time"] == claims_of(tokens["id_token"])["auth_time"]
    assert "nonce" not in new_id
    assert introspect(sb, tokens["refresh_token"]) == {"active": False}
    assert introspect(sb, fresh["refresh_token"])["active"] is True
    # A narrower scope may be asked for, a wider one not.
    assert _refresh(sb, fresh["refresh_token"], scope="openid").json()["scope"] == "openid"


def test_a_reused_refresh_token_revokes_the_whole_grant(sb: Sandbox, tokens: dict[str, Any]) -> None:
    fresh = _refresh(sb, tokens["refresh_token"]).json()
    replay = _refresh(sb, tokens["refresh_token"])
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    assert "reuse" in replay.json()["error_description"]
    # RFC 9700 §4.14.2: the legitimate holder's tokens go too.
    assert introspect(sb, fresh["refresh_token"]) == {"active": False}
    assert introspect(sb, fresh["access_token"]) == {"active": False}
    assert _refresh(sb, fresh["refresh_token"]).json()["error"] == "invalid_grant"


def test_refresh_errors(sb: Sandbox, tokens: dict[str, Any]) -> None:
    other_client = _refresh(sb, tokens["refresh_token"], client=LGO)
    assert other_client.json()["error"] == "invalid_grant"
    wider = _refresh(sb, tokens["refresh_token"], scope="openid scope_all offline_access")
    assert wider.json()["error"] == "invalid_scope"
    advance_clock(sb, 1801)
    expired = _refresh(sb, tokens["refresh_token"])
    assert expired.json() == {"error": "invalid_grant", "error_description": "the refresh token has expired"}


def test_revoking_a_refresh_token_revokes_its_access_tokens(sb: Sandbox, tokens: dict[str, Any]) -> None:
    answer = sb.client("psc_auth").post(
        REVOKE, data={"token": tokens["refresh_token"], "token_type_hint": "refresh_token"}, auth=DPI
    )
    assert answer.status_code == 200
    assert answer.content == b""
    assert introspect(sb, tokens["refresh_token"]) == {"active": False}
    assert introspect(sb, tokens["access_token"]) == {"active": False}
    assert _refresh(sb, tokens["refresh_token"]).json()["error"] == "invalid_grant"


def test_revoking_an_access_token(sb: Sandbox, tokens: dict[str, Any]) -> None:
    psc = sb.client("psc_auth")
    # Only the client it was issued to may revoke it (RFC 7009 §2.1).
    stranger = psc.post(REVOKE, data={"token": tokens["access_token"]}, auth=LGO)
    assert stranger.status_code == 400
    assert stranger.json()["error"] == "unauthorized_client"
    assert introspect(sb, tokens["access_token"])["active"] is True
    assert psc.post(REVOKE, data={"token": tokens["access_token"]}, auth=DPI).status_code == 200
    assert introspect(sb, tokens["access_token"]) == {"active": False}
    # §2.2: unknown or invalid tokens are not an error.
    assert psc.post(REVOKE, data={"token": "not-a-token"}, auth=DPI).status_code == 200
    missing = psc.post(REVOKE, data={}, auth=DPI)
    assert missing.json()["error"] == "invalid_request"
    unauthenticated = psc.post(REVOKE, data={"token": tokens["access_token"], "client_id": DPI[0]})
    assert unauthenticated.status_code == 401


def test_issuing_records_no_access_token_and_its_jti_names_its_grant(
    sb: Sandbox, tokens: dict[str, Any]
) -> None:
    tables = sb.admin("psc_auth", "GET", "snapshot").json()["tables"]
    # As in Keycloak, nothing is written for an access token.
    assert tables["issued_tokens"] == []
    (refresh,) = tables["refresh_tokens"]
    first = claims_of(tokens["access_token"])["jti"]
    grant, dot, rest = first.partition(".")
    assert (grant, dot) == (refresh["grant_id"], ".") and rest
    # A refresh stays in its grant, with a new jti.
    second = claims_of(_refresh(sb, tokens["refresh_token"]).json()["access_token"])["jti"]
    assert second.startswith(f"{grant}.") and second != first


def test_an_access_token_lasts_no_longer_than_its_login_session(sb: Sandbox, tokens: dict[str, Any]) -> None:
    snapshot = sb.admin("psc_auth", "GET", "snapshot").json()
    sid = claims_of(tokens["access_token"])["sid"]
    ended = copy.deepcopy(snapshot)
    (login,) = [row for row in ended["tables"]["sessions"] if row["id"] == sid]
    login["expires_at"] = "2020-01-01T00:00:00+00:00"
    assert sb.admin("psc_auth", "PUT", "snapshot", json=ended).status_code == 200
    # The token itself has not expired; its login session has.
    assert introspect(sb, tokens["access_token"]) == {"active": False}
    assert sb.admin("psc_auth", "PUT", "snapshot", json=snapshot).status_code == 200
    assert introspect(sb, tokens["access_token"])["active"] is True


def test_software_tokens_are_stateless_but_revocable(sb: Sandbox) -> None:
    psc = sb.client("psc_auth")
    token = psc.post(TOKEN, data={"grant_type": "client_credentials"}, auth=DPI).json()["access_token"]
    claims = claims_of(token)
    assert claims["sub"] == "service-account-dpi-valmont"
    assert claims["scope"] == "scope_all"
    assert introspect(sb, token)["active"] is True
    psc.post(REVOKE, data={"token": token}, auth=DPI)
    assert introspect(sb, token) == {"active": False}


def test_introspection_needs_a_confidential_caller(sb: Sandbox, tokens: dict[str, Any]) -> None:
    from tests.psc_auth.support import INTROSPECT

    psc = sb.client("psc_auth")
    assert psc.post(INTROSPECT, data={"token": tokens["access_token"]}).status_code == 401
    public = psc.post(INTROSPECT, data={"token": tokens["access_token"], "client_id": "lgc-mobile"})
    assert public.status_code == 401
    assert public.json()["error"] == "invalid_client"
    body = introspect(sb, tokens["access_token"], creds=LGO)
    assert body["active"] is True
    assert body["client_id"] == DPI[0]
    assert body["username"] == "899700112545"
    assert body["token_type"] == "Bearer"
    assert introspect(sb, "garbage") == {"active": False}
    advance_clock(sb, 301)
    assert introspect(sb, tokens["access_token"]) == {"active": False}


def test_logout_ends_the_session_and_goes_back(sb: Sandbox, browser: Browser, tokens: dict[str, Any]) -> None:
    answer = browser.http.get(
        LOGOUT,
        params={
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": "http://localhost:3000/",
            "state": "bye",
        },
    )
    assert answer.text == "callback received"
    assert query_of(browser.callbacks[-1]) == {"state": "bye"}
    assert str(browser.callbacks[-1]).startswith("http://localhost:3000/?")
    assert introspect(sb, tokens["access_token"]) == {"active": False}
    assert introspect(sb, tokens["refresh_token"]) == {"active": False}
    assert _refresh(sb, tokens["refresh_token"]).json()["error"] == "invalid_grant"
    # The SSO cookie is gone: the next authorization shows the login page again.
    page = browser.authorize()
    assert "/wallet/login/" in str(page.url)


def test_logout_errors(sb: Sandbox, browser: Browser, tokens: dict[str, Any]) -> None:
    bad = browser.http.get(
        LOGOUT,
        params={"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": "http://evil.example/"},
    )
    assert bad.status_code == 400
    assert bad.json()["error"] == "invalid_request"
    no_client = browser.http.get(LOGOUT, params={"post_logout_redirect_uri": "http://localhost:3000/"})
    assert no_client.json()["error"] == "invalid_request"
    forged = browser.http.get(LOGOUT, params={"id_token_hint": tokens["access_token"]})
    assert forged.json()["error"] == "invalid_request"
    # Nothing was ended by the refused requests.
    assert introspect(sb, tokens["access_token"])["active"] is True
    # Without a redirect: our own page.
    page = browser.http.get(LOGOUT, params={"id_token_hint": tokens["id_token"]})
    assert page.status_code == 200
    assert "Vous êtes déconnecté" in page.text
    assert introspect(sb, tokens["access_token"]) == {"active": False}


def test_key_rotation_keeps_old_tokens_verifying_until_they_expire(
    sb: Sandbox, tokens: dict[str, Any]
) -> None:
    psc = sb.client("psc_auth")
    old_kid = sb.admin("psc_auth", "GET", "keys").json()["signing_kid"]
    rotated = sb.admin("psc_auth", "POST", "keys/rotate", json={"alg": "ES256"})
    assert rotated.status_code == 200
    new_kid = rotated.json()["signing_kid"]
    assert new_kid != old_kid
    kids = {k["kid"]: k for k in psc.get(CERTS).json()["keys"]}
    assert {old_kid, new_kid} <= set(kids)
    assert kids[new_kid]["alg"] == "ES256"
    # Old tokens still introspect; new ones carry the new kid.
    assert introspect(sb, tokens["access_token"])["active"] is True
    fresh = psc.post(TOKEN, data={"grant_type": "client_credentials"}, auth=DPI).json()["access_token"]
    from jose import jwt

    assert jwt.get_unverified_header(fresh) == {"alg": "ES256", "kid": new_kid, "typ": "JWT"}
    discovery = psc.get("/auth/realms/esante-wallet/.well-known/openid-configuration").json()
    assert discovery["id_token_signing_alg_values_supported"] == ["ES256"]
    # Once the old key's tokens have all expired, it leaves the JWKS.
    advance_clock(sb, 301)
    assert old_kid not in {k["kid"] for k in psc.get(CERTS).json()["keys"]}
    assert new_kid in {k["kid"] for k in psc.get(CERTS).json()["keys"]}
    # A reset brings the seed's keys back.
    sb.admin("psc_auth", "POST", "reset")
    assert sb.admin("psc_auth", "GET", "keys").json()["signing_kid"] == old_kid

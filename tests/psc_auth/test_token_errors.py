"""The token endpoint's refusals (RFC 6749 §5.2, RFC 7636 §4.6), each in the OAuth error
format, with no tokens given out."""

from __future__ import annotations

import pytest

from tests.psc_auth.support import (
    DPI,
    DPI_CALLBACK,
    LGO,
    TOKEN,
    Browser,
    advance_clock,
    claims_of,
    exchange,
    introspect,
    pkce_pair,
)
from tests.support import Sandbox

pytestmark = pytest.mark.db


def _oauth_error(answer, status: int, error: str) -> str:  # type: ignore[no-untyped-def]
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert set(body) == {"error", "error_description"}
    assert body["error"] == error, body
    return str(body["error_description"])


def test_a_wrong_pkce_verifier_is_refused(sb: Sandbox, browser: Browser) -> None:
    _, challenge = pkce_pair()
    other, _ = pkce_pair()
    code = browser.card_login(code_challenge=challenge, code_challenge_method="S256")["code"]
    assert "does not match" in _oauth_error(exchange(sb, code, code_verifier=other), 400, "invalid_grant")
    assert "required" in _oauth_error(exchange(sb, code), 400, "invalid_grant")
    assert "malformed" in _oauth_error(exchange(sb, code, code_verifier="short"), 400, "invalid_grant")


def test_a_verifier_without_challenge_is_refused(sb: Sandbox, browser: Browser) -> None:
    verifier, _ = pkce_pair()
    code = browser.card_login()["code"]
    _oauth_error(exchange(sb, code, code_verifier=verifier), 400, "invalid_grant")


def test_a_reused_code_is_refused_and_revokes_its_tokens(sb: Sandbox, browser: Browser) -> None:
    code = browser.card_login()["code"]
    first = exchange(sb, code).json()
    assert introspect(sb, first["access_token"])["active"] is True
    assert "already used" in _oauth_error(exchange(sb, code), 400, "invalid_grant")
    # RFC 6749 §4.1.2: what the first exchange gave is revoked.
    assert introspect(sb, first["access_token"]) == {"active": False}
    assert introspect(sb, first["refresh_token"]) == {"active": False}
    # A third try revokes the same grant again: the same answer, not a duplicate row.
    assert "already used" in _oauth_error(exchange(sb, code), 400, "invalid_grant")
    assert len(sb.admin("psc_auth", "GET", "snapshot").json()["tables"]["revoked_grants"]) == 1
    # Another code of the same login session (SSO) is another grant: its tokens stay active.
    browser.authorize()
    other = exchange(sb, browser.last_callback["code"]).json()
    assert claims_of(other["access_token"])["sid"] == claims_of(first["access_token"])["sid"]
    assert introspect(sb, other["access_token"])["active"] is True


def test_the_redirect_uri_must_be_the_same(sb: Sandbox, browser: Browser) -> None:
    code = browser.card_login()["code"]
    _oauth_error(exchange(sb, code, redirect_uri="http://127.0.0.1:3000/callback"), 400, "invalid_grant")
    _oauth_error(exchange(sb, code, redirect_uri=""), 400, "invalid_grant")
    assert exchange(sb, code).status_code == 200


def test_an_expired_code_is_refused(sb: Sandbox, browser: Browser) -> None:
    code = browser.card_login()["code"]
    advance_clock(sb, 61)
    assert "expired" in _oauth_error(exchange(sb, code), 400, "invalid_grant")


def test_a_code_is_bound_to_its_client(sb: Sandbox, browser: Browser) -> None:
    code = browser.card_login()["code"]
    _oauth_error(exchange(sb, code, client=LGO), 400, "invalid_grant")
    assert exchange(sb, code).status_code == 200


def test_client_authentication_failures_are_401_invalid_client(sb: Sandbox) -> None:
    psc = sb.client("psc_auth")
    body = {"grant_type": "client_credentials"}
    for auth in ((DPI[0], "wrong"), ("nobody", "x")):
        answer = psc.post(TOKEN, data=body, auth=auth)
        _oauth_error(answer, 401, "invalid_client")
        assert answer.headers["www-authenticate"].startswith("Basic")
    # A confidential client must authenticate.
    _oauth_error(psc.post(TOKEN, data={**body, "client_id": DPI[0]}), 401, "invalid_client")
    # Two methods at once (RFC 6749 §2.3).
    both = psc.post(TOKEN, data={**body, "client_id": DPI[0], "client_secret": DPI[1]}, auth=DPI)
    _oauth_error(both, 400, "invalid_request")
    # client_secret_post works for a client_secret_basic client, as with Keycloak.
    post = psc.post(TOKEN, data={**body, "client_id": DPI[0], "client_secret": DPI[1]})
    assert post.status_code == 200, post.text


def test_malformed_token_requests(sb: Sandbox) -> None:
    psc = sb.client("psc_auth")
    _oauth_error(psc.post(TOKEN, data={}, auth=DPI), 400, "invalid_request")
    _oauth_error(psc.post(TOKEN, data={"grant_type": "password"}, auth=DPI), 400, "unsupported_grant_type")
    _oauth_error(psc.post(TOKEN, json={"grant_type": "client_credentials"}, auth=DPI), 400, "invalid_request")
    repeated = psc.post(
        TOKEN,
        content=b"grant_type=client_credentials&grant_type=client_credentials",
        headers={"content-type": "application/x-www-form-urlencoded"},
        auth=DPI,
    )
    _oauth_error(repeated, 400, "invalid_request")
    _oauth_error(psc.post(TOKEN, data={"grant_type": "authorization_code"}, auth=DPI), 400, "invalid_request")
    unknown = psc.post(
        TOKEN,
        data={"grant_type": "authorization_code", "code": "nope", "redirect_uri": DPI_CALLBACK},
        auth=DPI,
    )
    _oauth_error(unknown, 400, "invalid_grant")


def test_grants_a_client_is_not_registered_for(sb: Sandbox) -> None:
    psc = sb.client("psc_auth")
    # lgc-mobile is public: no client_credentials.
    answer = psc.post(TOKEN, data={"grant_type": "client_credentials", "client_id": "lgc-mobile"})
    _oauth_error(answer, 400, "unauthorized_client")
    # The DMP's service account: client_credentials only.
    answer = psc.post(
        TOKEN,
        data={"grant_type": "refresh_token", "refresh_token": "x"},
        auth=("mes-sandbox-dmp", "dmp-service-secret"),
    )
    _oauth_error(answer, 400, "unauthorized_client")
    answer = psc.post(TOKEN, data={"grant_type": "client_credentials", "scope": "openid admin"}, auth=DPI)
    _oauth_error(answer, 400, "invalid_scope")

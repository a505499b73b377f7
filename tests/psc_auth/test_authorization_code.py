"""The authorization code flow through the real pages (httpx follows every redirect),
then the token endpoint: what an editor's software sees, step by step."""

from __future__ import annotations

import pytest

from tests.psc_auth.support import (
    DPI,
    DPI_CALLBACK,
    MOBILE,
    MOBILE_CALLBACK,
    Browser,
    claims_of,
    exchange,
    introspect,
    pkce_pair,
    query_of,
)
from tests.support import Sandbox

pytestmark = pytest.mark.db


def test_card_login_then_code_exchange_gives_psc_tokens(sb: Sandbox, browser: Browser) -> None:
    verifier, challenge = pkce_pair()
    callback = browser.card_login(
        state="xyz", nonce="n-0S6_WzA2Mj", code_challenge=challenge, code_challenge_method="S256"
    )
    assert callback["state"] == "xyz"
    assert callback["iss"] == sb.url("psc_auth") + "/auth/realms/esante-wallet"
    answer = exchange(sb, callback["code"], code_verifier=verifier)
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "openid scope_all"
    id_token = claims_of(body["id_token"])
    assert id_token["sub"] == "f:ca8c4807-bae7-4ae6-bc9a-708a803c6acc:899700112545"
    assert id_token["aud"] == DPI[0]
    assert id_token["nonce"] == "n-0S6_WzA2Mj"
    assert id_token["acr"] == "eidas1"
    assert id_token["idp"] == "PSC"
    assert id_token["amr"] == ["sc", "pin"]
    assert id_token["authMode"] == "CARD"
    access = claims_of(body["access_token"])
    assert set(access["aud"]) == {"dmp", "mss", DPI[0]}
    assert access["SubjectNameID"] == "899700112545"
    assert access["sid"] == id_token["sid"]
    assert introspect(sb, body["access_token"])["active"] is True
    assert introspect(sb, body["refresh_token"])["active"] is True


def test_the_identifier_may_be_the_rpps_and_login_hint_prefills_it(sb: Sandbox, browser: Browser) -> None:
    page = browser.authorize(login_hint="99700223011")
    assert 'value="99700223011"' in page.text
    assert "Le logiciel <strong>DPI du centre hospitalier de Valmont</strong>" in page.text
    method = browser.identify(page, "99700223011")
    assert "Bonjour Dr KARIM BENALI" in method.text
    done = browser.pin(page, "1234")
    assert done.text == "callback received"
    body = exchange(sb, browser.last_callback["code"]).json()
    assert claims_of(body["id_token"])["sub"].endswith(":899700223011")


def test_a_public_client_must_use_pkce(sb: Sandbox, browser: Browser) -> None:
    browser.authorize(client_id=MOBILE, redirect_uri=MOBILE_CALLBACK, state="s1")
    assert browser.last_callback == {
        "error": "invalid_request",
        "error_description": "PKCE is required for public clients: send code_challenge (S256)",
        "state": "s1",
        "iss": sb.url("psc_auth") + "/auth/realms/esante-wallet",
    }
    verifier, challenge = pkce_pair()
    callback = browser.card_login(
        client_id=MOBILE, redirect_uri=MOBILE_CALLBACK, code_challenge=challenge, code_challenge_method="S256"
    )
    answer = sb.client("psc_auth").post(
        "/auth/realms/esante-wallet/protocol/openid-connect/token",
        data={
            "grant_type": "authorization_code",
            "code": callback["code"],
            "redirect_uri": MOBILE_CALLBACK,
            "client_id": MOBILE,
            "code_verifier": verifier,
        },
    )
    assert answer.status_code == 200, answer.text
    assert query_of(browser.callbacks[-1])["code"] == callback["code"]
    assert answer.json()["refresh_token"]


def test_sso_reuses_the_session_unless_prompt_login_or_max_age(sb: Sandbox, browser: Browser) -> None:
    first = browser.card_login()
    first_id = claims_of(exchange(sb, first["code"]).json()["id_token"])
    # The session cookie logs in again without any page.
    browser.authorize()
    second = claims_of(exchange(sb, browser.last_callback["code"]).json()["id_token"])
    assert second["sid"] == first_id["sid"]
    assert second["auth_time"] == first_id["auth_time"]
    # prompt=login shows the pages again.
    page = browser.authorize(prompt="login")
    assert "/wallet/login/" in str(page.url)
    # max_age=0 too.
    page = browser.authorize(max_age="0")
    assert "/wallet/login/" in str(page.url)
    assert DPI_CALLBACK

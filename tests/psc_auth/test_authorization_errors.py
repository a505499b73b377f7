"""Every way an authorization request goes wrong, and how the software is told.

RFC 6749 §4.1.2.1: an unknown client or an unregistered redirect URI is shown to the
person (a French page, no redirect); everything else goes back to the software with the
OAuth error, its ``state`` and the issuer (RFC 9207)."""

from __future__ import annotations

import pytest

from tests.psc_auth.support import DPI, DPI_CALLBACK, MOBILE, MOBILE_CALLBACK, Browser, pkce_pair
from tests.support import Sandbox

pytestmark = pytest.mark.db

ISSUER_PATH = "/auth/realms/esante-wallet"


@pytest.mark.parametrize(
    ("params", "title"),
    [
        ({"client_id": "inconnu"}, "Logiciel inconnu"),
        ({"redirect_uri": "http://localhost:3000/autre"}, "Adresse de retour non enregistrée"),
        ({"redirect_uri": "http://localhost:3000/callback/"}, "Adresse de retour non enregistrée"),
        ({"redirect_uri": None}, "Adresse de retour manquante"),
    ],
)
def test_an_untrusted_client_or_redirect_uri_is_shown_never_redirected(
    browser: Browser, params: dict[str, str | None], title: str
) -> None:
    page = browser.authorize(**params)  # type: ignore[arg-type]
    assert page.status_code == 400
    assert page.headers["content-type"].startswith("text/html")
    assert title in page.text
    assert browser.callbacks == []


def _error(sb: Sandbox, browser: Browser, **params: str) -> dict[str, str]:
    browser.authorize(state="st", **params)
    callback = browser.last_callback
    assert callback["state"] == "st"
    assert callback["iss"] == sb.url("psc_auth") + ISSUER_PATH
    assert "code" not in callback
    return callback


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"acr_values": "eidas2"}, "unmet_authentication_requirements"),
        ({"acr_values": "eidas1 eidas3"}, "unmet_authentication_requirements"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": "code id_token"}, "unsupported_response_type"),
        ({"response_type": ""}, "invalid_request"),
        ({"scope": "scope_all"}, "invalid_scope"),
        ({"scope": "openid profile"}, "invalid_scope"),
        ({"prompt": "consent"}, "invalid_request"),
        ({"prompt": "none login"}, "invalid_request"),
        ({"max_age": "-1"}, "invalid_request"),
        ({"response_mode": "fragment"}, "invalid_request"),
        ({"code_challenge": "x" * 43, "code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge": "too-short", "code_challenge_method": "S256"}, "invalid_request"),
        ({"code_challenge_method": "S256"}, "invalid_request"),
        ({"request": "eyJhbGciOiJub25lIn0.e30."}, "request_not_supported"),
        ({"prompt": "none"}, "login_required"),
    ],
)
def test_errors_go_back_to_the_software(
    sb: Sandbox, browser: Browser, params: dict[str, str], error: str
) -> None:
    callback = _error(sb, browser, **params)
    assert callback["error"] == error, callback
    assert callback["error_description"]


def test_the_acr_error_says_why(sb: Sandbox, browser: Browser) -> None:
    callback = _error(sb, browser, acr_values="eidas2")
    assert "eidas1" in callback["error_description"]


def test_a_repeated_parameter_is_refused(sb: Sandbox, browser: Browser) -> None:
    url = (
        f"/wallet/auth?response_type=code&client_id={DPI[0]}&redirect_uri={DPI_CALLBACK}"
        "&scope=openid&state=a&state=b"
    )
    browser.http.get(url)
    assert browser.last_callback["error"] == "invalid_request"


def test_a_client_without_the_code_grant_is_unauthorized(sb: Sandbox, browser: Browser) -> None:
    registered = sb.admin(
        "psc_auth",
        "POST",
        "clients",
        json={
            "client_id": "batch-only",
            "name": "Traitement de nuit",
            "secret": "s3cret",
            "redirect_uris": [DPI_CALLBACK],
            "grant_types": ["client_credentials"],
        },
    )
    assert registered.status_code == 201, registered.text
    callback = _error(sb, browser, client_id="batch-only")
    assert callback["error"] == "unauthorized_client"


def test_cancelling_the_login_is_access_denied(sb: Sandbox, browser: Browser) -> None:
    page = browser.authorize(state="st")
    browser.http.post(f"{browser.login_base(page)}/annuler")
    assert browser.last_callback["error"] == "access_denied"
    assert browser.last_callback["state"] == "st"
    # The transaction is over: its pages are gone.
    again = browser.http.get(browser.login_base(page))
    assert again.status_code == 410
    assert "Demande terminée" in again.text


def test_an_unknown_identifier_stays_on_the_page(browser: Browser) -> None:
    page = browser.authorize()
    answer = browser.identify(page, "899999999999")
    assert answer.status_code == 200
    assert "Identifiant inconnu" in answer.text
    assert browser.callbacks == []


def test_an_abandoned_login_expires(sb: Sandbox, browser: Browser) -> None:
    page = browser.authorize()
    sb.admin("psc_auth", "POST", "clock", json={"advance": 601})
    answer = browser.identify(page, "899700112545")
    assert answer.status_code == 410
    assert "expiré" in answer.text


def test_public_client_without_pkce_then_with(sb: Sandbox, browser: Browser) -> None:
    callback = _error(sb, browser, client_id=MOBILE, redirect_uri=MOBILE_CALLBACK)
    assert callback["error"] == "invalid_request"
    _, challenge = pkce_pair()
    page = browser.authorize(
        client_id=MOBILE, redirect_uri=MOBILE_CALLBACK, code_challenge=challenge, code_challenge_method="S256"
    )
    assert "/wallet/login/" in str(page.url)

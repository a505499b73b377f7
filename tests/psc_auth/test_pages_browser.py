"""The login pages and the simulated e-CPS app in Debian's headless Chromium: what a
professional sees and clicks, in French, with both second factors."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlencode

import pytest

from tests import browser
from tests.psc_auth.support import pkce_pair, query_of
from tests.support import Sandbox

pytestmark = [pytest.mark.browser, pytest.mark.db]


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    with browser.chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def relying_party() -> Iterator[str]:
    with browser.callback_server("Logiciel de test") as url:
        yield url


@pytest.fixture
def context(chromium, sb: Sandbox, relying_party: str) -> Iterator[object]:  # type: ignore[no-untyped-def]
    registered = sb.admin(
        "psc_auth",
        "POST",
        "clients",
        json={
            "client_id": CLIENT,
            "name": "DPI du centre hospitalier de Valmont",
            "secret": "navigateur-secret",
            "redirect_uris": [relying_party],
        },
    )
    assert registered.status_code == 201, registered.text
    context = chromium.new_context(locale="fr-FR")
    context.set_default_timeout(15_000)
    yield context
    context.close()


CLIENT = "navigateur-test"


def _authorize_url(sb: Sandbox, redirect_uri: str, **params: str) -> str:
    _, challenge = pkce_pair()
    query = {
        "response_type": "code",
        "client_id": CLIENT,
        "redirect_uri": redirect_uri,
        "scope": "openid scope_all",
        "acr_values": "eidas1",
        "state": "etat-navigateur",
        "nonce": "nonce-navigateur",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **params,
    }
    return f"{sb.url('psc_auth')}/wallet/auth?{urlencode(query)}"


def test_card_login_in_the_browser(context, sb: Sandbox, relying_party: str) -> None:  # type: ignore[no-untyped-def]
    page = context.new_page()
    page.goto(_authorize_url(sb, relying_party, login_hint="899700112545"))
    assert page.locator("html").get_attribute("lang") == "fr"
    assert page.locator("h1").inner_text() == "Connexion avec Pro Santé Connect"
    assert page.input_value("#identifiant") == "899700112545"
    page.click("button:has-text('Continuer')")
    assert "Bonjour Dr JEANNE MARTIN" in page.locator("h1").inner_text()
    page.click("text=Utiliser ma carte CPS")
    page.fill("#pin", "9999")
    page.click("button:has-text('Valider')")
    assert "Il vous reste 2 essais" in page.locator("[role=alert]").inner_text()
    page.fill("#pin", "1234")
    page.click("button:has-text('Valider')")
    page.wait_for_url(f"{relying_party}?*")
    callback = query_of(page.url)
    assert callback["state"] == "etat-navigateur"
    assert callback["code"]


def test_e_cps_push_accepted_on_the_app_page(context, sb: Sandbox, relying_party: str) -> None:  # type: ignore[no-untyped-def]
    login = context.new_page()
    login.goto(_authorize_url(sb, relying_party))
    login.click("button[aria-label='Se connecter en tant que Dr KARIM BENALI']")
    login.click("button:has-text('Envoyer une notification')")
    assert login.locator("h1").inner_text() == "Validez sur votre application e-CPS"
    # The professional's phone: the simulated e-CPS app, in another tab.
    phone = context.new_page()
    phone.goto(f"{sb.url('psc_auth')}/ecps/899700223011")
    assert "Connexion à DPI du centre hospitalier de Valmont" in phone.locator("[data-demande]").inner_text()
    assert phone.locator("[aria-label='code e-CPS']").inner_text().isdigit()
    phone.click("[data-demande] button:has-text('Accepter')")
    assert phone.locator("[role=status]").inner_text() == "Demande acceptée."
    # The waiting page notices by itself and goes back to the software.
    login.wait_for_url(f"{relying_party}?*")
    assert query_of(login.url)["code"]


def test_e_cps_push_refused_on_the_app_page(context, sb: Sandbox, relying_party: str) -> None:  # type: ignore[no-untyped-def]
    login = context.new_page()
    login.goto(_authorize_url(sb, relying_party, login_hint="99700334586"))
    login.click("button:has-text('Continuer')")
    login.click("button:has-text('Envoyer une notification')")
    phone = context.new_page()
    phone.goto(f"{sb.url('psc_auth')}/ecps/899700334586")
    phone.click("[data-demande] button:has-text('Refuser')")
    login.wait_for_url(f"{relying_party}?*")
    assert query_of(login.url)["error"] == "access_denied"


def test_totp_code_typed_from_the_app(context, sb: Sandbox, relying_party: str) -> None:  # type: ignore[no-untyped-def]
    phone = context.new_page()
    phone.goto(f"{sb.url('psc_auth')}/ecps/899700427885")
    code = phone.locator("[aria-label='code e-CPS']").inner_text()
    login = context.new_page()
    login.goto(_authorize_url(sb, relying_party, login_hint="899700427885"))
    login.click("button:has-text('Continuer')")
    login.fill("#code", code)
    login.click("button:has-text('Valider le code')")
    login.wait_for_url(f"{relying_party}?*")
    assert query_of(login.url)["code"]


def test_an_unknown_client_is_a_french_error_page(context, sb: Sandbox, relying_party: str) -> None:  # type: ignore[no-untyped-def]
    page = context.new_page()
    response = page.goto(_authorize_url(sb, relying_party, client_id="inconnu"))
    assert response.status == 400
    assert page.locator("h1").inner_text() == "Logiciel inconnu"

"""Mon espace santé's sign-in and consent pages in Debian's headless Chromium: what a
patient sees and clicks, in French, from the app's authorization URL to the app's callback,
then the revocation from the space."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import OAuth2Client

from tests.browser import callback_server, chromium
from tests.catalog.support import PASSWORDS, authority, introspect, latest_code
from tests.support import Sandbox

pytestmark = [pytest.mark.browser, pytest.mark.db]


@pytest.fixture(scope="module")
def app_server() -> Iterator[str]:
    """The editor's software: a real HTTP server receiving the callback."""
    with callback_server("Ma Balance Connectée") as url:
        yield url


@pytest.fixture
def callback(sb: Sandbox, app_server: str) -> str:
    """Ma Balance's referencing file gains the test server's callback (the reset undoes it)."""
    answer = authority(sb, "PATCH", "/api/catalogue/apps/ma-balance", json={"redirect_uris": [app_server]})
    assert answer.status_code == 200, answer.text
    return app_server


@pytest.fixture(scope="module")
def launched() -> Iterator[Any]:
    with chromium() as browser:
        yield browser


@pytest.fixture
def page(launched: Any, sb: Sandbox) -> Iterator[Any]:
    context = launched.new_context(locale="fr-FR")
    context.set_default_timeout(15_000)
    tab = context.new_page()
    yield tab
    context.close()


def sign_in(sb: Sandbox, tab: Any, person: str) -> None:
    ins, password = PASSWORDS[person]
    assert tab.locator("h1").inner_text() == "Se connecter à Mon espace santé"
    tab.get_by_label("Numéro de sécurité sociale (15 chiffres)").fill(ins)
    tab.get_by_label("Mot de passe").fill(password)
    tab.get_by_label("SMS").check()
    tab.get_by_role("button", name="Continuer").click()
    assert tab.locator("h1").inner_text() == "Saisir le code de connexion"
    assert "par SMS au" in tab.content()
    tab.get_by_label("Code reçu").fill(latest_code(sb, person))
    tab.get_by_role("button", name="Valider").click()


def test_sign_in_in_the_browser_with_the_ins_prefilled(sb: Sandbox, page: Any) -> None:
    page.goto(f"{sb.url('catalog')}/espace/?login_hint=188016912314544")
    assert page.get_by_label("Numéro de sécurité sociale (15 chiffres)").input_value() == "188016912314544"
    sign_in(sb, page, "gabriel-fontaine")
    assert page.locator("h1").inner_text() == "Bonjour Gabriel FONTAINE"
    assert page.get_by_role("link", name="Applications connectées").first.is_visible()


def test_wrong_code_then_right_code(sb: Sandbox, page: Any) -> None:
    page.goto(f"{sb.url('catalog')}/espace/")
    ins, password = PASSWORDS["gabriel-fontaine"]
    page.get_by_label("Numéro de sécurité sociale (15 chiffres)").fill(ins)
    page.get_by_label("Mot de passe").fill(password)
    page.get_by_role("button", name="Continuer").click()
    right = latest_code(sb, "gabriel-fontaine")
    page.get_by_label("Code reçu").fill("000000" if right != "000000" else "111111")
    page.get_by_role("button", name="Valider").click()
    assert "code incorrect (2 essai(s) restant(s))" in page.get_by_role("alert").inner_text()
    page.get_by_label("Code reçu").fill(right)
    page.get_by_role("button", name="Valider").click()
    assert page.locator("h1").inner_text() == "Bonjour Gabriel FONTAINE"


def test_the_consent_page_accepts_some_and_the_app_gets_only_that(
    sb: Sandbox, page: Any, callback: str
) -> None:
    meta = sb.client("catalog").get("/.well-known/openid-configuration").json()
    app = OAuth2Client(
        client_id="app-ma-balance",
        client_secret="ma-balance-secret",
        scope="mesures.read mesures.write documents.read",
        redirect_uri=callback,
        code_challenge_method="S256",
    )
    verifier = generate_token(48)
    url, state = app.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier)
    page.goto(url)
    sign_in(sb, page, "gabriel-fontaine")

    assert page.locator("h1").inner_text() == "Connecter « Ma Balance Connectée » à votre espace"
    assert "Santé Connectée SAS (OID 1.2.250.1.999.1.1)" in page.content()
    boxes = page.get_by_role("checkbox")
    assert boxes.count() == 3
    assert page.get_by_label("Mesures de santé (poids, tension, glycémie...) — lecture").is_checked()
    page.get_by_label("Mesures de santé (poids, tension, glycémie...) — lecture").uncheck()
    page.get_by_label("Documents de santé — lecture").uncheck()
    with page.expect_navigation(url=f"{callback}**"):
        page.get_by_role("button", name="Accepter la sélection").click()
    assert page.locator("h1").inner_text() == "Ma Balance Connectée"
    back = parse_qs(urlsplit(page.url).query)
    assert back["state"] == [state]
    assert back["iss"] == [sb.url("catalog")]
    token = app.fetch_token(
        meta["token_endpoint"], authorization_response=page.url, code_verifier=verifier, state=state
    )
    assert token["scope"] == "mesures.write"

    # The patient revokes from the space, in the browser too.
    page.goto(f"{sb.url('catalog')}/espace/applications")
    row = page.locator("#app-ma-balance")
    assert "Mesures de santé (poids, tension, glycémie...) — écriture" in row.inner_text()
    row.get_by_role("button", name="Révoquer").click()
    assert (
        "Consentement révoqué : Ma Balance Connectée n'a plus accès"
        in page.get_by_role("status").inner_text()
    )
    assert introspect(sb, token["access_token"]) == {"active": False}


def test_refusing_on_the_consent_page(sb: Sandbox, page: Any, callback: str) -> None:
    meta = sb.client("catalog").get("/.well-known/openid-configuration").json()
    app = OAuth2Client(
        client_id="app-ma-balance", scope="mesures.read", redirect_uri=callback, code_challenge_method="S256"
    )
    url, state = app.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=generate_token(48)
    )
    page.goto(url)
    sign_in(sb, page, "gabriel-fontaine")
    with page.expect_navigation(url=f"{callback}**"):
        page.get_by_role("button", name="Refuser").click()
    back = parse_qs(urlsplit(page.url).query)
    assert back["error"] == ["access_denied"]
    assert back["state"] == [state]


def test_a_parent_connects_an_app_for_the_child(sb: Sandbox, page: Any, callback: str) -> None:
    meta = sb.client("catalog").get("/.well-known/openid-configuration").json()
    app = OAuth2Client(
        client_id="app-ma-balance", scope="mesures.write", redirect_uri=callback, code_challenge_method="S256"
    )
    url, _ = app.create_authorization_url(meta["authorization_endpoint"], code_verifier=generate_token(48))
    page.goto(url)
    sign_in(sb, page, "dominique-pat-trois")
    assert page.locator("h1").inner_text() == "Quel espace ouvrir ?"
    page.get_by_label("Espace de Lucas PAT-TROIS (représentant légal)").check()
    page.get_by_role("button", name="Ouvrir").click()
    assert (
        page.locator("h1").inner_text() == "Connecter « Ma Balance Connectée » à l'espace de Lucas PAT-TROIS"
    )
    with page.expect_navigation(url=f"{callback}**"):
        page.get_by_role("button", name="Tout accepter").click()
    assert "code" in parse_qs(urlsplit(page.url).query)

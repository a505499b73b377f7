"""The console in Debian's headless Chromium: a scenario played step by step from the page,
the diagram drawn with the right arrows, a JWT decoded in the side panel, exports
downloaded, and a journey drawn live while it happens."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser import chromium
from tests.support import ADMIN_TOKEN, Sandbox, bearer

pytestmark = [pytest.mark.browser, pytest.mark.db]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser, sb: Sandbox) -> Iterator[object]:
    """A page of the console, signed in with the admin token through its form."""
    context = browser.new_context(accept_downloads=True, viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{sb.url('console')}/scenarios")
    assert "/connexion" in page.url
    page.fill("input[name=jeton]", ADMIN_TOKEN)
    page.click("button[type=submit]")
    page.wait_for_url(f"{sb.url('console')}/scenarios")
    yield page
    context.close()


def test_a_scenario_played_from_the_page_draws_its_journey(page, sb: Sandbox, tmp_path: Path) -> None:
    page.click("[data-scenario=premiers-pas] button:has-text('Jouer pas à pas')")
    page.wait_for_selector("#next-step")
    steps = page.locator("[data-step]").count()
    for played in range(1, steps + 1):
        page.click("#next-step")
        page.wait_for_function("n => document.querySelectorAll('.step.passed').length === n", arg=played)
    assert page.get_attribute("#run-status", "data-status") == "passed"

    # The diagram: the software asks the DMP, the DMP asks PSC, the altered token is refused.
    arrows = page.eval_on_selector_all(
        "#run-diagram g.request",
        "gs => gs.map(g => [g.dataset.from, g.dataset.to, g.dataset.label])",
    )
    assert ["editor", "dmp", "TD0.2 DMP existant ? · GET /fhir/Patient"] in arrows
    assert any(a[:2] == ["dmp", "psc_auth"] and a[2].startswith("Introspection") for a in arrows)
    assert ["editor", "mss", "Boîtes aux lettres · GET /api/mailboxes"] in arrows
    refused = page.locator("#run-diagram g.response[data-status='401']")
    assert refused.count() == 1
    assert refused.get_attribute("data-to") == "editor"

    # Clicking the red arrow opens the exchange beside the diagram, its token decoded.
    refused.locator("a").click()
    page.wait_for_selector("#exchange-panel .exchange")
    panel = page.locator("#exchange-panel")
    assert "401 Unauthorized" in panel.inner_text()
    claims = panel.locator(".token .jwt-claims").first.inner_text()
    assert '"SubjectNameID": "899700112545"' in claims
    assert "signature invalide" in panel.locator(".token .signer").first.inner_text()
    assert "the access token is not valid here" in panel.locator(".why").first.inner_text()

    # Exports are files the browser downloads.
    for label, magic in (("PNG", b"\x89PNG\r\n\x1a\n"), ("Mermaid", b"---\ntitle: Premiers pas")):
        with page.expect_download() as download:
            page.click(f"a.button:has-text('{label}')")
        saved = tmp_path / download.value.suggested_filename
        download.value.save_as(saved)
        assert saved.name.startswith("scenario-premiers-pas.")
        assert saved.read_bytes().startswith(magic)


def test_a_journey_is_drawn_live_while_it_happens(page, sb: Sandbox) -> None:
    trace = "7bf92f3577b34da6a3ce929d0e0e4736"
    page.goto(f"{sb.url('console')}/parcours/{trace}")
    assert page.locator(".diagram g.request").count() == 0
    token = sb.psc_token("jeanne-martin")
    answer = sb.client("mss").get(
        "/api/mailboxes", headers={**bearer(token), "traceparent": f"00-{trace}-00f067aa0ba902b7-01"}
    )
    assert answer.status_code == 200
    page.wait_for_selector(".diagram g.request[data-from=editor][data-to=mss]")
    assert (
        page.locator(".diagram g.response[data-from=mss][data-to=editor]").get_attribute("data-status")
        == "200"
    )
    # Clicking a live-drawn arrow still opens it.
    page.click(".diagram g.request[data-from=editor] a")
    page.wait_for_selector("#exchange-panel .exchange")
    assert "GET" in page.locator("#exchange-panel h2 + p").inner_text()


def test_log_in_as_a_professional_from_the_home_page(page, sb: Sandbox) -> None:
    page.goto(f"{sb.url('console')}/")
    page.click("tr[data-persona=jeanne-martin] a:has-text('Se connecter')")
    # Pro Santé Connect's own pages: the idNatPS is prefilled from login_hint.
    page.wait_for_selector("input#identifiant")
    assert page.input_value("input#identifiant") == "899700112545"
    page.click("form[action$='/identifiant'] button:has-text('Continuer')")
    page.click("a:has-text('Utiliser ma carte CPS')")
    page.fill("input#pin", "1234")
    page.click("button:has-text('Valider')")
    # Back at the console's redirect URI: the code exchanged, the tokens decoded.
    page.wait_for_url(f"{sb.url('console')}/auth/callback*")
    text = page.inner_text("main")
    assert "Connecté comme jeanne-martin" in text
    assert "conforme" in page.inner_text("main p:has-text('Nonce')")
    verdicts = page.eval_on_selector_all(".token", "ts => ts.map(t => t.dataset.verdict)")
    assert verdicts and set(verdicts) == {"valid"}
    assert '"acr": "eidas1"' in page.inner_text(".token .jwt-claims")

"""No token without the second factor: the CPS card's PIN (three wrong ones block it), the
e-CPS push (approved, refused, expired) and the TOTP code, each driven from the tests
through ``/_sandbox/`` or through the simulated e-CPS app's own page."""

from __future__ import annotations

import re

import pytest

from tests.psc_auth.support import (
    Browser,
    advance_clock,
    claims_of,
    exchange,
    pending_pushes,
    totp,
)
from tests.support import Sandbox

pytestmark = pytest.mark.db


def _to_method_page(browser: Browser, identifier: str = "899700112545"):  # type: ignore[no-untyped-def]
    page = browser.authorize(state="st")
    method = browser.identify(page, identifier)
    assert method.status_code == 200
    return page, method


def test_three_wrong_pins_block_the_card_until_unblocked(sb: Sandbox, browser: Browser) -> None:
    page, _ = _to_method_page(browser)
    first = browser.pin(page, "0000")
    assert first.status_code == 400
    assert "Il vous reste 2 essais" in first.text
    assert "Il vous reste 1 essai " in browser.pin(page, "1111").text
    third = browser.pin(page, "2222")
    assert third.status_code == 423
    assert "Votre carte CPS est bloquée" in third.text
    # Even the right PIN is refused now, and no code went to the software.
    assert browser.pin(page, "1234").status_code == 423
    assert browser.callbacks == []
    state = sb.admin("psc_auth", "GET", "professionals/jeanne-martin/card").json()
    assert state == {
        "professional": "jeanne-martin",
        "number": "2000112545",
        "blocked": True,
        "failed_pins": 3,
        "remaining": 0,
    }
    method = browser.http.get(f"{browser.login_base(page)}/methode")
    assert "Votre carte CPS est bloquée" in method.text
    # The sandbox shortcut refuses a blocked card too.
    blocked = sb.admin("psc_auth", "POST", "tokens", json={"professional": "jeanne-martin"})
    assert blocked.status_code == 423
    assert blocked.json()["error"] == "locked"
    # The PUK, through the sandbox: the card works again.
    assert sb.admin("psc_auth", "POST", "professionals/899700112545/card/unblock").json()["blocked"] is False
    assert browser.pin(page, "1234").text == "callback received"
    assert browser.last_callback["code"]


def test_a_right_pin_resets_the_counter(sb: Sandbox, browser: Browser) -> None:
    page, _ = _to_method_page(browser)
    browser.pin(page, "0000")
    browser.pin(page, "0000")
    assert browser.pin(page, "1234").text == "callback received"
    assert sb.admin("psc_auth", "GET", "professionals/jeanne-martin/card").json()["failed_pins"] == 0


def test_an_approved_push_logs_in_with_the_mobile_mode(sb: Sandbox, browser: Browser) -> None:
    page, _ = _to_method_page(browser)
    waiting = browser.http.post(f"{browser.login_base(page)}/ecps")
    assert waiting.status_code == 200
    assert "Validez sur votre application e-CPS" in waiting.text
    [push] = pending_pushes(sb, "jeanne-martin")
    assert push["purpose"] == "login"
    assert push["client_id"] == "dpi-valmont"
    assert push["binding_message"] == "Connexion à DPI du centre hospitalier de Valmont"
    # Waiting: the page still waits.
    assert "Validez sur votre application e-CPS" in browser.http.get(waiting.url).text
    approved = sb.admin("psc_auth", "POST", f"ecps/{push['id']}/approve")
    assert approved.json()["status"] == "approved"
    assert browser.http.get(waiting.url).text == "callback received"
    body = exchange(sb, browser.last_callback["code"]).json()
    id_token = claims_of(body["id_token"])
    assert id_token["authMode"] == "MOBILE"
    assert id_token["amr"] == ["mfa", "swk"]
    assert pending_pushes(sb) == []
    # An answered push cannot be answered again.
    assert sb.admin("psc_auth", "POST", f"ecps/{push['id']}/refuse").status_code == 409


def test_a_refused_push_fails_the_login_cleanly(sb: Sandbox, browser: Browser) -> None:
    page, _ = _to_method_page(browser)
    waiting = browser.http.post(f"{browser.login_base(page)}/ecps")
    [push] = pending_pushes(sb)
    sb.admin("psc_auth", "POST", f"ecps/{push['id']}/refuse")
    browser.http.get(waiting.url)
    assert browser.last_callback["error"] == "access_denied"
    assert "refused" in browser.last_callback["error_description"]
    assert browser.last_callback["state"] == "st"


def test_an_expired_push_fails_the_login_cleanly(sb: Sandbox, browser: Browser) -> None:
    page, _ = _to_method_page(browser)
    waiting = browser.http.post(f"{browser.login_base(page)}/ecps")
    advance_clock(sb, 121)
    assert pending_pushes(sb) == []
    browser.http.get(waiting.url)
    assert browser.last_callback["error"] == "access_denied"
    assert "expired" in browser.last_callback["error_description"]


def test_the_app_page_lists_the_push_and_accepts_it(sb: Sandbox, browser: Browser) -> None:
    page, _ = _to_method_page(browser)
    waiting = browser.http.post(f"{browser.login_base(page)}/ecps")
    app = browser.http.get("/ecps/899700112545")
    assert app.status_code == 200
    assert "Connexion à DPI du centre hospitalier de Valmont" in app.text
    action = re.search(r'action="(/ecps/899700112545/demandes/[^"]+/accepter)"', app.text)
    assert action
    accepted = browser.http.post(action.group(1))
    assert "Demande acceptée." in accepted.text
    assert "Aucune demande en attente." in accepted.text
    assert browser.http.get(waiting.url).text == "callback received"


def test_the_app_shows_the_current_totp_code(sb: Sandbox, browser: Browser) -> None:
    app = browser.http.get("/ecps/899700112545")
    assert totp(sb, "jeanne-martin") in app.text
    unknown = browser.http.get("/ecps/899999999999")
    assert unknown.status_code == 404
    assert "Professionnel inconnu" in unknown.text


def test_a_totp_code_logs_in_once(sb: Sandbox, browser: Browser) -> None:
    page, _ = _to_method_page(browser)
    code = totp(sb, "jeanne-martin")
    wrong = browser.http.post(
        f"{browser.login_base(page)}/totp", data={"code": "000000" if code != "000000" else "111111"}
    )
    assert "Code e-CPS incorrect" in wrong.text
    assert (
        browser.http.post(f"{browser.login_base(page)}/totp", data={"code": code}).text == "callback received"
    )
    assert claims_of(exchange(sb, browser.last_callback["code"]).json()["id_token"])["amr"] == ["mfa", "otp"]
    # RFC 6238 §5.2: the same code is not accepted a second time.
    page2 = browser.authorize(prompt="login")
    browser.identify(page2, "899700112545")
    replay = browser.http.post(f"{browser.login_base(page2)}/totp", data={"code": code})
    assert "Code e-CPS incorrect" in replay.text
    # The next time step's code is.
    advance_clock(sb, 30)
    fresh = browser.http.post(f"{browser.login_base(page2)}/totp", data={"code": totp(sb, "jeanne-martin")})
    assert fresh.text == "callback received"


def test_a_professional_without_e_cps_has_only_the_card(sb: Sandbox, browser: Browser) -> None:
    page, method = _to_method_page(browser, "899700557863")
    assert "Vous n'avez pas activé d'application e-CPS." in method.text
    refused = browser.http.post(f"{browser.login_base(page)}/ecps")
    assert refused.status_code == 409
    assert sb.admin("psc_auth", "GET", "professionals/sophie-lefevre/totp").status_code == 409
    mobile = sb.admin(
        "psc_auth", "POST", "tokens", json={"professional": "sophie-lefevre", "auth_mode": "MOBILE"}
    )
    assert mobile.status_code == 409
    assert browser.pin(page, "1234").text == "callback received"


def test_no_code_without_the_second_factor(sb: Sandbox, browser: Browser) -> None:
    page, _ = _to_method_page(browser)
    base = browser.login_base(page)
    # Skipping ahead to the pages after identification gives nothing.
    assert browser.http.get(f"{base}/carte").status_code == 200
    assert browser.callbacks == []
    page2 = browser.authorize()
    assert browser.http.post(f"{browser.login_base(page2)}/carte", data={"pin": "1234"}).status_code == 409
    assert browser.callbacks == []

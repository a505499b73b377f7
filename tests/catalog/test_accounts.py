"""Patients' accounts: first activation, sign-in with a one-time code, spaces (French pages)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from services.catalog.seed import current_period
from tests.catalog.support import Browser, latest_code
from tests.support import Sandbox

pytestmark = pytest.mark.db


@pytest.fixture
def browser(sb: Sandbox) -> Iterator[Browser]:
    with Browser(sb) as opened:
        yield opened


def test_the_space_asks_to_sign_in_with_the_ins_prefilled(browser: Browser) -> None:
    answer = browser.http.get("/espace/", params={"login_hint": "279035121518989"})
    assert answer.status_code == 303
    page = browser.follow(answer)
    assert page.status_code == 200
    assert 'value="279035121518989"' in page.text
    assert "Se connecter à Mon espace santé" in page.text


def test_sign_in_with_password_and_one_time_code(sb: Sandbox, browser: Browser) -> None:
    first = browser.http.post(
        "/espace/connexion",
        data={"identifiant": "188016912314544", "mot_de_passe": "MonEspace-Gabriel1", "canal": "sms"},
    )
    assert first.status_code == 303
    code_page = browser.follow(first)
    assert "par SMS au" in code_page.text
    assert "+33 6 •• •• •• 02" in code_page.text
    codes = sb.admin("catalog", "GET", "one-time-codes", params={"patient": "gabriel-fontaine"}).json()[
        "codes"
    ]
    assert codes[0]["channel"] == "sms"
    assert codes[0]["destination"] == "+33600000002"
    assert codes[0]["used"] is False
    assert len(codes[0]["code"]) == 6
    # Not signed in until the code is given.
    assert browser.http.get("/espace/").status_code == 303
    done = browser.http.post(
        "/espace/connexion/code", data={"code": codes[0]["code"], "next": "/espace/mesures"}
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/espace/mesures"
    home = browser.http.get("/espace/")
    assert home.status_code == 200
    assert "Bonjour Gabriel FONTAINE" in home.text
    assert sb.admin("catalog", "GET", "one-time-codes", params={"patient": "gabriel-fontaine"}).json()[
        "codes"
    ][0]["used"]


def test_wrong_password_unknown_ins_and_not_activated_account(browser: Browser) -> None:
    wrong = browser.http.post(
        "/espace/connexion", data={"identifiant": "279035121518989", "mot_de_passe": "x"}
    )
    assert wrong.status_code == 401
    assert "identifiant ou mot de passe incorrect" in wrong.text
    unknown = browser.http.post(
        "/espace/connexion", data={"identifiant": "100000000000000", "mot_de_passe": "x"}
    )
    assert unknown.status_code == 401
    yasmine = browser.http.post(
        "/espace/connexion", data={"identifiant": "204099304803137", "mot_de_passe": "MonEspace-Yasmine1"}
    )
    assert yasmine.status_code == 403
    assert "pas encore activé" in yasmine.text


def test_three_wrong_codes_end_the_attempt_and_a_new_code_replaces_the_old(
    sb: Sandbox, browser: Browser
) -> None:
    browser.http.post(
        "/espace/connexion",
        data={"identifiant": "188016912314544", "mot_de_passe": "MonEspace-Gabriel1", "canal": "email"},
    )
    resent = browser.http.post("/espace/connexion/renvoyer", data={})
    assert resent.status_code == 303
    new = latest_code(sb, "gabriel-fontaine")
    codes = sb.admin("catalog", "GET", "one-time-codes", params={"patient": "gabriel-fontaine"}).json()[
        "codes"
    ]
    assert codes[0]["channel"] == "email"
    assert codes[0]["destination"] == "gabriel.fontaine@example.org"
    assert codes[1]["used"] is True  # the first one no longer works
    wrong = "000000" if new != "000000" else "111111"
    first = browser.http.post("/espace/connexion/code", data={"code": wrong})
    assert first.status_code == 401
    assert "essai(s) restant(s)" in first.text
    browser.http.post("/espace/connexion/code", data={"code": wrong})
    last = browser.http.post("/espace/connexion/code", data={"code": wrong})
    assert "trop d&#39;essais" in last.text
    # The right code no longer helps: start again.
    late = browser.http.post("/espace/connexion/code", data={"code": new})
    assert late.status_code == 303
    assert late.headers["location"].startswith("/espace/connexion")
    assert browser.http.get("/espace/").status_code == 303


def test_first_activation_then_sign_in(sb: Sandbox, browser: Browser) -> None:
    form = {
        "identifiant": "204099304803137",
        "code_activation": "Y8Z4A6",
        "date_naissance": "2004-09-30",
        "mot_de_passe": "Nouveau-Mot2Passe",
        "confirmation": "Nouveau-Mot2Passe",
    }
    mismatch = browser.http.post("/espace/activation", data={**form, "confirmation": "autre-chose"})
    assert mismatch.status_code == 400
    bad_code = browser.http.post("/espace/activation", data={**form, "code_activation": "AAAAAA"})
    assert bad_code.status_code == 401
    bad_birth = browser.http.post("/espace/activation", data={**form, "date_naissance": "2004-10-01"})
    assert bad_birth.status_code == 401
    short = browser.http.post(
        "/espace/activation", data={**form, "mot_de_passe": "court", "confirmation": "court"}
    )
    assert short.status_code == 400
    done = browser.http.post("/espace/activation", data=form)
    assert done.status_code == 200
    assert "Votre compte est activé" in done.text
    again = browser.http.post("/espace/activation", data=form)
    assert again.status_code == 400
    assert "déjà activé" in again.text
    signed = browser.http.post(
        "/espace/connexion", data={"identifiant": "204099304803137", "mot_de_passe": "Nouveau-Mot2Passe"}
    )
    assert signed.status_code == 303
    code = latest_code(sb, "yasmine-haddad")
    assert browser.http.post("/espace/connexion/code", data={"code": code}).status_code == 303
    assert "Bonjour Yasmine HADDAD" in browser.http.get("/espace/").text


def test_sign_out(browser: Browser) -> None:
    browser.sign_in("dominique-pat-trois")
    home = browser.http.get("/espace/")
    out = browser.http.post("/espace/deconnexion", data={"csrf": browser.csrf(home)})
    assert out.status_code == 303
    assert browser.http.get("/espace/").status_code == 303


def test_a_form_without_its_csrf_token_is_refused(browser: Browser) -> None:
    browser.sign_in("dominique-pat-trois")
    refused = browser.http.post("/espace/deconnexion", data={"csrf": "forged"})
    assert refused.status_code == 403
    assert "formulaire expiré" in refused.text


def test_a_parent_opens_the_child_space(browser: Browser) -> None:
    answer = browser.sign_in("dominique-pat-trois")
    assert answer.headers["location"].startswith("/espace/choisir")
    choice = browser.http.get(answer.headers["location"])
    assert "Espace de Lucas PAT-TROIS (représentant légal)" in choice.text
    browser.choose_space("representant_legal", "lucas-pat-trois")
    home = browser.http.get("/espace/")
    assert "Vous agissez pour Lucas PAT-TROIS en tant que représentant légal" in home.text


def test_a_caregiver_opens_the_space_of_the_person_helped(browser: Browser) -> None:
    browser.sign_in("claire-leclerc")
    choice = browser.http.get("/espace/choisir")
    until = current_period(None, dt.date(2027, 12, 31), dt.date.today())[1]
    assert f"Espace de Henri LECLERC (aidant, jusqu&#39;au {until:%d/%m/%Y})" in choice.text
    browser.choose_space("aidant", "henri-leclerc")
    assert "en tant que aidant" in browser.http.get("/espace/").text
    # A space one has no right to cannot be opened.
    refused = browser.http.post(
        "/espace/choisir", data={"espace": "aidant:gabriel-fontaine", "csrf": browser.csrf(choice)}
    )
    assert refused.status_code == 403


def test_only_local_next_urls(browser: Browser) -> None:
    answer = browser.sign_in("gabriel-fontaine", next_url="https://evil.example/")
    assert answer.headers["location"] == "/espace/"
    page = browser.http.get("/espace/connexion", params={"next": "//evil.example"})
    assert 'name="next" value="/espace/"' in page.text

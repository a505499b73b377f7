"""The patient's controls over the real DMP from the space (contract 3, end to end): the
pages call the DMP with a token of the space, the DMP introspects it here."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from tests.catalog.support import Browser
from tests.support import Sandbox, bearer

pytestmark = pytest.mark.db

KARIM = "899700223011"
PAUL = "899700446125"


@pytest.fixture
def browser(sb: Sandbox) -> Iterator[Browser]:
    with Browser(sb) as opened:
        yield opened


def controls(sb: Sandbox, patient: str, **body: Any) -> dict[str, Any]:
    answer = sb.client("dmp").get("/api/patient/controls", headers=bearer(sb.mes_token(patient, **body)))
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()
    return data


def test_block_authorize_and_object_through_the_space(sb: Sandbox, browser: Browser) -> None:
    browser.sign_in("gabriel-fontaine")
    page = browser.http.get("/espace/dmp")
    assert page.status_code == 200, page.text
    assert "Paul RENAUD (Infirmier)" in page.text
    token = browser.csrf(page)

    blocked = browser.http.post("/espace/dmp/bloquer", data={"idnat": KARIM, "csrf": token})
    assert blocked.status_code == 303
    assert "Le professionnel est bloqué" in browser.follow(blocked).text
    assert KARIM in controls(sb, "gabriel-fontaine")["blocked"]

    until = (dt.date.today() + dt.timedelta(days=20)).isoformat()
    browser.http.post(
        "/espace/dmp/autoriser", data={"idnat": "899700334586", "jusqu_au": until, "csrf": token}
    )
    assert controls(sb, "gabriel-fontaine")["authorizations"] == [{"idnat": "899700334586", "until": until}]

    browser.http.post("/espace/dmp/bris-de-glace", data={"opposition": "oui", "csrf": token})
    assert controls(sb, "gabriel-fontaine")["break_glass_objection"] is True

    browser.http.post("/espace/dmp/debloquer", data={"idnat": PAUL, "csrf": token})
    assert controls(sb, "gabriel-fontaine")["blocked"] == [KARIM]
    # The DMP traced who did it: the calls came with the space's tokens, introspected here.
    exchanges = sb.admin("dmp", "GET", "exchanges").json()["exchanges"]
    assert any(
        e["path"] == f"/api/patient/controls/blocked/{KARIM}" and e["caller"] == "catalog" for e in exchanges
    )


def test_a_refusal_of_the_dmp_shows_on_the_page(sb: Sandbox, browser: Browser) -> None:
    browser.sign_in("gabriel-fontaine")
    token = browser.csrf(browser.http.get("/espace/dmp"))
    past = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    refused = browser.http.post(
        "/espace/dmp/autoriser", data={"idnat": KARIM, "jusqu_au": past, "csrf": token}
    )
    assert refused.status_code in (400, 422), refused.text
    assert "Le DMP a refusé" in refused.text


def test_a_parent_manages_the_child_s_dmp(sb: Sandbox, browser: Browser) -> None:
    browser.sign_in("dominique-pat-trois")
    browser.choose_space("representant_legal", "lucas-pat-trois")
    page = browser.http.get("/espace/dmp")
    assert page.status_code == 200, page.text
    assert "Qui peut consulter le DMP" in page.text
    browser.http.post("/espace/dmp/bloquer", data={"idnat": KARIM, "csrf": browser.csrf(page)})
    assert controls(sb, "lucas-pat-trois")["blocked"] == [KARIM]
    assert controls(sb, "dominique-pat-trois")["blocked"] == []


def test_a_caregiver_without_the_right_does_not_reach_the_controls(sb: Sandbox, browser: Browser) -> None:
    browser.sign_in("claire-leclerc")
    browser.choose_space("aidant", "henri-leclerc")
    refused = browser.http.get("/espace/dmp")
    assert refused.status_code == 403
    assert "ce droit ne vous a pas été délégué" in refused.text
    home = browser.http.get("/espace/")
    post = browser.http.post("/espace/dmp/bloquer", data={"idnat": KARIM, "csrf": browser.csrf(home)})
    assert post.status_code == 403
    assert controls(sb, "henri-leclerc")["blocked"] == []

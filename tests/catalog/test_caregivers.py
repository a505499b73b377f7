"""Caregivers (aidants): delegation with chosen rights and an end date, limited access,
ended at once; parents reaching a minor child's space only."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from services.catalog.seed import current_period
from tests.catalog.support import Browser, claims_of, introspect, tokens
from tests.support import Sandbox, bearer

pytestmark = pytest.mark.db

GABRIEL_INS = "188016912314544"


@pytest.fixture
def henri(sb: Sandbox) -> Iterator[Browser]:
    with Browser(sb) as browser:
        browser.sign_in("henri-leclerc")
        yield browser


def in_a_month() -> str:
    return (dt.date.today() + dt.timedelta(days=30)).isoformat()


def test_the_holder_delegates_chosen_rights_until_a_date(sb: Sandbox, henri: Browser) -> None:
    page = henri.http.get("/espace/aidants")
    assert "Claire LECLERC" in page.text
    assert f"{current_period(None, dt.date(2027, 12, 31), dt.date.today())[1]:%d/%m/%Y}" in page.text
    done = henri.http.post(
        "/espace/aidants",
        data={
            "aidant": GABRIEL_INS,
            "droits": ["mesures.read", "documents.read"],
            "jusqu_au": in_a_month(),
            "csrf": henri.csrf(page),
        },
    )
    assert done.status_code == 303, done.text
    assert "Gabriel FONTAINE" in henri.follow(done).text
    body = tokens(sb, patient="henri-leclerc", actor="aidant", person="gabriel-fontaine").json()
    assert body["scope"] == "documents.read mesures.read"
    assert claims_of(body["access_token"])["act"] == {"sub": "gabriel-fontaine"}
    with Browser(sb) as gabriel:
        gabriel.sign_in("gabriel-fontaine")
        choice = gabriel.http.get("/espace/choisir")
        assert "Espace de Henri LECLERC (aidant" in choice.text
        gabriel.choose_space("aidant", "henri-leclerc")
        assert gabriel.http.get("/espace/mesures").status_code == 200
        assert gabriel.http.get("/espace/dmp").status_code == 403


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"aidant": "100000000000000", "droits": ["documents.read"]}, "aucun compte Mon espace santé"),
        ({"aidant": "141037505608915", "droits": ["documents.read"]}, "son propre aidant"),
        ({"aidant": GABRIEL_INS, "droits": []}, "au moins un droit"),
        ({"aidant": GABRIEL_INS, "droits": ["documents.read"], "jusqu_au": "2020-01-01"}, "déjà passée"),
        ({"aidant": GABRIEL_INS, "droits": ["tout"]}, "droits inconnus"),
    ],
)
def test_a_bad_delegation_is_refused_on_the_page(
    henri: Browser, form: dict[str, object], message: str
) -> None:
    page = henri.http.get("/espace/aidants")
    answer = henri.http.post(
        "/espace/aidants", data={"jusqu_au": in_a_month(), **form, "csrf": henri.csrf(page)}
    )
    assert answer.status_code == 400
    assert message in answer.text


def test_ending_a_delegation_stops_the_caregiver_at_once(sb: Sandbox, henri: Browser) -> None:
    claire = tokens(sb, patient="henri-leclerc", actor="aidant", person="claire-leclerc").json()[
        "access_token"
    ]
    assert introspect(sb, claire)["active"] is True
    page = henri.http.get("/espace/aidants")
    action = page.text.split('action="/espace/aidants/')[1].split('"')[0]
    done = henri.http.post(f"/espace/aidants/{action}", data={"csrf": henri.csrf(page)})
    assert done.status_code == 303
    assert introspect(sb, claire) == {"active": False}
    # The DMP, which introspects, refuses it too.
    refused = sb.client("dmp").get(
        "/fhir/DocumentReference",
        headers=bearer(claire),
        params={"patient.identifier": "urn:oid:1.2.250.1.213.1.4.10|141037505608915"},
    )
    assert refused.status_code == 401
    assert tokens(sb, patient="henri-leclerc", actor="aidant", person="claire-leclerc").status_code == 400
    with Browser(sb) as browser:
        browser.sign_in("claire-leclerc")
        assert "Henri" not in browser.http.get("/espace/choisir").text


def test_a_delegation_past_its_end_date_no_longer_works(sb: Sandbox) -> None:
    claire = tokens(sb, patient="henri-leclerc", actor="aidant", person="claire-leclerc").json()[
        "access_token"
    ]
    snapshot = sb.admin("catalog", "GET", "snapshot").json()
    yesterday = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    for row in snapshot["tables"]["delegations"]:
        row["until"] = yesterday
    assert sb.admin("catalog", "PUT", "snapshot", json=snapshot).status_code == 200
    assert introspect(sb, claire) == {"active": False}
    assert tokens(sb, patient="henri-leclerc", actor="aidant", person="claire-leclerc").status_code == 400


def test_a_caregiver_cannot_delegate_further(sb: Sandbox) -> None:
    with Browser(sb) as claire:
        claire.sign_in("claire-leclerc")
        claire.choose_space("aidant", "henri-leclerc")
        page = claire.http.get("/espace/aidants")
        assert "Désigner un aidant" not in page.text
        refused = claire.http.post(
            "/espace/aidants",
            data={
                "aidant": GABRIEL_INS,
                "droits": ["documents.read"],
                "jusqu_au": in_a_month(),
                "csrf": claire.csrf(page),
            },
        )
        assert refused.status_code == 403


def test_a_caregiver_token_carries_only_the_delegated_rights_in_the_dmp(sb: Sandbox) -> None:
    claire = tokens(sb, patient="henri-leclerc", actor="aidant", person="claire-leclerc").json()[
        "access_token"
    ]
    controls = sb.client("dmp").get("/api/patient/controls", headers=bearer(claire))
    assert controls.status_code == 403  # dmp.manage was not delegated (and caregivers do not manage)
    docs = sb.client("dmp").get(
        "/fhir/DocumentReference",
        headers=bearer(claire),
        params={"patient.identifier": "urn:oid:1.2.250.1.213.1.4.10|141037505608915"},
    )
    assert docs.status_code == 200, docs.text


def test_a_parent_reaches_the_child_but_not_another_patient(sb: Sandbox) -> None:
    parent = tokens(
        sb, patient="lucas-pat-trois", actor="representant_legal", person="dominique-pat-trois"
    ).json()
    lucas = sb.client("dmp").get(
        "/fhir/DocumentReference",
        headers=bearer(parent["access_token"]),
        params={"patient.identifier": "urn:oid:1.2.250.1.213.1.4.10|115055145402386"},
    )
    assert lucas.status_code == 200, lucas.text
    titles = [
        e["resource"]["content"][0]["attachment"]["title"]
        for e in lucas.json().get("entry", [])
        if e["resource"]["resourceType"] == "DocumentReference"
    ]
    assert "Consultation pédiatrique" in titles
    assert "Consultation confidentielle" not in titles  # INVISIBLE_REPRESENTANTS_LEGAUX
    other = sb.client("dmp").get(
        "/fhir/DocumentReference",
        headers=bearer(parent["access_token"]),
        params={"patient.identifier": "urn:oid:1.2.250.1.213.1.4.10|188016912314544"},
    )
    assert other.status_code in (403, 404)
    assert (
        tokens(
            sb, patient="gabriel-fontaine", actor="representant_legal", person="dominique-pat-trois"
        ).status_code
        == 400
    )

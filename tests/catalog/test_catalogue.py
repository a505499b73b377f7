"""The catalogue: public listing, referencing, renewal and withdrawal through the API."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import OAuth2Client

from services.catalog.seed import current_period
from tests.catalog.support import Browser, app_tokens, authority, introspect, tokens
from tests.support import Sandbox, bearer

pytestmark = pytest.mark.db

NEW_APP: dict[str, Any] = {
    "id": "journal-glycemie",
    "name": "Journal Glycémie",
    "editor": "GlucoSoft",
    "editor_oid": "1.2.250.1.999.5.1",
    "description": "Carnet de glycémie relié au lecteur.",
    "track": "exchange",
    "data": [{"category": "mesures", "access": ["write"]}],
    "client_id": "app-journal-glycemie",
    "public_client": True,
    "redirect_uris": ["http://127.0.0.1:4005/callback"],
}


def one_year_after(day: dt.date) -> dt.date:
    return day.replace(year=day.year + 1)


def test_the_public_listing_in_json(sb: Sandbox) -> None:
    answer = sb.client("catalog").get("/api/catalogue/apps")
    assert answer.status_code == 200
    apps = {a["id"]: a for a in answer.json()["apps"]}
    assert answer.json()["total"] == 4
    balance = apps["ma-balance"]
    assert balance["editor"] == "Santé Connectée SAS"
    assert balance["editor_oid"] == "1.2.250.1.999.1.1"
    assert balance["track"] == "exchange"
    assert balance["status"] == "active"
    start, end = current_period(dt.date(2026, 3, 1), dt.date(2027, 3, 1), dt.date.today())
    assert (balance["referenced_on"], balance["expires_on"]) == (str(start), str(end))
    assert balance["data"][0]["scopes"] == ["mesures.read", "mesures.write"]
    assert balance["data"][1]["scopes"] == ["documents.read"]
    assert "client_secret" not in balance
    assert apps["carnet-tension"]["status"] == "expired"
    assert apps["coach-sommeil"]["status"] == "withdrawn"
    assert apps["agenda-soins"]["track"] == "listed"
    assert apps["agenda-soins"]["data"] == []
    exchange = sb.client("catalog").get(
        "/api/catalogue/apps", params={"status": "active", "track": "exchange"}
    )
    assert [a["id"] for a in exchange.json()["apps"]] == ["ma-balance"]
    assert sb.client("catalog").get("/api/catalogue/apps/nothing").status_code == 404


def test_the_french_page(sb: Sandbox) -> None:
    page = sb.client("catalog").get("/catalogue")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    for text in (
        "Ma Balance Connectée",
        "retiré du catalogue",
        "référencement expiré",
        "référencement simple",
        "Mesures de santé",
        "lecture, écriture",
    ):
        assert text in page.text
    start, end = current_period(dt.date(2026, 3, 1), dt.date(2027, 3, 1), dt.date.today())
    assert f"du {start:%d/%m/%Y} au {end:%d/%m/%Y}" in page.text
    one = sb.client("catalog").get("/catalogue/agenda-soins")
    assert "Agenda Soins" in one.text
    assert sb.client("catalog").get("/catalogue/nothing").status_code == 404


def test_the_referencing_api_is_the_authority_s(sb: Sandbox) -> None:
    catalog = sb.client("catalog")
    assert catalog.post("/api/catalogue/apps", json=NEW_APP).status_code == 401
    assert catalog.post("/api/catalogue/apps/ma-balance/withdraw", json={"reason": "x"}).status_code == 401
    assert catalog.post("/api/catalogue/apps/carnet-tension/renew").status_code == 401
    assert catalog.patch("/api/catalogue/apps/ma-balance", json={"name": "x"}).status_code == 401


def test_referencing_a_new_app_for_a_year_then_pairing_it_as_a_public_client(sb: Sandbox) -> None:
    created = authority(sb, "POST", "/api/catalogue/apps", json=NEW_APP)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["status"] == "active"
    today = dt.date.fromisoformat(body["referenced_on"])
    assert body["expires_on"] == one_year_after(today).isoformat()
    assert body["public_client"] is True
    assert "client_secret" not in body
    assert created.headers["location"] == "/api/catalogue/apps/journal-glycemie"
    again = authority(sb, "POST", "/api/catalogue/apps", json=NEW_APP)
    assert again.status_code == 409

    # A public client pairs with PKCE only.
    meta = sb.client("catalog").get("/.well-known/openid-configuration").json()
    oauth = OAuth2Client(
        client_id="app-journal-glycemie",
        scope="mesures.write",
        redirect_uri="http://127.0.0.1:4005/callback",
        code_challenge_method="S256",
        token_endpoint_auth_method="none",
    )
    verifier = generate_token(48)
    url, state = oauth.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier)
    with Browser(sb) as browser:
        location = browser.consent(url, "gabriel-fontaine", "accepter_tout")
    token = oauth.fetch_token(
        meta["token_endpoint"], authorization_response=location, code_verifier=verifier, state=state
    )
    assert token["scope"] == "mesures.write"
    assert introspect(sb, token["access_token"])["client_id"] == "app-journal-glycemie"


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"track": "listed"}, 400),
        ({"track": "exchange", "data": []}, 400),
        (
            {
                "data": [
                    {"category": "mesures", "access": ["write"]},
                    {"category": "mesures", "access": ["read"]},
                ]
            },
            400,
        ),
        ({"data": [{"category": "radiologie", "access": ["read"]}]}, 422),
        ({"editor_oid": "not-an-oid"}, 422),
        ({"client_id": "app-ma-balance", "id": "autre"}, 409),
    ],
)
def test_a_bad_referencing_is_refused(sb: Sandbox, change: dict[str, Any], status: int) -> None:
    answer = authority(sb, "POST", "/api/catalogue/apps", json={**NEW_APP, **change})
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]
    assert answer.json()["detail"]


def test_a_confidential_app_gets_its_secret_once(sb: Sandbox) -> None:
    created = authority(sb, "POST", "/api/catalogue/apps", json={**NEW_APP, "public_client": False})
    secret = created.json()["client_secret"]
    assert len(secret) >= 24
    assert "client_secret" not in sb.client("catalog").get("/api/catalogue/apps/journal-glycemie").json()
    body = tokens(sb, patient="gabriel-fontaine", actor="app", app="journal-glycemie").json()
    as_app = ("app-journal-glycemie", secret)
    assert introspect(sb, body["access_token"], as_app)["active"] is True


def test_renewal_brings_an_expired_app_back_for_a_year_twice_at_most(sb: Sandbox) -> None:
    assert tokens(sb, patient="gabriel-fontaine", actor="app", app="carnet-tension").status_code == 403
    renewed = authority(sb, "POST", "/api/catalogue/apps/carnet-tension/renew")
    assert renewed.status_code == 200, renewed.text
    body = renewed.json()
    assert body["status"] == "active"
    assert body["renewals"] == 1
    # Expired: the new year starts today.
    assert body["expires_on"] == one_year_after(dt.datetime.now(dt.UTC).date()).isoformat()
    assert tokens(sb, patient="gabriel-fontaine", actor="app", app="carnet-tension").status_code == 200
    # A renewal counts from the end of the current year.
    second = authority(sb, "POST", "/api/catalogue/apps/carnet-tension/renew").json()
    assert second["expires_on"] == one_year_after(dt.date.fromisoformat(body["expires_on"])).isoformat()
    assert second["renewals_left"] == 0
    third = authority(sb, "POST", "/api/catalogue/apps/carnet-tension/renew")
    assert third.status_code == 409
    assert authority(sb, "POST", "/api/catalogue/apps/coach-sommeil/renew").status_code == 409
    assert authority(sb, "POST", "/api/catalogue/apps/nothing/renew").status_code == 404


def test_a_withdrawn_app_is_refused_everywhere_at_once(sb: Sandbox) -> None:
    body = app_tokens(sb, scope="mesures.read documents.read")
    assert introspect(sb, body["access_token"])["active"] is True
    withdrawn = authority(
        sb, "POST", "/api/catalogue/apps/ma-balance/withdraw", json={"reason": "Non-conformité"}
    )
    assert withdrawn.status_code == 200
    assert withdrawn.json()["status"] == "withdrawn"
    assert withdrawn.json()["withdrawal_reason"] == "Non-conformité"
    assert introspect(sb, body["access_token"]) == {"active": False}
    # The DMP (which introspects) and the mesures API refuse its token from that moment.
    documents = sb.client("dmp").get(
        "/fhir/DocumentReference",
        params={"patient.identifier": "urn:oid:1.2.250.1.213.1.4.10|279035121518989"},
        headers=bearer(body["access_token"]),
    )
    assert documents.status_code == 401, documents.text
    read = sb.client("catalog").get(
        "/fhir/Observation",
        params={
            "subject.identifier": f"{body['idpe_system']}|{body['idpe']}",
            "code": "29463-7",
            "_sort": "-date",
            "_count": "1",
        },
        headers=bearer(body["access_token"]),
    )
    assert read.status_code == 401, read.text
    refresh = sb.client("catalog").post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
        auth=("app-ma-balance", "ma-balance-secret"),
    )
    assert refresh.status_code == 400
    assert refresh.json()["error"] == "unauthorized_client"
    assert tokens(sb, patient="dominique-pat-trois", actor="app", app="ma-balance").status_code == 403
    assert (
        authority(sb, "POST", "/api/catalogue/apps/ma-balance/withdraw", json={"reason": "x"}).status_code
        == 409
    )
    listed = sb.client("catalog").get("/api/catalogue/apps/ma-balance").json()
    assert listed["status"] == "withdrawn"


def test_updating_the_editor_oid(sb: Sandbox) -> None:
    answer = authority(
        sb, "PATCH", "/api/catalogue/apps/ma-balance", json={"editor_oid": "1.2.250.1.999.1.2"}
    )
    assert answer.status_code == 200
    assert answer.json()["editor_oid"] == "1.2.250.1.999.1.2"
    assert app_tokens(sb)["idpe_system"] == "urn:oid:1.2.250.1.999.1.2"

"""The issue's "done when", end to end across Mon espace santé and the real DMP: a patient
signs in, connects an app from the catalogue with a partial consent, the app writes a weight
and reads a document, the patient revokes the consent and the app is refused everywhere at
once. Plus the space's document pages over the real DMP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import OAuth2Client

from tests.catalog.support import Browser, app_tokens, authority, introspect, revoke_consent
from tests.catalog.test_mesures import weight_bundle
from tests.support import Sandbox, bearer

pytestmark = pytest.mark.db

DOMINIQUE = "urn:oid:1.2.250.1.213.1.4.10|279035121518989"


@pytest.fixture
def browser(sb: Sandbox) -> Iterator[Browser]:
    with Browser(sb) as opened:
        yield opened


def pair_balance(sb: Sandbox, browser: Browser, ticked: list[str]) -> dict[str, Any]:
    meta = sb.client("catalog").get("/.well-known/openid-configuration").json()
    app = OAuth2Client(
        client_id="app-ma-balance",
        client_secret="ma-balance-secret",
        scope="openid mesures.read mesures.write documents.read",
        redirect_uri="http://127.0.0.1:4000/callback",
        code_challenge_method="S256",
    )
    verifier = generate_token(48)
    url, state = app.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier)
    location = browser.consent(url, "dominique-pat-trois", "accepter", ticked)
    token = app.fetch_token(
        meta["token_endpoint"], authorization_response=location, code_verifier=verifier, state=state
    )
    return dict(token)


def documents(sb: Sandbox, token: str) -> httpx.Response:
    return sb.client("dmp").get(
        "/fhir/DocumentReference", params={"patient.identifier": DOMINIQUE}, headers=bearer(token)
    )


def last_weight(sb: Sandbox, token: dict[str, Any]) -> httpx.Response:
    return sb.client("catalog").get(
        "/fhir/Observation",
        headers=bearer(token["access_token"]),
        params={
            "subject.identifier": f"urn:oid:1.2.250.1.999.1.1|{token['idpe']}",
            "code": "29463-7",
            "_sort": "-date",
            "_count": "1",
        },
    )


def test_pair_write_read_revoke_refused_everywhere(sb: Sandbox, browser: Browser) -> None:
    token = pair_balance(sb, browser, ["mesures.write", "documents.read"])
    assert token["scope"] == "openid mesures.write documents.read"
    # The app writes a weight...
    written = sb.client("catalog").post(
        "/fhir", json=weight_bundle(token["idpe"], 68.2), headers=bearer(token["access_token"])
    )
    assert written.status_code == 200, written.text
    # ...reads the patient's documents in the DMP with its own token (contract 4)...
    found = documents(sb, token["access_token"])
    assert found.status_code == 200, found.text
    titles = {
        e["resource"]["content"][0]["attachment"]["title"]
        for e in found.json().get("entry", [])
        if e["resource"]["resourceType"] == "DocumentReference"
    }
    assert "Compte rendu de consultation" in titles
    assert (
        "Résultats d'examens biologiques" not in titles
    )  # INVISIBLE_PATIENT: hidden from the patient's apps
    # ...but reading measurements was not consented.
    assert last_weight(sb, token).status_code == 403
    # The patient sees the weight in the space, then revokes.
    browser.http.get("/espace/choisir")
    page = browser.http.get("/espace/applications")
    assert "Ma Balance Connectée" in page.text
    revoked = browser.http.post("/espace/applications/ma-balance/revoquer", data={"csrf": browser.csrf(page)})
    assert revoked.status_code == 303
    # Refused everywhere, at once.
    assert documents(sb, token["access_token"]).status_code == 401
    again = sb.client("catalog").post(
        "/fhir", json=weight_bundle(token["idpe"], 68.0), headers=bearer(token["access_token"])
    )
    assert again.status_code == 403
    assert again.json()["issue"][0]["diagnostics"] == "Consent not given, access refused."
    assert introspect(sb, token["access_token"]) == {"active": False}
    refresh = sb.client("catalog").post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
        auth=("app-ma-balance", "ma-balance-secret"),
    )
    assert refresh.json()["error"] == "invalid_grant"
    # The weight stays the patient's.
    assert "68,2 kg" in browser.http.get("/espace/mesures").text


def test_hiding_a_document_from_professionals_through_the_space(sb: Sandbox, browser: Browser) -> None:
    browser.sign_in("gabriel-fontaine")
    page = browser.http.get("/espace/documents")
    assert page.status_code == 200, page.text
    assert "Compte rendu d&#39;hospitalisation" in page.text
    doc_id = page.text.split('name="document" value="')[1].split('"')[0]
    done = browser.http.post(
        "/espace/documents/visibilite",
        data={"document": doc_id, "masquer": "oui", "csrf": browser.csrf(page)},
    )
    assert done.status_code == 303, done.text
    shown = browser.follow(done)
    assert "Le document est masqué aux professionnels" in shown.text
    assert "masqué aux professionnels</td>" in shown.text
    mine = sb.client("dmp").get(
        "/fhir/DocumentReference",
        headers=bearer(sb.mes_token("gabriel-fontaine")),
        params={"patient.identifier": "urn:oid:1.2.250.1.213.1.4.10|188016912314544"},
    )
    codes = [
        c["code"]
        for e in mine.json()["entry"]
        if e["resource"]["resourceType"] == "DocumentReference"
        for label in e["resource"]["securityLabel"]
        for c in label["coding"]
    ]
    assert "MASQUE_PS" in codes
    new_id = shown.text.split('name="document" value="')[1].split('"')[0]
    back = browser.http.post(
        "/espace/documents/visibilite",
        data={"document": new_id, "masquer": "non", "csrf": browser.csrf(shown)},
    )
    assert back.status_code == 303, back.text
    assert "visible des professionnels" in browser.follow(back).text


def test_the_access_traces_show_who_read_the_dmp(sb: Sandbox, browser: Browser) -> None:
    documents(sb, sb.psc_token("jeanne-martin"))
    browser.sign_in("dominique-pat-trois")
    page = browser.http.get("/espace/dmp/traces")
    assert page.status_code == 200, page.text
    assert "<table>" in page.text
    assert "JEANNE" in page.text.upper()


def test_a_caregiver_reads_documents_when_delegated(sb: Sandbox, browser: Browser) -> None:
    browser.sign_in("claire-leclerc")
    browser.choose_space("aidant", "henri-leclerc")
    page = browser.http.get("/espace/documents")
    assert page.status_code == 200, page.text
    assert "Masquer aux professionnels" not in page.text  # dmp.manage was not delegated


def test_mssante_refuses_the_app_at_once_after_revocation(sb: Sandbox) -> None:
    messenger = {
        "id": "messagerie-suivi",
        "name": "Messagerie Suivi",
        "editor": "Suivi SAS",
        "editor_oid": "1.2.250.1.999.7.1",
        "description": "Lit les messages de santé.",
        "track": "exchange",
        "data": [{"category": "messages", "access": ["read"]}],
        "client_id": "app-messagerie-suivi",
        "public_client": True,
        "redirect_uris": ["http://127.0.0.1:4007/cb"],
    }
    assert authority(sb, "POST", "/api/catalogue/apps", json=messenger).status_code == 201
    body = app_tokens(sb, app="messagerie-suivi", scope="messages.read")
    inbox = "/api/mailboxes/279035121518989@patient.mssante.fr/messages"
    answer = sb.client("mss").get(inbox, headers=bearer(body["access_token"]))
    assert answer.status_code == 200, answer.text
    revoke_consent(sb, app="messagerie-suivi")
    refused = sb.client("mss").get(inbox, headers=bearer(body["access_token"]))
    assert refused.status_code == 401, refused.text

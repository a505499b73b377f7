"""Consents as FHIR ``Consent`` resources with their history; revocation from the space."""

from __future__ import annotations

from typing import Any

import pytest

from tests.catalog.support import Browser, app_tokens, introspect, revoke_consent, tokens
from tests.support import Sandbox, bearer

pytestmark = pytest.mark.db

DOMINIQUE = "urn:oid:1.2.250.1.213.1.4.10|279035121518989"


def valid_consent(resource: dict[str, Any]) -> dict[str, Any]:
    from fhir.resources.R4B.consent import Consent

    Consent.model_validate(resource)
    return resource


def consents_of(sb: Sandbox, token: str, **params: str) -> dict[str, Any]:
    answer = sb.client("catalog").get("/fhir/Consent", params=params, headers=bearer(token))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/fhir+json")
    data: dict[str, Any] = answer.json()
    return data


def test_a_consent_is_a_fhir_consent_listing_each_category_and_direction(sb: Sandbox) -> None:
    body = app_tokens(sb, scope="mesures.read mesures.write documents.read")
    bundle = consents_of(sb, sb.mes_token(), **{"patient.identifier": DOMINIQUE})
    assert bundle["type"] == "searchset"
    assert bundle["total"] == 1
    consent = valid_consent(bundle["entry"][0]["resource"])
    assert consent["status"] == "active"
    assert consent["meta"]["versionId"] == "1"
    assert consent["patient"]["identifier"] == {
        "system": "urn:oid:1.2.250.1.213.1.4.10",
        "value": "279035121518989",
    }
    assert consent["performer"][0]["display"] == "Dominique PAT-TROIS"
    assert consent["identifier"][0] == {
        "use": "secondary",
        "system": "urn:oid:1.2.250.1.999.1.1",
        "value": body["idpe"],
    }
    assert consent["policyRule"]["coding"][0]["code"] == "OPTIN"
    actor = consent["provision"]["actor"][0]
    assert actor["role"]["coding"][0]["code"] == "IRCP"
    assert actor["reference"]["identifier"]["value"] == "urn:oid:1.2.250.1.999.1.1"
    grants = [
        (p["code"][0]["coding"][0]["code"], p["action"][0]["coding"][0]["code"])
        for p in consent["provision"]["provision"]
    ]
    assert grants == [("mesures", "access"), ("mesures", "collect"), ("documents", "access")]
    assert "end" not in consent["provision"]["period"]
    read = sb.client("catalog").get(f"/fhir/Consent/{consent['id']}", headers=bearer(sb.mes_token()))
    assert read.json() == consent
    assert read.headers["etag"] == 'W/"1"'


def test_the_history_of_a_consent(sb: Sandbox) -> None:
    app_tokens(sb, scope="mesures.read mesures.write")  # v1 granted
    app_tokens(sb, scope="mesures.read")  # v2 narrowed
    revoke_consent(sb)  # v3 revoked
    app_tokens(sb, scope="documents.read")  # v4 granted again
    token = sb.mes_token()
    consent_id = consents_of(sb, token)["entry"][0]["resource"]["id"]
    answer = sb.client("catalog").get(f"/fhir/Consent/{consent_id}/_history", headers=bearer(token))
    assert answer.status_code == 200
    history = answer.json()
    assert history["type"] == "history"
    assert history["total"] == 4
    versions = [valid_consent(e["resource"]) for e in history["entry"]]
    assert [v["meta"]["versionId"] for v in versions] == ["4", "3", "2", "1"]
    assert [v["status"] for v in versions] == ["active", "inactive", "active", "active"]
    assert [len(v["provision"]["provision"]) for v in versions] == [1, 1, 1, 2]
    assert "end" in versions[1]["provision"]["period"]
    assert history["entry"][3]["response"]["status"] == "201 Created"
    assert history["entry"][3]["request"] == {"method": "POST", "url": "Consent"}
    from fhir.resources.R4B.bundle import Bundle

    Bundle.model_validate(history)
    old = sb.client("catalog").get(f"/fhir/Consent/{consent_id}/_history/2", headers=bearer(token))
    assert old.json()["meta"]["versionId"] == "2"
    assert old.json()["provision"]["provision"][0]["code"][0]["coding"][0]["code"] == "mesures"
    missing = sb.client("catalog").get(f"/fhir/Consent/{consent_id}/_history/9", headers=bearer(token))
    assert missing.status_code == 404
    assert missing.json()["resourceType"] == "OperationOutcome"


def test_who_reads_which_consent(sb: Sandbox) -> None:
    mine = app_tokens(sb, scope="mesures.read")
    app_tokens(sb, patient="lucas-pat-trois", person="dominique-pat-trois", scope="mesures.read")
    other = app_tokens(sb, patient="gabriel-fontaine", scope="mesures.read")
    # The app sees its own consent for that patient only.
    own = consents_of(sb, mine["access_token"])
    assert own["total"] == 1
    assert own["entry"][0]["resource"]["patient"]["identifier"]["value"] == "279035121518989"
    gabriel_consent = consents_of(sb, other["access_token"])["entry"][0]["resource"]["id"]
    hidden = sb.client("catalog").get(
        f"/fhir/Consent/{gabriel_consent}", headers=bearer(mine["access_token"])
    )
    assert hidden.status_code == 404
    # The parent reads the child's consents (given by the parent).
    parent = tokens(
        sb, patient="lucas-pat-trois", actor="representant_legal", person="dominique-pat-trois"
    ).json()
    child = consents_of(sb, parent["access_token"])
    assert child["entry"][0]["resource"]["performer"][0]["display"] == "Dominique PAT-TROIS"
    # A caregiver does not manage consents.
    aidant = tokens(sb, patient="henri-leclerc", actor="aidant", person="claire-leclerc").json()
    refused = sb.client("catalog").get("/fhir/Consent", headers=bearer(aidant["access_token"]))
    assert refused.status_code == 403
    assert refused.json()["resourceType"] == "OperationOutcome"
    # Another patient's identifier is refused.
    other_patient = sb.client("catalog").get(
        "/fhir/Consent",
        params={"patient.identifier": "urn:oid:1.2.250.1.213.1.4.10|188016912314544"},
        headers=bearer(sb.mes_token()),
    )
    assert other_patient.status_code == 403


@pytest.mark.parametrize("header", [None, "Bearer nope", "Basic eDp5", "Bearer a.b.c"])
def test_the_consent_api_refuses_a_missing_or_bad_token(sb: Sandbox, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    answer = sb.client("catalog").get("/fhir/Consent", headers=headers)
    assert answer.status_code == 401
    assert answer.json()["resourceType"] == "OperationOutcome"
    assert answer.headers["www-authenticate"].startswith("Bearer")


def test_a_token_of_another_issuer_or_audience_is_refused(sb: Sandbox) -> None:
    psc = sb.psc_token("jeanne-martin")
    assert sb.client("catalog").get("/fhir/Consent", headers=bearer(psc)).status_code == 401
    narrow = tokens(sb, patient="dominique-pat-trois", scope="mesures.read").json()["access_token"]
    assert sb.client("catalog").get("/fhir/Consent", headers=bearer(narrow)).status_code == 200


def test_the_patient_revokes_from_the_space_and_the_app_is_refused_at_once(sb: Sandbox) -> None:
    body = app_tokens(sb, patient="gabriel-fontaine", scope="mesures.read documents.read")
    with Browser(sb) as browser:
        browser.sign_in("gabriel-fontaine")
        page = browser.http.get("/espace/applications")
        assert "Ma Balance Connectée" in page.text
        assert "Mesures de santé (poids, tension, glycémie...) — lecture" in page.text
        assert "Documents de santé — lecture" in page.text
        done = browser.http.post(
            "/espace/applications/ma-balance/revoquer", data={"csrf": browser.csrf(page)}
        )
        assert done.status_code == 303
        assert introspect(sb, body["access_token"]) == {"active": False}
        after = browser.follow(done)
        assert "Consentement révoqué : Ma Balance Connectée n&#39;a plus accès" in after.text
        assert "consentement révoqué le" in after.text
        assert "Révoquer</button>" not in after.text
        again = browser.http.post(
            "/espace/applications/ma-balance/revoquer", data={"csrf": browser.csrf(page)}
        )
        assert again.status_code == 409


def test_a_caregiver_cannot_revoke(sb: Sandbox) -> None:
    app_tokens(sb, patient="henri-leclerc", scope="documents.read")
    with Browser(sb) as browser:
        browser.sign_in("claire-leclerc")
        browser.choose_space("aidant", "henri-leclerc")
        page = browser.http.get("/espace/applications")
        assert "Ma Balance Connectée" in page.text
        assert "Révoquer</button>" not in page.text
        refused = browser.http.post(
            "/espace/applications/ma-balance/revoquer", data={"csrf": browser.csrf(page)}
        )
        assert refused.status_code == 403
        assert "réservé au titulaire" in refused.text

"""Contract 2: ``POST /_sandbox/tokens`` for every actor, and introspection as the DMP uses it."""

from __future__ import annotations

import pytest

from tests.catalog.support import (
    MSS_CREDENTIALS,
    app_tokens,
    claims_of,
    introspect,
    revoke_consent,
    tokens,
)
from tests.support import Sandbox

pytestmark = pytest.mark.db


def test_a_patient_token_carries_the_patient_and_is_active(sb: Sandbox) -> None:
    token = sb.mes_token("dominique-pat-trois")
    claims = claims_of(token)
    assert claims["mes_actor"] == "patient"
    assert claims["sub"] == "dominique-pat-trois"
    assert claims["patient_ins"] == "279035121518989"
    assert claims["patient_ins_oid"] == "1.2.250.1.213.1.4.10"
    assert {"dmp", "mss"} <= set(claims["aud"])
    assert "dmp.manage" in claims["scope"].split()
    answer = introspect(sb, token)
    assert answer["active"] is True
    assert answer["sub"] == "dominique-pat-trois"
    # By INS as well as by persona id.
    assert claims_of(sb.mes_token("279035121518989"))["sub"] == "dominique-pat-trois"


def test_an_app_token_records_exactly_the_consent_and_carries_the_idpe(sb: Sandbox) -> None:
    body = app_tokens(sb, scope="mesures.write documents.read")
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "mesures.write documents.read"
    assert body["refresh_token"]
    assert body["idpe_system"] == "urn:oid:1.2.250.1.999.1.1"
    claims = claims_of(body["access_token"])
    assert claims["mes_actor"] == "app"
    assert claims["client_id"] == claims["azp"] == "app-ma-balance"
    assert claims["idpe"] == body["idpe"]
    assert claims["patient_ins"] == "279035121518989"
    answer = introspect(sb, body["access_token"])
    assert answer["active"] is True
    assert answer["scope"] == "mesures.write documents.read"
    assert answer["idpe"] == body["idpe"]
    # The same app for the same patient keeps its idPe; another patient gets another one.
    assert app_tokens(sb, scope="mesures.write")["idpe"] == body["idpe"]
    assert app_tokens(sb, patient="gabriel-fontaine")["idpe"] != body["idpe"]


def test_the_default_scope_of_an_app_is_what_it_is_referenced_for(sb: Sandbox) -> None:
    body = app_tokens(sb)
    assert body["scope"].split() == ["mesures.read", "mesures.write", "documents.read"]


@pytest.mark.parametrize(
    ("app", "why"),
    [
        ("coach-sommeil", "withdrawn"),
        ("carnet-tension", "expired"),
        ("agenda-soins", "without data exchange"),
    ],
)
def test_an_app_that_may_not_exchange_data_gets_no_token(sb: Sandbox, app: str, why: str) -> None:
    answer = tokens(sb, patient="dominique-pat-trois", actor="app", app=app)
    assert answer.status_code == 403
    assert answer.json()["error"] == "access_denied"
    assert why in answer.json()["detail"]


def test_a_scope_outside_the_app_referenced_data_is_refused(sb: Sandbox) -> None:
    answer = tokens(sb, patient="dominique-pat-trois", actor="app", app="ma-balance", scope="documents.write")
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_scope"
    assert "documents.write" in answer.json()["detail"]
    unknown = tokens(sb, patient="dominique-pat-trois", actor="app", app="no-such-app")
    assert unknown.status_code == 404
    missing = tokens(sb, patient="dominique-pat-trois", actor="app")
    assert missing.status_code == 400


def test_revoking_the_consent_deactivates_every_token_of_the_app_at_once(sb: Sandbox) -> None:
    first = app_tokens(sb, scope="mesures.read")
    second = app_tokens(sb, scope="mesures.read")
    other_patient = app_tokens(sb, patient="gabriel-fontaine", scope="mesures.read")
    patient_token = sb.mes_token("dominique-pat-trois")
    assert introspect(sb, first["access_token"])["active"] is True

    revoked = revoke_consent(sb)
    assert revoked["status"] == "inactive"
    for token in (first["access_token"], second["access_token"], first["refresh_token"]):
        assert introspect(sb, token) == {"active": False}
    # MSSanté sees the same; other patients and the patient's own token are untouched.
    assert introspect(sb, second["access_token"], MSS_CREDENTIALS) == {"active": False}
    assert introspect(sb, other_patient["access_token"])["active"] is True
    assert introspect(sb, patient_token)["active"] is True

    # A new consent gives new tokens; the old ones stay refused.
    again = app_tokens(sb, scope="mesures.read")
    assert again["idpe"] == first["idpe"]
    assert introspect(sb, again["access_token"])["active"] is True
    assert introspect(sb, first["access_token"]) == {"active": False}
    # Revoking twice is a conflict; revoking what never existed is a 404.
    revoke_consent(sb)
    twice = sb.admin(
        "catalog", "POST", "consents/revoke", json={"patient": "dominique-pat-trois", "app": "ma-balance"}
    )
    assert twice.status_code == 409
    never = sb.admin(
        "catalog", "POST", "consents/revoke", json={"patient": "henri-leclerc", "app": "ma-balance"}
    )
    assert never.status_code == 404


def test_a_narrower_consent_narrows_the_tokens_in_force(sb: Sandbox) -> None:
    wide = app_tokens(sb, scope="mesures.read mesures.write documents.read")
    app_tokens(sb, scope="mesures.read")
    answer = introspect(sb, wide["access_token"])
    assert answer["active"] is True
    assert answer["scope"] == "mesures.read"


def test_a_caregiver_gets_only_the_delegated_rights(sb: Sandbox) -> None:
    body = tokens(sb, patient="henri-leclerc", actor="aidant", person="claire-leclerc")
    assert body.status_code == 200, body.text
    claims = claims_of(body.json()["access_token"])
    assert claims["mes_actor"] == "aidant"
    assert claims["sub"] == "henri-leclerc"
    assert claims["act"] == {"sub": "claire-leclerc"}
    assert claims["scope"].split() == ["documents.read", "messages.read", "messages.write"]
    narrower = tokens(
        sb, patient="henri-leclerc", actor="aidant", person="claire-leclerc", scope="documents.read"
    )
    assert narrower.json()["scope"] == "documents.read"
    beyond = tokens(sb, patient="henri-leclerc", actor="aidant", person="claire-leclerc", scope="dmp.manage")
    assert beyond.status_code == 400
    assert beyond.json()["error"] == "invalid_scope"
    stranger = tokens(sb, patient="henri-leclerc", actor="aidant", person="gabriel-fontaine")
    assert stranger.status_code == 400


def test_a_parent_reaches_a_minor_child_only(sb: Sandbox) -> None:
    body = tokens(sb, patient="lucas-pat-trois", actor="representant_legal", person="dominique-pat-trois")
    assert body.status_code == 200, body.text
    claims = claims_of(body.json()["access_token"])
    assert claims["mes_actor"] == "representant_legal"
    assert claims["patient_ins"] == "115055145402386"
    assert claims["act"] == {"sub": "dominique-pat-trois"}
    assert introspect(sb, body.json()["access_token"])["active"] is True
    not_parent = tokens(sb, patient="lucas-pat-trois", actor="representant_legal", person="gabriel-fontaine")
    assert not_parent.status_code == 400
    no_person = tokens(sb, patient="lucas-pat-trois", actor="representant_legal")
    assert no_person.status_code == 400


def test_a_parent_consents_to_an_app_for_the_child(sb: Sandbox) -> None:
    body = app_tokens(sb, patient="lucas-pat-trois", person="dominique-pat-trois", scope="mesures.read")
    assert claims_of(body["access_token"])["patient_ins"] == "115055145402386"
    refused = tokens(sb, patient="lucas-pat-trois", actor="app", app="ma-balance", person="gabriel-fontaine")
    assert refused.status_code == 400


def test_introspection_needs_credentials_and_an_app_sees_only_its_own_tokens(sb: Sandbox) -> None:
    token = sb.mes_token()
    catalog = sb.client("catalog")
    assert catalog.post("/oauth/introspect", data={"token": token}).status_code == 401
    wrong = catalog.post("/oauth/introspect", data={"token": token}, auth=("mes-sandbox-dmp", "nope"))
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client"
    own = app_tokens(sb, scope="mesures.read")
    as_app = ("app-ma-balance", "ma-balance-secret")
    assert introspect(sb, own["access_token"], as_app)["active"] is True
    assert introspect(sb, token, as_app) == {"active": False}


def test_forged_expired_and_garbage_tokens_are_inactive(sb: Sandbox) -> None:
    token = sb.mes_token()
    header, payload, signature = token.split(".")
    forged = f"{header}.{payload[:-4]}AAAA.{signature}"
    assert introspect(sb, forged) == {"active": False}
    assert introspect(sb, "not-a-token") == {"active": False}
    unsigned = f"{header}.{payload}."
    assert introspect(sb, unsigned) == {"active": False}

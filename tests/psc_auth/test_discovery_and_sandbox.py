"""Discovery advertises exactly what works; the sandbox controls (contract 1's token
shortcut, runtime professionals and clients, reset and snapshot over all of it)."""

from __future__ import annotations

import pytest

from tests.psc_auth.support import DPI, DPI_CALLBACK, TOKEN, Browser, claims_of, exchange, introspect
from tests.support import Sandbox

pytestmark = pytest.mark.db

REALM = "/auth/realms/esante-wallet"


def test_discovery_at_both_names_points_at_working_endpoints(sb: Sandbox) -> None:
    psc = sb.client("psc_auth")
    wallet = psc.get(f"{REALM}/.well-known/wallet-openid-configuration")
    standard = psc.get(f"{REALM}/.well-known/openid-configuration")
    assert wallet.status_code == standard.status_code == 200
    doc = wallet.json()
    assert doc == standard.json()
    issuer = sb.url("psc_auth") + REALM
    assert doc["issuer"] == issuer
    assert doc["authorization_endpoint"] == sb.url("psc_auth") + "/wallet/auth"
    for name in (
        "token",
        "userinfo",
        "end_session",
        "introspection",
        "revocation",
        "backchannel_authentication",
    ):
        assert doc[f"{name}_endpoint"].startswith(f"{issuer}/protocol/openid-connect/"), name
    assert doc["jwks_uri"] == f"{issuer}/protocol/openid-connect/certs"
    assert doc["acr_values_supported"] == ["eidas1"]
    assert doc["scopes_supported"] == ["openid", "scope_all"]
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["response_types_supported"] == ["code"]
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert set(doc["grant_types_supported"]) == {
        "authorization_code",
        "refresh_token",
        "client_credentials",
        "urn:openid:params:grant-type:ciba",
    }
    # Every advertised endpoint answers (not a 404): POST ones refuse an empty request
    # in their own way, GET ones serve.
    for key in ("jwks_uri",):
        assert psc.get(doc[key]).status_code == 200
    for key in (
        "token_endpoint",
        "introspection_endpoint",
        "revocation_endpoint",
        "backchannel_authentication_endpoint",
    ):
        answer = psc.post(doc[key], data={})
        assert answer.status_code in (400, 401), (key, answer.text)
        assert "error" in answer.json()
    for key in ("userinfo_endpoint",):
        assert psc.get(doc[key]).status_code == 401
    assert psc.get(doc["end_session_endpoint"]).status_code == 200
    keys = psc.get(doc["jwks_uri"]).json()["keys"]
    assert all({"kid", "kty", "alg", "use"} <= set(k) for k in keys)
    assert not any("d" in k for k in keys)


def test_contract_1_sandbox_tokens(sb: Sandbox) -> None:
    body = sb.psc_tokens("jeanne-martin", client_id="dpi-valmont", nonce="abc")
    assert body["token_type"] == "Bearer"
    access = claims_of(body["access_token"])
    assert set(access["aud"]) == {"dmp", "mss", "dpi-valmont"}
    assert access["SubjectRole"] == ["10^1.2.250.1.213.1.1.5.5"]
    assert access["SubjectOrganizationID"] == "R104512"
    assert access["Acces_Regulation_Medicale"] == "FAUX"
    assert claims_of(body["id_token"])["nonce"] == "abc"
    # By RPPS and by idNatPS as well as by persona id.
    assert claims_of(sb.psc_token("99700557863"))["Acces_Regulation_Medicale"] == "VRAI"
    assert claims_of(sb.psc_token("899700557863"))["preferred_username"] == "899700557863"
    mobile = claims_of(sb.psc_token("karim-benali", auth_mode="MOBILE"))
    assert mobile["authMode"] == "MOBILE"
    software = sb.psc_tokens(None, client_id="mes-sandbox-dmp", scope="scope_all")
    assert claims_of(software["access_token"])["sub"] == "service-account-mes-sandbox-dmp"
    assert introspect(sb, software["access_token"])["active"] is True
    unknown = sb.admin("psc_auth", "POST", "tokens", json={"professional": "nobody"})
    assert unknown.status_code == 404
    assert set(unknown.json()) == {"error", "detail"}
    # The shortcut's refresh token works at the real token endpoint.
    refreshed = sb.client("psc_auth").post(
        TOKEN, data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}, auth=DPI
    )
    assert refreshed.status_code == 200, refreshed.text


NEW_PRO = {
    "id": "marc-dubois",
    "civility": "M",
    "practice_civility": "DR",
    "given_name": "MARC",
    "family_name": "DUBOIS",
    "profession": "10",
    "skill_type": "S",
    "skill": "SM54",
    "psc_uuid": "2f0d6a4e-6f0e-4bb8-9d59-3c2b0f6f1a11",
    "activities": [{"organisation": "cabinet-tilleuls", "mode": "L", "sector": "SA08"}],
    "card": {"number": "2000660014", "pin": "4321"},
    "ecps": {"totp_secret": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"},
}


def _valid_rpps() -> str:
    from stdnum import luhn

    base = "9970066001"
    return base + luhn.calc_check_digit(base)


def test_a_professional_added_at_runtime_logs_in_without_restart(sb: Sandbox) -> None:
    pro = {**NEW_PRO, "rpps": _valid_rpps()}
    added = sb.admin("psc_auth", "POST", "professionals", json=pro)
    assert added.status_code == 201, added.text
    idnat = "8" + pro["rpps"]
    assert added.json()["idnat"] == idnat
    assert sb.admin("psc_auth", "POST", "professionals", json=pro).status_code == 409
    bad_org = {
        **pro,
        "id": "x",
        "rpps": "99700112545",
        "activities": [{"organisation": "nowhere", "mode": "L", "sector": "SA08"}],
    }
    assert sb.admin("psc_auth", "POST", "professionals", json=bad_org).status_code in (409, 422)
    browser = Browser(sb)
    try:
        callback = browser.card_login(identifier=idnat, pin="4321")
        id_token = claims_of(exchange(sb, callback["code"]).json()["id_token"])
        assert id_token["sub"] == f"f:{pro['psc_uuid']}:{idnat}"
    finally:
        browser.close()
    # In the snapshot, and gone after a reset.
    snapshot = sb.admin("psc_auth", "GET", "snapshot").json()
    assert any(r["id"] == "marc-dubois" for r in snapshot["tables"]["professionals"])
    sb.admin("psc_auth", "POST", "reset")
    assert sb.admin("psc_auth", "POST", "tokens", json={"professional": "marc-dubois"}).status_code == 404
    # Loading the snapshot brings them back.
    assert sb.admin("psc_auth", "PUT", "snapshot", json=snapshot).status_code == 200
    assert sb.admin("psc_auth", "POST", "tokens", json={"professional": "marc-dubois"}).status_code == 200


def test_a_client_registered_at_runtime_works_at_once(sb: Sandbox) -> None:
    client = {
        "client_id": "nouveau-logiciel",
        "name": "Nouveau logiciel de cabinet",
        "secret": "nouveau-secret",
        "redirect_uris": [DPI_CALLBACK],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "client_secret_post",
        "userinfo_format": "jwt",
    }
    created = sb.admin("psc_auth", "POST", "clients", json=client)
    assert created.status_code == 201, created.text
    assert "secret" not in created.json()
    browser = Browser(sb)
    try:
        callback = browser.card_login(client_id="nouveau-logiciel")
        answer = exchange(sb, callback["code"], client=("nouveau-logiciel", "nouveau-secret"))
        assert answer.status_code == 200, answer.text
    finally:
        browser.close()
    listed = {c["client_id"]: c for c in sb.admin("psc_auth", "GET", "clients").json()}
    assert listed["nouveau-logiciel"]["userinfo_format"] == "jwt"
    sb.admin("psc_auth", "POST", "reset")
    assert "nouveau-logiciel" not in {c["client_id"] for c in sb.admin("psc_auth", "GET", "clients").json()}


def test_login_state_is_in_the_snapshot(sb: Sandbox) -> None:
    browser = Browser(sb)
    try:
        page = browser.authorize()
        browser.identify(page, "899700112545")
        browser.pin(page, "0000")
        browser.http.post(f"{browser.login_base(page)}/ecps")
    finally:
        browser.close()
    tables = sb.admin("psc_auth", "GET", "snapshot").json()["tables"]
    assert len(tables["login_transactions"]) == 1
    assert tables["factor_states"][0]["failed_pins"] == 1
    assert tables["ecps_requests"][0]["status"] == "pending"
    sb.admin("psc_auth", "POST", "reset")
    tables = sb.admin("psc_auth", "GET", "snapshot").json()["tables"]
    assert tables["login_transactions"] == tables["factor_states"] == tables["ecps_requests"] == []


def test_the_clock_control(sb: Sandbox) -> None:
    before = sb.admin("psc_auth", "GET", "clock").json()
    assert before["offset"] == 0
    moved = sb.admin("psc_auth", "POST", "clock", json={"advance": 3600}).json()
    assert moved["offset"] == 3600
    assert sb.admin("psc_auth", "DELETE", "clock").json()["offset"] == 0
    sb.admin("psc_auth", "POST", "clock", json={"advance": 10})
    sb.admin("psc_auth", "POST", "reset")
    assert sb.admin("psc_auth", "GET", "clock").json()["offset"] == 0


def test_the_sandbox_controls_need_the_admin_token(sb: Sandbox) -> None:
    psc = sb.client("psc_auth")
    for method, path in (
        ("POST", "/_sandbox/tokens"),
        ("GET", "/_sandbox/ecps/pending"),
        ("POST", "/_sandbox/clients"),
    ):
        assert psc.request(method, path, json={}).status_code == 401

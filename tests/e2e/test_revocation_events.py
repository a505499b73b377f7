"""The DMP and MSSanté keep Pro Santé Connect's introspection answers, and PSC's revocation
events (RFC 8417 SETs pushed per RFC 8935) make them refuse a token as soon as the call
that deactivated it has answered: revocation, logout, a reused refresh token, a reset, the
clock moved past the token's expiry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from shared.oauth.keys import generate_jwk, sign
from shared.oauth.security_events import SET_MEDIA_TYPE, SET_TYP, tokens_changed
from tests.psc_auth.support import Browser, exchange, pkce_pair
from tests.support import Sandbox, bearer

OIDC = "/auth/realms/esante-wallet/protocol/openid-connect"
DPI = ("dpi-valmont", "dpi-valmont-secret")
DOMINIQUE = "urn:oid:1.2.250.1.213.1.4.10|279035121518989"
JEANNE = "jeanne.martin@medecin.mssante.fr"

pytestmark = pytest.mark.db


def dmp_status(sb: Sandbox, token: str) -> int:
    answer = sb.client("dmp").get(
        "/fhir/Patient",
        params={"identifier": DOMINIQUE},
        headers={**bearer(token), "Accept": "application/fhir+json"},
    )
    return answer.status_code


def mss_status(sb: Sandbox, token: str) -> int:
    return sb.client("mss").get(f"/api/mailboxes/{JEANNE}/messages", headers=bearer(token)).status_code


def introspections(sb: Sandbox, service: str) -> int:
    answer = sb.admin(service, "GET", "exchanges", params={"direction": "outbound"})
    return sum(1 for ex in answer.json()["exchanges"] if ex["path"].endswith("/token/introspect"))


def both_accept(sb: Sandbox, token: str) -> None:
    assert dmp_status(sb, token) == 200
    assert mss_status(sb, token) == 200


def both_refuse(sb: Sandbox, token: str) -> None:
    assert dmp_status(sb, token) == 401, "the DMP still accepts a token PSC no longer does"
    assert mss_status(sb, token) == 401, "MSSanté still accepts a token PSC no longer does"


def test_answers_are_kept_between_requests(sb: Sandbox) -> None:
    token = sb.psc_token("jeanne-martin")
    for service in ("dmp", "mss"):
        assert sb.admin(service, "DELETE", "exchanges").status_code == 200
    for _ in range(3):
        both_accept(sb, token)
    assert introspections(sb, "dmp") == 1
    assert introspections(sb, "mss") == 1


def _revoke(sb: Sandbox, tokens: dict[str, Any]) -> None:
    answer = sb.client("psc_auth").post(f"{OIDC}/revoke", data={"token": tokens["access_token"]}, auth=DPI)
    assert answer.status_code == 200


def _revoke_refresh(sb: Sandbox, tokens: dict[str, Any]) -> None:
    answer = sb.client("psc_auth").post(f"{OIDC}/revoke", data={"token": tokens["refresh_token"]}, auth=DPI)
    assert answer.status_code == 200


def _logout(sb: Sandbox, tokens: dict[str, Any]) -> None:
    answer = sb.client("psc_auth").get(f"{OIDC}/logout", params={"id_token_hint": tokens["id_token"]})
    assert answer.status_code == 200, answer.text


def _reset(sb: Sandbox, _tokens: dict[str, Any]) -> None:
    assert sb.admin("psc_auth", "POST", "reset").status_code == 200


def _clock(sb: Sandbox, _tokens: dict[str, Any]) -> None:
    assert sb.admin("psc_auth", "POST", "clock", json={"advance": 3600}).status_code == 200


@pytest.mark.parametrize(
    "deactivate",
    [_revoke, _revoke_refresh, _logout, _reset, _clock],
    ids=["access-token-revoked", "refresh-token-revoked", "logout", "psc-reset", "clock-past-expiry"],
)
def test_a_deactivated_token_is_refused_at_once(
    sb: Sandbox, deactivate: Callable[[Sandbox, dict[str, Any]], None]
) -> None:
    tokens = sb.psc_tokens("jeanne-martin")
    both_accept(sb, tokens["access_token"])
    deactivate(sb, tokens)
    both_refuse(sb, tokens["access_token"])


def test_a_reused_refresh_token_closes_the_grant_everywhere(sb: Sandbox) -> None:
    psc = sb.client("psc_auth")
    first = sb.psc_tokens("jeanne-martin")
    refresh = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    second = psc.post(f"{OIDC}/token", data=refresh, auth=DPI).json()
    both_accept(sb, second["access_token"])
    reused = psc.post(f"{OIDC}/token", data=refresh, auth=DPI)
    assert reused.status_code == 400
    both_refuse(sb, second["access_token"])


def test_a_reused_authorization_code_closes_its_grant_everywhere(sb: Sandbox) -> None:
    browser = Browser(sb)
    try:
        verifier, challenge = pkce_pair()
        code = browser.card_login(code_challenge=challenge, code_challenge_method="S256")["code"]
    finally:
        browser.close()
    first = exchange(sb, code, code_verifier=verifier)
    assert first.status_code == 200, first.text
    both_accept(sb, first.json()["access_token"])
    # RFC 6749 §4.1.2: a code used twice revokes what it issued.
    assert exchange(sb, code, code_verifier=verifier).status_code == 400
    both_refuse(sb, first.json()["access_token"])


def test_other_tokens_stay_accepted_after_an_event(sb: Sandbox) -> None:
    kept, revoked = sb.psc_tokens("jeanne-martin"), sb.psc_tokens("jeanne-martin")
    both_accept(sb, kept["access_token"])
    _revoke(sb, revoked)
    both_accept(sb, kept["access_token"])


# -- the receiving endpoint ----------------------------------------------------------------


def _post_event(sb: Sandbox, service: str, body: str, **headers: str) -> httpx.Response:
    return sb.admin(
        service, "POST", "security-events", content=body, headers={"Content-Type": SET_MEDIA_TYPE, **headers}
    )


def test_the_receivers_refuse_what_psc_did_not_sign(sb: Sandbox) -> None:
    issuer = sb.topology.settings("dmp").psc_issuer_url
    forged = sign(tokens_changed(issuer, "mes-sandbox-dmp", ["tokens"]), generate_jwk("ES256"), typ=SET_TYP)
    answer = _post_event(sb, "dmp", forged)
    assert answer.status_code == 400
    assert answer.json()["err"] == "invalid_key"
    wrong_type = _post_event(sb, "mss", forged, **{"Content-Type": "application/jwt"})
    assert wrong_type.status_code == 400 and wrong_type.json()["err"] == "invalid_request"
    access_token = _post_event(sb, "mss", sb.psc_token("jeanne-martin"))
    assert access_token.status_code == 400 and access_token.json()["err"] == "invalid_request"
    assert _post_event(sb, "psc_auth", forged).status_code == 404
    unauthenticated = sb.client("dmp").post(
        "/_sandbox/security-events", content=forged, headers={"Content-Type": SET_MEDIA_TYPE}
    )
    assert unauthenticated.status_code == 401

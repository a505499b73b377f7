"""Every protected endpoint of Mon espace santé refuses a missing, expired, forged, wrongly
signed, wrong-issuer or wrong-audience token. Tokens signed with the service's real key (read
from its snapshot) but carrying bad claims prove the refusal is the claims', not the key's."""

from __future__ import annotations

import time
from typing import Any

import pytest

from shared.oauth.keys import generate_jwk, sign
from tests.catalog.support import app_tokens, claims_of
from tests.support import Sandbox, bearer

pytestmark = pytest.mark.db

ENDPOINTS = [
    ("GET", "/fhir/Consent"),
    ("GET", "/fhir/Observation?code=29463-7"),
    ("POST", "/fhir"),
]


def catalog_key(sb: Sandbox, alg: str = "ES256") -> dict[str, Any]:
    keys = sb.admin("catalog", "GET", "snapshot").json()["tables"]["signing_keys"]
    key: dict[str, Any] = next(k["private_jwk"] for k in keys if k["alg"] == alg and k["retired_at"] is None)
    return key


def forged_variants(sb: Sandbox) -> dict[str, str]:
    real = app_tokens(sb, scope="mesures.read mesures.write")["access_token"]
    claims = claims_of(real)
    key = catalog_key(sb)
    now = int(time.time())
    stranger = generate_jwk("ES256")
    stranger["kid"] = key["kid"]  # same kid, other key: a forged signature
    header, payload, _ = real.split(".")
    return {
        "expired": sign({**claims, "iat": now - 7200, "nbf": now - 7200, "exp": now - 3600}, key),
        "wrong audience": sign({**claims, "aud": ["somewhere-else"]}, key),
        "wrong issuer": sign({**claims, "iss": "https://evil.example"}, key),
        "never issued": sign({**claims, "jti": "00000000-0000-0000-0000-000000000000"}, key),
        "forged signature": sign(claims, stranger),
        "alg none": f"{header}.{payload}.",
        "truncated": real[:-10],
    }


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_every_bad_token_is_refused(sb: Sandbox, method: str, path: str) -> None:
    for why, token in forged_variants(sb).items():
        answer = sb.client("catalog").request(
            method, path, headers=bearer(token), json={"resourceType": "Bundle"}
        )
        assert answer.status_code == 401, (why, answer.text)
        assert answer.json()["resourceType"] == "OperationOutcome", why
        assert answer.headers["www-authenticate"].startswith("Bearer"), why


def test_the_same_claims_with_the_real_signature_are_accepted(sb: Sandbox) -> None:
    """The control: re-signing the issued claims unchanged with the real key works."""
    real = app_tokens(sb, scope="mesures.read")
    resigned = sign(claims_of(real["access_token"]), catalog_key(sb))
    answer = sb.client("catalog").get("/fhir/Consent", headers=bearer(resigned))
    assert answer.status_code == 200, answer.text


def test_an_id_token_is_not_an_access_token(sb: Sandbox) -> None:
    body = app_tokens(sb, scope="openid mesures.read")
    answer = sb.client("catalog").get("/fhir/Consent", headers=bearer(body["id_token"]))
    assert answer.status_code == 401


def test_introspection_says_inactive_for_every_bad_token(sb: Sandbox) -> None:
    for why, token in forged_variants(sb).items():
        if why == "wrong audience":
            continue  # introspection answers for the issuer, whatever the audience (RFC 7662 §2.2)
        answer = sb.client("catalog").post(
            "/oauth/introspect", data={"token": token}, auth=("mes-sandbox-dmp", "dmp-service-secret")
        )
        assert answer.json() == {"active": False}, why


def test_the_dmp_refuses_a_bad_mes_token_too(sb: Sandbox) -> None:
    variants = forged_variants(sb)
    for why in ("expired", "forged signature", "never issued", "wrong issuer"):
        answer = sb.client("dmp").get("/api/patient/controls", headers=bearer(variants[why]))
        assert answer.status_code == 401, (why, answer.text)

"""Every protected endpoint of Mon espace santé refuses a missing, expired, forged, wrongly
signed, wrong-issuer or wrong-audience token. Tokens signed with the service's real key (read
from its snapshot) but carrying bad claims prove the refusal is the claims', not the key's.
The DMP and MSSanté, which accept Mon espace santé's tokens, refuse the same ones."""

from __future__ import annotations

import time
from typing import Any

import pytest

from shared.oauth.keys import generate_jwk, sign
from tests.catalog.support import app_tokens, claims_of
from tests.catalog.test_mesures import post, weight_bundle
from tests.support import Sandbox, bearer

pytestmark = pytest.mark.db

#: Every endpoint of the service that takes a bearer token (the FHIR base: mesures, Consent),
#: with ``{observation}``, ``{device}`` and ``{consent}`` ids that exist and the app's idPe.
ENDPOINTS = [
    ("POST", "/fhir"),
    ("GET", "/fhir/Observation?subject.identifier={system}%7C{idpe}&code=29463-7&_sort=-date&_count=1"),
    ("GET", "/fhir/Observation/{observation}"),
    ("GET", "/fhir/Device/{device}"),
    ("GET", "/fhir/Consent"),
    ("GET", "/fhir/Consent/{consent}"),
    ("GET", "/fhir/Consent/{consent}/_history"),
    ("GET", "/fhir/Consent/{consent}/_history/1"),
]


def catalog_key(sb: Sandbox, alg: str = "ES256") -> dict[str, Any]:
    keys = sb.admin("catalog", "GET", "snapshot").json()["tables"]["signing_keys"]
    key: dict[str, Any] = next(k["private_jwk"] for k in keys if k["alg"] == alg and k["retired_at"] is None)
    return key


def forged_variants(sb: Sandbox, real: str) -> dict[str, str | None]:
    """The real token spoiled in every way (``None``: no token at all)."""
    claims = claims_of(real)
    key = catalog_key(sb)
    now = int(time.time())
    stranger = generate_jwk("ES256")
    stranger["kid"] = key["kid"]  # same kid, other key: a forged signature
    header, payload, _ = real.split(".")
    return {
        "missing": None,
        "expired": sign({**claims, "iat": now - 7200, "nbf": now - 7200, "exp": now - 3600}, key),
        "wrong audience": sign({**claims, "aud": ["somewhere-else"]}, key),
        "wrong issuer": sign({**claims, "iss": "https://evil.example"}, key),
        "never issued": sign({**claims, "jti": "00000000-0000-0000-0000-000000000000"}, key),
        "forged signature": sign(claims, stranger),
        "alg none": f"{header}.{payload}.",
        "truncated": real[:-10],
    }


@pytest.fixture
def app(sb: Sandbox) -> dict[str, Any]:
    """Ma Balance's tokens, and the ids of a measurement, its device and the consent."""
    body = app_tokens(sb, scope="mesures.read mesures.write")
    written = post(sb, body["access_token"], weight_bundle(body["idpe"]))
    assert written.status_code == 200, written.text
    locations = [e["response"]["location"] for e in written.json()["entry"]]
    ids = {location.split("/")[0].lower(): location.split("/")[1] for location in locations}
    consents = sb.client("catalog").get("/fhir/Consent", headers=bearer(body["access_token"]))
    ids["consent"] = consents.json()["entry"][0]["resource"]["id"]
    ids.update(system=body["idpe_system"], idpe=body["idpe"])
    return {**body, "ids": ids}


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_every_bad_token_is_refused(sb: Sandbox, app: dict[str, Any], method: str, path: str) -> None:
    url = path.format(**app["ids"])
    good = sb.client("catalog").request(
        method, url, headers=bearer(app["access_token"]), json=weight_bundle(app["idpe"])
    )
    assert good.status_code == 200, good.text  # the control: the real token is accepted here
    for why, token in forged_variants(sb, app["access_token"]).items():
        answer = sb.client("catalog").request(
            method, url, headers=bearer(token) if token else {}, json=weight_bundle(app["idpe"])
        )
        assert answer.status_code == 401, (why, answer.text)
        assert answer.json()["resourceType"] == "OperationOutcome", why
        assert answer.json()["issue"][0]["code"] == "login", why
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
    real = app_tokens(sb, scope="mesures.read mesures.write")["access_token"]
    for why, token in forged_variants(sb, real).items():
        if why in ("wrong audience", "missing"):
            continue  # introspection answers for the issuer, whatever the audience (RFC 7662 §2.2)
        answer = sb.client("catalog").post(
            "/oauth/introspect", data={"token": token}, auth=("mes-sandbox-dmp", "dmp-service-secret")
        )
        assert answer.json() == {"active": False}, why


def test_the_dmp_and_mssante_refuse_a_bad_mes_token_too(sb: Sandbox) -> None:
    """The patient's own token, spoiled: the DMP's controls and the patient's mailbox."""
    real = sb.mes_token("dominique-pat-trois")
    calls = [
        ("dmp", "/api/patient/controls"),
        ("mss", "/api/mailboxes/279035121518989@patient.mssante.fr/messages"),
    ]
    for service, path in calls:
        good = sb.client(service).get(path, headers=bearer(real))
        assert good.status_code == 200, (service, good.text)
        for why, token in forged_variants(sb, real).items():
            answer = sb.client(service).get(path, headers=bearer(token) if token else {})
            assert answer.status_code == 401, (service, why, answer.text)

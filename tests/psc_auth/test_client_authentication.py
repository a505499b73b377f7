"""Client authentication (RFC 6749 §2.3, OIDC Core §9): secrets in Basic or in the body,
and JWT assertions (RFC 7523) signed with the client secret or the client's own key."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from shared.oauth.client_auth import ASSERTION_TYPE
from shared.oauth.keys import generate_jwk, public_jwk, sign
from tests.psc_auth.support import DMP_SERVICE, INTROSPECT, LGO, TOKEN, claims_of
from tests.support import Sandbox

pytestmark = pytest.mark.db

ISSUER_PATH = "/auth/realms/esante-wallet"


def _assertion(sb: Sandbox, client_id: str, key: dict[str, Any] | str, **overrides: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": sb.url("psc_auth") + TOKEN,
        "jti": str(uuid.uuid4()),
        "iat": now,
        "exp": now + 60,
        **overrides,
    }
    if isinstance(key, str):
        from jose import jwt

        return str(jwt.encode(claims, key, algorithm="HS256"))
    return sign(claims, key)


def _register(sb: Sandbox, **client: Any) -> None:
    answer = sb.admin(
        "psc_auth",
        "POST",
        "clients",
        json={"name": "Logiciel de test", "grant_types": ["client_credentials"], **client},
    )
    assert answer.status_code == 201, answer.text


def _token(sb: Sandbox, client_id: str | None, assertion: str):  # type: ignore[no-untyped-def]
    data = {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
    }
    if client_id:
        data["client_id"] = client_id
    return sb.client("psc_auth").post(TOKEN, data=data)


def test_service_accounts_and_secret_methods(sb: Sandbox) -> None:
    psc = sb.client("psc_auth")
    basic = psc.post(TOKEN, data={"grant_type": "client_credentials"}, auth=DMP_SERVICE)
    assert basic.status_code == 200, basic.text
    assert claims_of(basic.json()["access_token"])["sub"] == "service-account-mes-sandbox-dmp"
    assert "refresh_token" not in basic.json()
    post = psc.post(
        TOKEN, data={"grant_type": "client_credentials", "client_id": LGO[0], "client_secret": LGO[1]}
    )
    assert post.status_code == 200
    assert claims_of(post.json()["access_token"])["azp"] == LGO[0]


def test_private_key_jwt(sb: Sandbox) -> None:
    key = generate_jwk("ES256")
    _register(
        sb,
        client_id="lab-keys",
        token_endpoint_auth_method="private_key_jwt",
        jwks={"keys": [public_jwk(key)]},
    )
    answer = _token(sb, "lab-keys", _assertion(sb, "lab-keys", key))
    assert answer.status_code == 200, answer.text
    assert claims_of(answer.json()["access_token"])["azp"] == "lab-keys"
    # client_id may be left out: the assertion's sub names the client (RFC 7523 §3).
    assert _token(sb, None, _assertion(sb, "lab-keys", key)).status_code == 200
    # The issuer is an accepted audience too (OIDC Core §9).
    issuer_aud = _assertion(sb, "lab-keys", key, aud=sb.url("psc_auth") + ISSUER_PATH)
    assert _token(sb, "lab-keys", issuer_aud).status_code == 200


@pytest.mark.parametrize(
    "overrides",
    [
        {"aud": "https://elsewhere.example/token"},
        {"iss": "dpi-valmont"},
        {"exp": int(time.time()) - 120},
        {"exp": int(time.time()) + 86_400},
        {"jti": None},
    ],
)
def test_bad_assertions_are_invalid_client(sb: Sandbox, overrides: dict[str, Any]) -> None:
    key = generate_jwk("RS256")
    _register(
        sb,
        client_id="lab-keys",
        token_endpoint_auth_method="private_key_jwt",
        jwks={"keys": [public_jwk(key)]},
    )
    claims = {k: v for k, v in overrides.items() if v is not None}
    assertion = _assertion(sb, "lab-keys", key, **claims)
    if overrides.get("jti", "") is None:
        from jose import jwt

        payload = claims_of(assertion)
        payload.pop("jti")
        assertion = sign(payload, key)
        assert jwt.get_unverified_claims(assertion).get("jti") is None
    answer = _token(sb, "lab-keys", assertion)
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"] == "invalid_client"


def test_an_assertion_is_accepted_once(sb: Sandbox) -> None:
    key = generate_jwk("ES256")
    _register(
        sb,
        client_id="lab-keys",
        token_endpoint_auth_method="private_key_jwt",
        jwks={"keys": [public_jwk(key)]},
    )
    assertion = _assertion(sb, "lab-keys", key)
    assert _token(sb, "lab-keys", assertion).status_code == 200
    replay = _token(sb, "lab-keys", assertion)
    assert replay.status_code == 401
    assert "replayed" in replay.json()["error_description"]


def test_an_assertion_signed_by_another_key_is_refused(sb: Sandbox) -> None:
    key, other = generate_jwk("ES256"), generate_jwk("ES256")
    _register(
        sb,
        client_id="lab-keys",
        token_endpoint_auth_method="private_key_jwt",
        jwks={"keys": [public_jwk(key)]},
    )
    assert _token(sb, "lab-keys", _assertion(sb, "lab-keys", {**other, "kid": key["kid"]})).status_code == 401
    assert _token(sb, "lab-keys", _assertion(sb, "lab-keys", other)).status_code == 401


def test_client_secret_jwt(sb: Sandbox) -> None:
    _register(
        sb,
        client_id="lab-hmac",
        secret="a-long-shared-secret-of-the-lab-0001",
        token_endpoint_auth_method="client_secret_jwt",
    )
    good = _token(sb, "lab-hmac", _assertion(sb, "lab-hmac", "a-long-shared-secret-of-the-lab-0001"))
    assert good.status_code == 200, good.text
    wrong = _token(sb, "lab-hmac", _assertion(sb, "lab-hmac", "another-secret-entirely-000000000000"))
    assert wrong.status_code == 401
    # A client_secret_jwt client may not send its secret itself.
    plain = sb.client("psc_auth").post(
        TOKEN,
        data={"grant_type": "client_credentials"},
        auth=("lab-hmac", "a-long-shared-secret-of-the-lab-0001"),
    )
    assert plain.status_code == 401
    # And a secret client may not use an assertion.
    assert _token(sb, "dpi-valmont", _assertion(sb, "dpi-valmont", "dpi-valmont-secret")).status_code == 401


def test_assertions_authenticate_introspection_too(sb: Sandbox) -> None:
    key = generate_jwk("ES256")
    _register(
        sb,
        client_id="lab-keys",
        token_endpoint_auth_method="private_key_jwt",
        jwks={"keys": [public_jwk(key)]},
    )
    token = sb.psc_token("jeanne-martin")
    answer = sb.client("psc_auth").post(
        INTROSPECT,
        data={
            "token": token,
            "client_id": "lab-keys",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": _assertion(sb, "lab-keys", key, aud=sb.url("psc_auth") + ISSUER_PATH),
        },
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["active"] is True


def test_registration_is_validated(sb: Sandbox) -> None:
    no_keys = sb.admin(
        "psc_auth",
        "POST",
        "clients",
        json={"client_id": "x", "name": "X", "token_endpoint_auth_method": "private_key_jwt"},
    )
    assert no_keys.status_code == 422
    public_with_secret = sb.admin(
        "psc_auth",
        "POST",
        "clients",
        json={"client_id": "x", "name": "X", "secret": "s", "token_endpoint_auth_method": "none"},
    )
    assert public_with_secret.status_code == 422
    taken = sb.admin(
        "psc_auth", "POST", "clients", json={"client_id": "dpi-valmont", "name": "X", "secret": "s"}
    )
    assert taken.status_code == 409

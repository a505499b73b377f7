"""The same journey driven by a real OIDC client library (authlib, with joserfc for JOSE),
acting as the editor's software: discovery, PKCE, the code exchange with client
authentication, ID-token signature and claims validation, userinfo, refresh, logout."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.psc_auth.support import DPI, DPI_CALLBACK, MOBILE, MOBILE_CALLBACK, Browser
from tests.support import Sandbox

pytestmark = [
    pytest.mark.db,
    pytest.mark.filterwarnings("ignore:The httpx module is deprecated"),
]

DISCOVERY = "/auth/realms/esante-wallet/.well-known/wallet-openid-configuration"


def _client(sb: Sandbox, client_id: str, secret: str | None, redirect_uri: str, method: str) -> Any:
    from authlib.integrations.httpx_client import OAuth2Client

    return OAuth2Client(
        client_id=client_id,
        client_secret=secret,
        scope="openid scope_all",
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method=method,
        timeout=30,
    )


def _validated_id_token(
    metadata: dict[str, Any], jwks: dict[str, Any], token: dict[str, Any], client_id: str, nonce: str | None
) -> CodeIDToken:
    decoded = jwt.decode(
        token["id_token"],
        KeySet.import_key_set(jwks),
        algorithms=metadata["id_token_signing_alg_values_supported"],
    )
    claims = CodeIDToken(
        decoded.claims,
        decoded.header,
        options={
            "iss": {"essential": True, "value": metadata["issuer"]},
            "acr": {"essential": True, "value": "eidas1"},
        },
        params={"nonce": nonce, "client_id": client_id, "access_token": token["access_token"]},
    )
    claims.validate(leeway=5)
    return claims


def _login(
    sb: Sandbox, client: Any, metadata: dict[str, Any], nonce: str, identifier: str
) -> tuple[str, str]:
    verifier = generate_token(64)
    url, _state = client.create_authorization_url(
        metadata["authorization_endpoint"],
        code_verifier=verifier,
        nonce=nonce,
        acr_values="eidas1",
        login_hint=identifier,
    )
    browser = Browser(sb)
    try:
        page = browser.http.get(url)
        assert f'value="{identifier}"' in page.text
        browser.identify(page, identifier)
        assert browser.pin(page, "1234").text == "callback received"
        return str(browser.callbacks[-1]), verifier
    finally:
        browser.close()


def test_a_confidential_client_with_authlib(sb: Sandbox) -> None:
    with _client(sb, DPI[0], DPI[1], DPI_CALLBACK, "client_secret_basic") as client:
        metadata = httpx.get(sb.url("psc_auth") + DISCOVERY).json()
        jwks = httpx.get(metadata["jwks_uri"]).json()
        nonce = secrets.token_hex(16)
        callback, verifier = _login(sb, client, metadata, nonce, "899700427885")
        token = client.fetch_token(
            metadata["token_endpoint"], authorization_response=callback, code_verifier=verifier
        )
        claims = _validated_id_token(metadata, jwks, token, DPI[0], nonce)
        assert claims["sub"] == "f:550dc1c8-d97b-4b1e-ac8c-8eb4471cf9dd:899700427885"
        assert claims["idp"] == "PSC"
        userinfo = client.get(metadata["userinfo_endpoint"]).json()
        assert userinfo["sub"] == claims["sub"]
        assert userinfo["SubjectOrganization"] == "CABINET M DOC0042788"
        assert len(userinfo["SubjectRefPro"]["exercices"][0]["activities"]) == 2
        refreshed = client.refresh_token(metadata["token_endpoint"])
        assert refreshed["access_token"] != token["access_token"]
        _validated_id_token(metadata, jwks, refreshed, DPI[0], None)
        revoked = client.revoke_token(
            metadata["revocation_endpoint"], token=refreshed["refresh_token"], token_type_hint="refresh_token"
        )
        assert revoked.status_code == 200
        assert client.get(metadata["userinfo_endpoint"]).status_code == 401


def test_a_public_client_with_authlib_and_a_tampered_id_token(sb: Sandbox) -> None:
    with _client(sb, MOBILE, None, MOBILE_CALLBACK, "none") as client:
        metadata = httpx.get(sb.url("psc_auth") + DISCOVERY).json()
        jwks = httpx.get(metadata["jwks_uri"]).json()
        nonce = secrets.token_hex(16)
        callback, verifier = _login(sb, client, metadata, nonce, "899700334586")
        token = client.fetch_token(
            metadata["token_endpoint"], authorization_response=callback, code_verifier=verifier
        )
        assert _validated_id_token(metadata, jwks, token, MOBILE, nonce)["aud"] == MOBILE
        # The library refuses a wrong nonce, and a token whose signature was tampered with.
        with pytest.raises(Exception, match="nonce"):
            _validated_id_token(metadata, jwks, token, MOBILE, "another-nonce")
        head, body, signature = token["id_token"].split(".")
        forged = {**token, "id_token": f"{head}.{body}.{signature[::-1]}"}
        with pytest.raises(Exception, match=r"(?i)signature"):
            _validated_id_token(metadata, jwks, forged, MOBILE, nonce)

"""Pairing an app with a patient, driven by a real OAuth 2 client library (authlib) acting as
the editor's software, and a browser session (httpx) acting as the patient."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError as AuthlibOAuthError
from authlib.integrations.httpx_client import OAuth2Client

from tests.catalog.support import Browser, claims_of, introspect
from tests.support import Sandbox

pytestmark = pytest.mark.db

BALANCE = {
    "client_id": "app-ma-balance",
    "client_secret": "ma-balance-secret",
    "redirect_uri": "http://127.0.0.1:4000/callback",
}


@pytest.fixture
def browser(sb: Sandbox) -> Iterator[Browser]:
    with Browser(sb) as opened:
        yield opened


def balance_client(
    sb: Sandbox, scope: str = "openid mesures.read mesures.write documents.read"
) -> OAuth2Client:
    return OAuth2Client(
        client_id=BALANCE["client_id"],
        client_secret=BALANCE["client_secret"],
        scope=scope,
        redirect_uri=BALANCE["redirect_uri"],
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
    )


def discovery(sb: Sandbox) -> dict[str, Any]:
    answer = sb.client("catalog").get("/.well-known/openid-configuration")
    assert answer.status_code == 200
    data: dict[str, Any] = answer.json()
    return data


def query(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def pair(
    sb: Sandbox, browser: Browser, person: str, decision: str, data: list[str] | None = None, **client: Any
) -> tuple[OAuth2Client, dict[str, Any], str]:
    """The whole pairing: authorization URL, sign-in, consent, code exchange."""
    meta = discovery(sb)
    oauth = balance_client(sb, **client)
    verifier = generate_token(48)
    nonce = generate_token(16)
    url, state = oauth.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce
    )
    location = browser.consent(url, person, decision, data)
    assert location.startswith(BALANCE["redirect_uri"])
    token = oauth.fetch_token(
        meta["token_endpoint"], authorization_response=location, code_verifier=verifier, state=state
    )
    return oauth, dict(token), nonce


def test_discovery_describes_the_authorization_server(sb: Sandbox) -> None:
    meta = discovery(sb)
    base = sb.url("catalog")
    assert meta["issuer"] == base
    assert meta["authorization_endpoint"] == f"{base}/oauth/authorize"
    assert meta["token_endpoint"] == f"{base}/oauth/token"
    assert meta["jwks_uri"] == f"{base}/oauth/jwks"
    assert meta["introspection_endpoint"] == f"{base}/oauth/introspect"
    assert meta["revocation_endpoint"] == f"{base}/oauth/revoke"
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert "mesures.write" in meta["scopes_supported"]
    assert sb.client("catalog").get("/.well-known/oauth-authorization-server").json() == meta
    keys = sb.client("catalog").get("/oauth/jwks").json()["keys"]
    assert {k["alg"] for k in keys} == {"ES256", "RS256"}
    assert all("d" not in k for k in keys)


def test_the_whole_pairing_with_a_partial_consent_then_refresh(sb: Sandbox, browser: Browser) -> None:
    oauth, token, nonce = pair(
        sb, browser, "dominique-pat-trois", "accepter", ["mesures.write", "documents.read"]
    )
    # Only what the patient ticked (openid stays: it is not a data category).
    assert token["scope"] == "openid mesures.write documents.read"
    assert token["token_type"] == "Bearer"
    assert token["idpe"]
    access = claims_of(token["access_token"])
    assert access["mes_actor"] == "app"
    assert access["idpe"] == token["idpe"]
    assert access["patient_ins"] == "279035121518989"
    identity = claims_of(token["id_token"])
    assert identity["sub"] == token["idpe"]
    assert identity["aud"] == "app-ma-balance"
    assert identity["nonce"] == nonce
    assert identity["editor_oid"] == "1.2.250.1.999.1.1"
    assert introspect(sb, token["access_token"])["scope"] == "openid mesures.write documents.read"

    # RFC 6749 §6: a refresh may not ask for more than was granted (authlib sends the scope it
    # first asked for unless told otherwise).
    with pytest.raises(AuthlibOAuthError) as beyond:
        oauth.refresh_token(discovery(sb)["token_endpoint"])
    assert beyond.value.error == "invalid_scope"
    refreshed = dict(oauth.refresh_token(discovery(sb)["token_endpoint"], scope=token["scope"]))
    assert refreshed["access_token"] != token["access_token"]
    assert refreshed["refresh_token"] != token["refresh_token"]
    assert refreshed["scope"] == token["scope"]
    assert introspect(sb, refreshed["access_token"])["active"] is True
    # The refresh token used is rotated: presenting it again revokes the whole grant.
    reuse = sb.client("catalog").post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
        auth=(BALANCE["client_id"], BALANCE["client_secret"]),
    )
    assert reuse.status_code == 400
    assert reuse.json()["error"] == "invalid_grant"
    assert reuse.headers["cache-control"] == "no-store"
    assert introspect(sb, refreshed["access_token"]) == {"active": False}


def test_accepting_everything_and_refusing(sb: Sandbox, browser: Browser) -> None:
    _, token, _ = pair(sb, browser, "gabriel-fontaine", "accepter_tout")
    assert token["scope"] == "openid mesures.read mesures.write documents.read"
    oauth = balance_client(sb)
    url, state = oauth.create_authorization_url(
        discovery(sb)["authorization_endpoint"], code_verifier=generate_token(48)
    )
    location = browser.consent(url, "gabriel-fontaine", "refuser")
    answer = query(location)
    assert answer["error"] == "access_denied"
    assert answer["state"] == state
    assert answer["iss"] == sb.url("catalog")


def test_ticking_nothing_asks_again(sb: Sandbox, browser: Browser) -> None:
    oauth = balance_client(sb)
    url, _ = oauth.create_authorization_url(
        discovery(sb)["authorization_endpoint"], code_verifier=generate_token(48)
    )
    first = browser.http.get(url)
    page_path = first.headers["location"]
    browser.sign_in("dominique-pat-trois", next_url=page_path)
    page = browser.http.get(page_path)
    again = browser.http.post(page_path, data={"decision": "accepter", "csrf": browser.csrf(page)})
    assert again.status_code == 400
    assert "cochez au moins une catégorie" in again.text
    # The request is still there: the patient can answer.
    assert browser.http.get(page_path).status_code == 200


def test_a_code_is_single_use_and_bound_to_the_verifier(sb: Sandbox, browser: Browser) -> None:
    meta = discovery(sb)
    oauth = balance_client(sb)
    verifier = generate_token(48)
    url, _ = oauth.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier)
    code = query(browser.consent(url, "dominique-pat-trois", "accepter_tout"))["code"]
    catalog = sb.client("catalog")
    auth = (BALANCE["client_id"], BALANCE["client_secret"])
    base = {"grant_type": "authorization_code", "code": code, "redirect_uri": BALANCE["redirect_uri"]}
    wrong = catalog.post("/oauth/token", data={**base, "code_verifier": generate_token(48)}, auth=auth)
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"
    missing = catalog.post("/oauth/token", data=base, auth=auth)
    assert missing.json()["error"] == "invalid_grant"
    elsewhere = catalog.post(
        "/oauth/token",
        data={**base, "redirect_uri": "fr.example.balance:/callback", "code_verifier": verifier},
        auth=auth,
    )
    assert elsewhere.json()["error"] == "invalid_grant"
    good = catalog.post("/oauth/token", data={**base, "code_verifier": verifier}, auth=auth)
    assert good.status_code == 200, good.text
    assert good.headers["cache-control"] == "no-store"
    again = catalog.post("/oauth/token", data={**base, "code_verifier": verifier}, auth=auth)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"
    # §4.1.2: what the first use gave is revoked.
    assert introspect(sb, good.json()["access_token"]) == {"active": False}


def test_the_token_endpoint_authenticates_the_app(sb: Sandbox) -> None:
    catalog = sb.client("catalog")
    data = {"grant_type": "authorization_code", "code": "x", "redirect_uri": BALANCE["redirect_uri"]}
    wrong = catalog.post("/oauth/token", data=data, auth=(BALANCE["client_id"], "wrong"))
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client"
    assert wrong.headers["www-authenticate"].startswith("Basic")
    unknown = catalog.post("/oauth/token", data=data, auth=("nobody", "x"))
    assert unknown.status_code == 401
    without = catalog.post("/oauth/token", data={**data, "client_id": BALANCE["client_id"]})
    assert without.status_code == 401
    grant = catalog.post(
        "/oauth/token", data={"grant_type": "password"}, auth=(BALANCE["client_id"], BALANCE["client_secret"])
    )
    assert grant.status_code == 400
    assert grant.json()["error"] == "unsupported_grant_type"
    code = catalog.post("/oauth/token", data=data, auth=(BALANCE["client_id"], BALANCE["client_secret"]))
    assert code.json()["error"] == "invalid_grant"


def authorize(sb: Sandbox, **params: str) -> httpx.Response:
    base = {
        "response_type": "code",
        "client_id": BALANCE["client_id"],
        "redirect_uri": BALANCE["redirect_uri"],
        "scope": "mesures.read",
        "state": "xyz",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256",
    }
    base.update(params)
    return sb.client("catalog").get("/oauth/authorize", params={k: v for k, v in base.items() if v != "-"})


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "documents.write"}, "invalid_scope"),
        ({"scope": "openid"}, "invalid_scope"),
        ({"code_challenge": "-"}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        (
            {
                "client_id": "app-coach-sommeil",
                "redirect_uri": "http://127.0.0.1:4003/callback",
                "scope": "mesures.write",
            },
            "unauthorized_client",
        ),
        (
            {"client_id": "app-carnet-tension", "redirect_uri": "http://127.0.0.1:4001/callback"},
            "unauthorized_client",
        ),
        (  # listed without data exchange
            {"client_id": "app-agenda-soins", "redirect_uri": "http://127.0.0.1:4002/callback"},
            "unauthorized_client",
        ),
    ],
)
def test_authorization_errors_go_back_to_the_app(sb: Sandbox, params: dict[str, str], error: str) -> None:
    answer = authorize(sb, **params)
    assert answer.status_code == 302
    location = answer.headers["location"]
    assert location.startswith(params.get("redirect_uri", BALANCE["redirect_uri"]))
    back = query(location)
    assert back["error"] == error
    assert back["state"] == "xyz"
    assert back["iss"] == sb.url("catalog")
    assert back["error_description"]


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"client_id": "nobody"}, 404),
        ({"redirect_uri": "http://evil.example/cb"}, 400),
        ({"client_id": "-"}, 400),
    ],
)
def test_an_unverified_client_or_redirect_is_told_to_the_person(
    sb: Sandbox, params: dict[str, str], status: int
) -> None:
    answer = authorize(sb, **params)
    assert answer.status_code == status
    assert "location" not in answer.headers
    assert answer.headers["content-type"].startswith("text/html")
    assert "Une erreur est survenue" in answer.text


def test_revocation_of_the_consent_stops_the_refresh(sb: Sandbox, browser: Browser) -> None:
    oauth, token, _ = pair(sb, browser, "dominique-pat-trois", "accepter_tout")
    answer = sb.admin(
        "catalog", "POST", "consents/revoke", json={"patient": "dominique-pat-trois", "app": "ma-balance"}
    )
    assert answer.status_code == 200
    assert introspect(sb, token["access_token"]) == {"active": False}
    with pytest.raises(AuthlibOAuthError) as refused:
        oauth.refresh_token(discovery(sb)["token_endpoint"])
    assert refused.value.error == "invalid_grant"


def test_the_app_revokes_its_own_refresh_token(sb: Sandbox, browser: Browser) -> None:
    oauth, token, _ = pair(sb, browser, "dominique-pat-trois", "accepter_tout")
    answer = oauth.revoke_token(discovery(sb)["revocation_endpoint"], token["refresh_token"], "refresh_token")
    assert answer.status_code == 200
    assert introspect(sb, token["access_token"]) == {"active": False}
    # Unknown tokens are fine too (RFC 7009 §2.2); another app cannot revoke.
    assert oauth.revoke_token(discovery(sb)["revocation_endpoint"], "nonsense").status_code == 200
    refused = sb.client("catalog").post("/oauth/revoke", data={"token": "x"}, auth=("app-ma-balance", "bad"))
    assert refused.status_code == 401
    other = pair(sb, browser, "dominique-pat-trois", "accepter_tout")[1]
    foreign = sb.client("catalog").post(
        "/oauth/revoke",
        data={"token": other["access_token"]},
        auth=("app-carnet-tension", "carnet-tension-secret"),
    )
    assert foreign.status_code == 400
    assert foreign.json()["error"] == "unauthorized_client"
    assert introspect(sb, other["access_token"])["active"] is True
    missing = sb.client("catalog").post(
        "/oauth/revoke", data={}, auth=("app-ma-balance", "ma-balance-secret")
    )
    assert missing.status_code == 400
    assert missing.json()["error"] == "invalid_request"

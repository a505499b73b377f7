"""CIBA (OpenID Connect Client-Initiated Backchannel Authentication Core 1.0, poll mode):
software authenticates a professional without a browser; the professional approves on the
e-CPS app; the software polls the token endpoint."""

from __future__ import annotations

from typing import Any

import pytest

from tests.psc_auth.support import CIBA, DPI, LGO, TOKEN, advance_clock, claims_of, pending_pushes
from tests.support import Sandbox

pytestmark = pytest.mark.db

CIBA_GRANT = "urn:openid:params:grant-type:ciba"


def _start(sb: Sandbox, **params: str) -> Any:
    data = {
        "scope": "openid scope_all",
        "login_hint": "899700223011",
        "binding_message": "Dossier 4521",
        **params,
    }
    return sb.client("psc_auth").post(CIBA, data=data, auth=DPI)


def _poll(sb: Sandbox, auth_req_id: str, client: tuple[str, str] = DPI) -> Any:
    return sb.client("psc_auth").post(
        TOKEN, data={"grant_type": CIBA_GRANT, "auth_req_id": auth_req_id}, auth=client
    )


def test_approved_on_the_app_then_tokens(sb: Sandbox) -> None:
    started = _start(sb)
    assert started.status_code == 200, started.text
    body = started.json()
    assert set(body) == {"auth_req_id", "expires_in", "interval"}
    assert body["expires_in"] == 300
    pending = _poll(sb, body["auth_req_id"])
    assert pending.status_code == 400
    assert pending.json()["error"] == "authorization_pending"
    [push] = pending_pushes(sb, "karim-benali")
    assert push["purpose"] == "ciba"
    assert push["binding_message"] == "Dossier 4521"
    # The app page shows it with its binding message.
    app = sb.client("psc_auth").get("/ecps/899700223011")
    assert "Dossier 4521" in app.text
    sb.admin("psc_auth", "POST", f"ecps/{push['id']}/approve")
    advance_clock(sb, body["interval"])
    tokens = _poll(sb, body["auth_req_id"])
    assert tokens.status_code == 200, tokens.text
    id_token = claims_of(tokens.json()["id_token"])
    assert id_token["sub"].endswith(":899700223011")
    assert id_token["authMode"] == "MOBILE"
    assert id_token["acr"] == "eidas1"
    # An auth_req_id gives tokens once.
    assert _poll(sb, body["auth_req_id"]).json()["error"] == "invalid_grant"


def test_polling_too_fast_is_slow_down(sb: Sandbox) -> None:
    auth_req_id = _start(sb).json()["auth_req_id"]
    assert _poll(sb, auth_req_id).json()["error"] == "authorization_pending"
    too_fast = _poll(sb, auth_req_id)
    assert too_fast.json()["error"] == "slow_down"
    assert "7 s" in too_fast.json()["error_description"]


def test_refused_and_expired(sb: Sandbox) -> None:
    refused = _start(sb).json()["auth_req_id"]
    [push] = pending_pushes(sb)
    sb.admin("psc_auth", "POST", f"ecps/{push['id']}/refuse")
    assert _poll(sb, refused).json()["error"] == "access_denied"
    expired = _start(sb, requested_expiry="30").json()
    assert expired["expires_in"] == 30
    advance_clock(sb, 31)
    assert _poll(sb, expired["auth_req_id"]).json()["error"] == "expired_token"


def test_backchannel_request_errors(sb: Sandbox) -> None:
    assert _start(sb, login_hint="899999999999").json()["error"] == "unknown_user_id"
    assert _start(sb, login_hint="899700557863").json()["error"] == "access_denied"
    assert _start(sb, scope="scope_all").json()["error"] == "invalid_scope"
    assert _start(sb, login_hint="").json()["error"] == "invalid_request"
    assert _start(sb, id_token_hint="x").json()["error"] == "invalid_request"
    assert _start(sb, binding_message="x" * 65).json()["error"] == "invalid_binding_message"
    assert _start(sb, acr_values="eidas2").json()["error"] == "invalid_request"
    not_registered = sb.client("psc_auth").post(
        CIBA, data={"scope": "openid", "login_hint": "899700223011"}, auth=LGO
    )
    assert not_registered.json()["error"] == "unauthorized_client"
    public = sb.client("psc_auth").post(
        CIBA, data={"scope": "openid", "login_hint": "899700223011", "client_id": "lgc-mobile"}
    )
    assert public.status_code == 401
    # Someone else's auth_req_id.
    auth_req_id = _start(sb).json()["auth_req_id"]
    assert _poll(sb, auth_req_id, client=LGO).json()["error"] == "unauthorized_client"

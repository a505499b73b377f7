"""The token and introspection endpoints answered in front of the router
(``services/psc_auth/oidc/hot.py``): the same answers as the FastAPI routes the OpenAPI
document shows, and still inside the platform's middleware (recorded, faulted, traced)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.psc_auth.app import create_app
from services.psc_auth.settings import PscSettings
from shared.web.front import FrontRoutes

pytestmark = pytest.mark.db

REALM = "/auth/realms/esante-wallet/protocol/openid-connect"
BASIC = "Basic " + base64.b64encode(b"dpi-valmont:dpi-valmont-secret").decode()
FORM = {"content-type": "application/x-www-form-urlencoded"}
CLIENT = {**FORM, "authorization": BASIC}
ADMIN = {"Authorization": "Bearer hot-admin"}
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def _app(folder: Path, *, hot: bool) -> FastAPI:
    application = create_app(PscSettings(data_dir=folder, admin_token="hot-admin"))
    if not hot:  # the middleware stack is built at the first request
        application.user_middleware = [
            m for m in application.user_middleware if cast(object, m.cls) is not FrontRoutes
        ]
    return application


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[TestClient, TestClient]]:
    """The same service twice: with the hot path, and with the FastAPI routes alone."""
    with (
        TestClient(_app(tmp_path / "hot", hot=True)) as hot,
        TestClient(_app(tmp_path / "routed", hot=False)) as routed,
    ):
        yield hot, routed


@pytest.mark.parametrize(
    ("path", "body", "headers"),
    [
        ("/token", "grant_type=client_credentials", CLIENT),
        ("/token", "grant_type=client_credentials", {**FORM, "authorization": "Basic bm9wZTpub3Bl"}),
        ("/token", "grant_type=password&username=x", CLIENT),
        ("/token", "grant_type=client_credentials&scope=unknown", CLIENT),
        ("/token", "grant_type=authorization_code&code=nope", CLIENT),
        ("/token", "grant_type=client_credentials", {**CLIENT, "content-type": "application/json"}),
        ("/token", "grant_type=a&grant_type=b", CLIENT),
        ("/token", "scope=openid", CLIENT),
        ("/token/introspect", "token=not-a-token", CLIENT),
        ("/token/introspect", "token=x", FORM),
    ],
)
def test_the_hot_path_answers_as_the_routes(
    pair: tuple[TestClient, TestClient], path: str, body: str, headers: dict[str, str]
) -> None:
    hot, routed = (client.post(f"{REALM}{path}", content=body, headers=headers) for client in pair)
    assert hot.status_code == routed.status_code
    assert hot.headers["content-type"] == routed.headers["content-type"] == "application/json"
    assert hot.headers["cache-control"] == routed.headers["cache-control"] == "no-store"
    for name in ("www-authenticate", "pragma"):
        assert hot.headers.get(name) == routed.headers.get(name)
    if hot.status_code != 200:
        assert hot.json() == routed.json()
        assert set(hot.json()) == {"error", "error_description"}
        return
    # Fresh tokens each time: the same members, and each valid where it was issued.
    assert set(hot.json()) == set(routed.json())
    if "access_token" in hot.json():
        for client, answer in zip(pair, (hot, routed), strict=True):
            token = answer.json()["access_token"]
            active = client.post(f"{REALM}/token/introspect", content=f"token={token}", headers=CLIENT)
            assert active.json()["active"] is True


def test_other_methods_on_the_token_path_reach_the_router(pair: tuple[TestClient, TestClient]) -> None:
    answer = pair[0].get(f"{REALM}/token")
    assert answer.status_code == 405
    assert answer.json()["error"] == "invalid_request"


def test_the_hot_path_is_recorded_traced_and_faulted(pair: tuple[TestClient, TestClient]) -> None:
    client = pair[0]
    traceparent = f"00-{TRACE}-00f067aa0ba902b7-01"
    body = "grant_type=client_credentials"
    answer = client.post(f"{REALM}/token", content=body, headers={**CLIENT, "traceparent": traceparent})
    assert answer.status_code == 200
    assert answer.headers["traceresponse"].startswith(f"00-{TRACE}-")
    recorded = client.get("/_sandbox/exchanges", params={"trace_id": TRACE}, headers=ADMIN).json()[
        "exchanges"
    ]
    assert [(e["method"], e["path"], e["status"]) for e in recorded] == [("POST", f"{REALM}/token", 200)]
    assert recorded[0]["client_id"] == "dpi-valmont"
    assert recorded[0]["request"]["body"] == body
    assert recorded[0]["response"]["body"] == answer.text
    assert "pending" not in recorded[0]
    rule = {"method": "POST", "path": f"{REALM}/token", "status": 503}
    assert client.post("/_sandbox/faults", json=rule, headers=ADMIN).status_code in (200, 201)
    faulted = client.post(f"{REALM}/token", content=body, headers=CLIENT)
    assert faulted.status_code == 503
    assert faulted.json()["error"] == "temporarily_unavailable"

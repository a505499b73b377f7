"""The console when the services are not there (a peer failure through the platform's
seam, ``peer_transport``): it says which one and why, never a 500."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from services.console.app import create_app
from services.console.settings import ConsoleSettings

pytestmark = pytest.mark.db


def _refuse(request: httpx.Request) -> httpx.Response:
    if request.url.port == 8402:  # the DMP answers, but not with exchanges
        return httpx.Response(503, json={"status": "unavailable", "reason": "database unavailable"})
    raise httpx.ConnectError("connection refused", request=request)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = ConsoleSettings(data_dir=tmp_path, admin_token=None, dmp_url="http://127.0.0.1:8402")
    with TestClient(create_app(settings, peer_transport=httpx.MockTransport(_refuse))) as test_client:
        yield test_client


def test_home_says_which_service_is_down_and_why(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert page.text.count("indisponible") == 4
    assert "ConnectError: connection refused" in page.text
    assert "database unavailable" in page.text


def test_journeys_name_the_services_they_could_not_read(client: TestClient) -> None:
    page = client.get("/parcours")
    assert page.status_code == 200
    assert page.text.count("injoignable") == 4
    assert client.get("/parcours/etat").json() == {"version": ""}


def test_sandbox_wide_actions_fail_with_a_clear_error(client: TestClient) -> None:
    for method, path in (("POST", "/reinitialiser"), ("GET", "/instantane"), ("POST", "/echanges/effacer")):
        answer = client.request(method, path)
        assert answer.status_code == 502, path
        assert answer.json()["error"] == "bad_gateway"
        assert "a échoué" in answer.json()["detail"]

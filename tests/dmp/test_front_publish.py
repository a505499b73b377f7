"""ITI-65 answered in front of the router (``front_routes`` in
``services/dmp/publication/routes.py``, :class:`shared.web.front.FrontRoutes`): the same
answers as the FastAPI route the OpenAPI document shows, and still recorded and faulted."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.dmp.app import create_app
from services.dmp.settings import DmpSettings
from shared.personas import Personas
from shared.web.front import FrontRoutes
from tests.dmp.builders import bundle
from tests.dmp.conftest import FHIR_JSON
from tests.support import Sandbox, bearer

pytestmark = pytest.mark.db

ADMIN = {"Authorization": "Bearer front-admin"}
TRACE = "0af7651916cd43dd8448eb211c80319c"


def _app(sb: Sandbox, folder: Path, *, front: bool) -> FastAPI:
    base = sb.topology.settings("dmp")
    assert isinstance(base, DmpSettings)
    settings = base.model_copy(
        update={
            "data_dir": folder,
            "database_url": None,
            "admin_token": "front-admin",
            "max_body_bytes": 200_000,
        }
    )
    application = create_app(settings)
    if not front:  # the middleware stack is built at the first request
        application.user_middleware = [
            m for m in application.user_middleware if cast(object, m.cls) is not FrontRoutes
        ]
    return application


@pytest.fixture
def pair(sb: Sandbox, tmp_path: Path) -> Iterator[tuple[TestClient, TestClient]]:
    """Two DMPs on the running sandbox's issuers: with the front route, and routes only."""
    with (
        TestClient(_app(sb, tmp_path / "front", front=True)) as front,
        TestClient(_app(sb, tmp_path / "routed", front=False)) as routed,
    ):
        yield front, routed


def _published(personas: Personas) -> bytes:
    request = bundle(personas.patient("dominique-pat-trois"), personas.professional("jeanne-martin"))
    return json.dumps(request).encode()


CASES: list[tuple[str, Callable[[str], dict[str, str]], Callable[[Personas], bytes]]] = [
    ("published", lambda t: {**bearer(t), "Content-Type": FHIR_JSON}, _published),
    (
        "as XML",
        lambda t: {**bearer(t), "Content-Type": FHIR_JSON, "Accept": "application/fhir+xml"},
        _published,
    ),
    ("no token", lambda t: {"Content-Type": FHIR_JSON}, _published),
    ("forged token", lambda t: {**bearer(t[:-4] + "AAAA"), "Content-Type": FHIR_JSON}, _published),
    ("not JSON", lambda t: {**bearer(t), "Content-Type": FHIR_JSON}, lambda p: b"{not json"),
    ("not FHIR", lambda t: {**bearer(t), "Content-Type": "text/plain"}, _published),
    ("bad mode", lambda t: {**bearer(t), "Content-Type": FHIR_JSON, "X-DMP-Access-Mode": "x"}, _published),
    ("too large", lambda t: {**bearer(t), "Content-Type": FHIR_JSON}, lambda p: b" " * 300_000),
    ("too large, no token", lambda t: {"Content-Type": FHIR_JSON}, lambda p: b" " * 300_000),
    (
        "not a bundle",
        lambda t: {**bearer(t), "Content-Type": FHIR_JSON},
        lambda p: b'{"resourceType":"Patient"}',
    ),
]


def _shape(value: Any) -> Any:
    """The answer without what differs between two publications (ids, dates)."""
    if isinstance(value, dict):
        shaped = {
            k: _shape(v) for k, v in value.items() if k not in ("location", "etag", "lastModified", "id")
        }
        if "fullUrl" in shaped:  # …/fhir/List/<new id>: the type stays
            shaped["fullUrl"] = shaped["fullUrl"].rsplit("/", 1)[0]
        return shaped
    if isinstance(value, list):
        return [_shape(v) for v in value]
    return value


@pytest.mark.parametrize(("name", "headers", "body"), CASES, ids=[c[0] for c in CASES])
def test_the_front_route_answers_as_the_route(
    pair: tuple[TestClient, TestClient],
    sb: Sandbox,
    personas: Personas,
    name: str,
    headers: Callable[[str], dict[str, str]],
    body: Callable[[Personas], bytes],
) -> None:
    sent_headers, content = headers(sb.psc_token("jeanne-martin")), body(personas)
    front, routed = (client.post("/fhir", content=content, headers=sent_headers) for client in pair)
    assert front.status_code == routed.status_code
    assert front.headers["content-type"] == routed.headers["content-type"]
    assert front.headers.get("www-authenticate") == routed.headers.get("www-authenticate")
    if front.headers["content-type"].startswith("application/fhir+xml"):
        assert front.content.startswith(b"<") and routed.content.startswith(b"<")
        return
    if front.status_code != 200:
        assert front.json() == routed.json()
        assert front.json()["resourceType"] == "OperationOutcome"
        return
    assert front.json()["type"] == "transaction-response"
    assert _shape(front.json()) == _shape(routed.json())


def test_other_methods_and_paths_reach_the_router(pair: tuple[TestClient, TestClient]) -> None:
    front, routed = pair
    for method, path in (("GET", "/fhir"), ("POST", "/fhir/")):
        mine, theirs = (c.request(method, path, follow_redirects=False) for c in (front, routed))
        assert (mine.status_code, mine.content) == (theirs.status_code, theirs.content)
        assert mine.status_code == {"GET": 405, "POST": 307}[method]


def test_the_front_route_is_recorded_traced_and_faulted(
    pair: tuple[TestClient, TestClient], sb: Sandbox, personas: Personas
) -> None:
    client = pair[0]
    headers = {**bearer(sb.psc_token("jeanne-martin")), "Content-Type": FHIR_JSON}
    traceparent = f"00-{TRACE}-00f067aa0ba902b7-01"
    answer = client.post(
        "/fhir", content=_published(personas), headers={**headers, "traceparent": traceparent}
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["traceresponse"].startswith(f"00-{TRACE}-")
    recorded = client.get("/_sandbox/exchanges", params={"trace_id": TRACE}, headers=ADMIN).json()[
        "exchanges"
    ]
    # The DMP's own calls to PSC (keys, introspection) are recorded under the same trace.
    assert [(e["method"], e["status"]) for e in recorded if e["path"] == "/fhir"] == [("POST", 200)]
    rule = {"method": "POST", "path": "/fhir", "status": 503}
    assert client.post("/_sandbox/faults", json=rule, headers=ADMIN).status_code in (200, 201)
    faulted = client.post("/fhir", content=_published(personas), headers=headers)
    assert faulted.status_code == 503
    assert faulted.json()["resourceType"] == "OperationOutcome"

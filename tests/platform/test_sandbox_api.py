"""Every ``/_sandbox/`` operation on every service (issue #2, item 2)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from services.launcher import SERVICES
from tests.support import Sandbox

pytestmark = pytest.mark.db


@pytest.mark.parametrize("service", SERVICES)
def test_health_reports_version_seed_and_migrations(sb: Sandbox, service: str) -> None:
    answer = sb.client(service).get("/health")
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "ok"
    assert body["service"] == service
    assert body["seeded"] is True
    assert body["migrations"]
    assert body["version"]


@pytest.mark.parametrize("service", SERVICES)
def test_openapi_and_docs_are_served(sb: Sandbox, service: str) -> None:
    spec = sb.client(service).get("/openapi.json")
    assert spec.status_code == 200
    assert "/health" in spec.json()["paths"]
    assert "/_sandbox/reset" in spec.json()["paths"]
    assert "swagger" in sb.client(service).get("/docs").text.lower()


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic eDp5"}])
def test_sandbox_controls_refuse_a_missing_or_wrong_admin_token(
    sb: Sandbox, service: str, headers: dict[str, str]
) -> None:
    for method, path in (
        ("POST", "/_sandbox/reset"),
        ("GET", "/_sandbox/snapshot"),
        ("GET", "/_sandbox/faults"),
        ("GET", "/_sandbox/exchanges"),
    ):
        answer = sb.client(service).request(method, path, headers=headers)
        assert answer.status_code == 401, (method, path)
        assert answer.json()["error"] == "unauthorized"
        assert answer.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("service", SERVICES)
def test_snapshot_round_trip_and_reset_back_to_the_seed(sb: Sandbox, service: str) -> None:
    seed = sb.admin(service, "GET", "snapshot").json()
    assert seed["service"] == service
    assert seed["schema"]
    # Load an empty state: every table is emptied, in one transaction.
    empty = {**seed, "tables": {name: [] for name in seed["tables"]}}
    loaded = sb.admin(service, "PUT", "snapshot", json=empty)
    assert loaded.status_code == 200, loaded.text
    assert all(rows == [] for rows in sb.admin(service, "GET", "snapshot").json()["tables"].values())
    # Load the seed back: identical rows.
    assert sb.admin(service, "PUT", "snapshot", json=seed).status_code == 200
    assert sb.admin(service, "GET", "snapshot").json()["tables"] == seed["tables"]
    # Empty it again, then reset: the seed is back (not an empty database).
    sb.admin(service, "PUT", "snapshot", json=empty)
    reset = sb.admin(service, "POST", "reset")
    assert reset.status_code == 200
    assert reset.json()["status"] == "reset"
    assert sb.admin(service, "GET", "snapshot").json()["tables"] == seed["tables"]


@pytest.mark.parametrize("service", SERVICES)
def test_a_bad_snapshot_is_refused_and_changes_nothing(sb: Sandbox, service: str) -> None:
    before = sb.admin(service, "GET", "snapshot").json()
    other = next(s for s in SERVICES if s != service)
    cases = [
        (b"{not json", 400),
        ({"tables": {"no_such_table": []}}, 422),
        ({**before, "service": other}, 422),
        ({**before, "schema": "not-this-one"}, 422),
        ({"format": "other/9", "tables": {}}, 422),
    ]
    for body, status in cases:
        kwargs = {"content": body} if isinstance(body, bytes) else {"json": body}
        answer = sb.admin(service, "PUT", "snapshot", **kwargs)
        assert answer.status_code == status, (body, answer.text)
        assert set(answer.json()) == {"error", "detail"}
    assert sb.admin(service, "GET", "snapshot").json()["tables"] == before["tables"]


def test_a_snapshot_that_breaks_a_constraint_is_rolled_back(sb: Sandbox) -> None:
    before = sb.admin("dmp", "GET", "snapshot").json()
    rows = before["tables"]["dossiers"]
    duplicated = {**before, "tables": {**before["tables"], "dossiers": [*rows, rows[0]]}}
    answer = sb.admin("dmp", "PUT", "snapshot", json=duplicated)
    assert answer.status_code == 422
    assert sb.admin("dmp", "GET", "snapshot").json()["tables"] == before["tables"]


def test_reset_of_every_service_is_fast(sb: Sandbox) -> None:
    # Behaviour, not a timing benchmark: each service reports the duration of its reset.
    durations = {s: sb.admin(s, "POST", "reset").json()["duration_ms"] for s in SERVICES}
    assert all(isinstance(d, float) and d >= 0 for d in durations.values())


def test_faults_count_then_disappear_in_the_endpoint_format(sb: Sandbox) -> None:
    rule = sb.admin(
        "dmp", "POST", "faults", json={"method": "GET", "path": "/fhir/metadata", "status": 503, "count": 2}
    )
    assert rule.status_code == 201
    assert rule.json()["remaining"] == 2
    dmp = sb.client("dmp")
    for _ in range(2):
        answer = dmp.get("/fhir/metadata")
        assert answer.status_code == 503
        assert answer.headers["content-type"].startswith("application/fhir+json")
        assert answer.json()["resourceType"] == "OperationOutcome"
        assert answer.json()["issue"][0]["code"] == "transient"
    assert dmp.get("/fhir/metadata").status_code == 200
    assert sb.admin("dmp", "GET", "faults").json() == []


def test_faults_in_oauth_and_json_formats(sb: Sandbox) -> None:
    introspect = "/auth/realms/esante-wallet/protocol/openid-connect/token/introspect"
    sb.admin("psc_auth", "POST", "faults", json={"method": "POST", "path": introspect, "status": 503})
    answer = sb.client("psc_auth").post(introspect, data={"token": "x"})
    assert answer.status_code == 503
    assert answer.json() == {
        "error": "temporarily_unavailable",
        "error_description": answer.json()["error_description"],
    }
    sb.admin("mss", "POST", "faults", json={"path": "/api/*", "status": 500, "detail": "boom"})
    answer = sb.client("mss").get("/api/mailboxes")
    assert answer.status_code == 500
    assert answer.json() == {"error": "server_error", "detail": "boom"}


def test_fault_latency_and_probability_and_removal(sb: Sandbox) -> None:
    slow = sb.admin("dmp", "POST", "faults", json={"path": "/fhir/metadata", "latency_ms": 300}).json()
    started = time.perf_counter()
    assert sb.client("dmp").get("/fhir/metadata").status_code == 200
    assert time.perf_counter() - started >= 0.3
    assert sb.admin("dmp", "DELETE", f"faults/{slow['id']}").status_code == 200
    assert sb.admin("dmp", "DELETE", f"faults/{slow['id']}").status_code == 404
    sb.admin("dmp", "POST", "faults", json={"path": "/fhir/metadata", "status": 500, "probability": 0.5})
    statuses = {sb.client("dmp").get("/fhir/metadata").status_code for _ in range(60)}
    assert statuses == {200, 500}  # (1/2)^60: this cannot be a coincidence
    assert sb.admin("dmp", "DELETE", "faults").json() == {"removed": 1}


def test_faults_are_validated(sb: Sandbox) -> None:
    for body in (
        {"path": "/x"},
        {"path": "/x", "status": 200},
        {"path": "/x", "status": 500, "probability": 0},
    ):
        answer = sb.admin("dmp", "POST", "faults", json=body)
        assert answer.status_code == 422, body
        assert answer.json()["error"] == "validation_error"


def test_reset_clears_fault_rules(sb: Sandbox) -> None:
    sb.admin("dmp", "POST", "faults", json={"path": "*", "status": 500})
    sb.admin("dmp", "POST", "reset")
    assert sb.admin("dmp", "GET", "faults").json() == []


def test_exchanges_are_recorded_and_filtered(sb: Sandbox) -> None:
    sb.admin("dmp", "DELETE", "exchanges")
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    since = datetime.now(UTC) - timedelta(seconds=1)
    sb.client("dmp").get("/fhir/metadata", headers={"traceparent": f"00-{trace}-00f067aa0ba902b7-01"})
    sb.client("dmp").get("/fhir/Patient", params={"identifier": "x"})
    every = sb.admin("dmp", "GET", "exchanges").json()["exchanges"]
    assert [(e["method"], e["path"], e["status"]) for e in every] == [
        ("GET", "/fhir/metadata", 200),
        ("GET", "/fhir/Patient", 401),
    ]
    first = every[0]
    assert first["trace_id"] == trace
    assert first["parent_span_id"] == "00f067aa0ba902b7"
    assert first["caller"] == "external"
    assert first["direction"] == "inbound"
    assert first["duration_ms"] > 0
    assert '"CapabilityStatement"' in first["response"]["body"]
    assert first["response"]["headers"]["traceresponse"].startswith(f"00-{trace}-")
    by_trace = sb.admin("dmp", "GET", "exchanges", params={"trace_id": trace}).json()["exchanges"]
    assert [e["id"] for e in by_trace] == [first["id"]]
    assert len(sb.admin("dmp", "GET", "exchanges", params={"after": first["id"]}).json()["exchanges"]) == 1
    recent = sb.admin("dmp", "GET", "exchanges", params={"since": since.isoformat()}).json()["exchanges"]
    assert len(recent) == 2
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert sb.admin("dmp", "GET", "exchanges", params={"since": future}).json()["exchanges"] == []
    naive = sb.admin("dmp", "GET", "exchanges", params={"since": "2026-01-01T00:00:00"})
    assert naive.status_code == 400


def test_exchange_bodies_are_cut_to_the_bound(sandbox: Sandbox) -> None:
    sandbox.admin("psc_auth", "DELETE", "exchanges")
    introspect = "/auth/realms/esante-wallet/protocol/openid-connect/token/introspect"
    sandbox.client("psc_auth").post(introspect, data={"token": "x" * 100_000})
    last = sandbox.admin("psc_auth", "GET", "exchanges").json()["exchanges"][-1]
    assert last["request"]["size"] == len("token=") + 100_000
    assert last["request"]["truncated"] is True
    assert len(last["request"]["body"]) == 16_384
    assert last["response"]["truncated"] is False


@pytest.mark.parametrize("service", SERVICES)
def test_faults_and_exchanges_on_every_service(sb: Sandbox, service: str) -> None:
    sb.admin(service, "DELETE", "exchanges")
    client = sb.client(service)
    assert client.get("/no-such-path").status_code == 404
    rule = sb.admin(
        service, "POST", "faults", json={"method": "GET", "path": "/no-such-*", "status": 429, "count": 1}
    )
    assert rule.status_code == 201
    faulted = client.get("/no-such-path")
    assert faulted.status_code == 429
    assert client.get("/no-such-path").status_code == 404
    recorded = sb.admin(service, "GET", "exchanges").json()["exchanges"]
    assert [(e["path"], e["status"]) for e in recorded] == [("/no-such-path", s) for s in (404, 429, 404)]
    assert recorded[1]["fault"]["rule"] == rule.json()["id"]
    assert recorded[1]["notes"] == [f"fault injected by rule {rule.json()['id']}"]
    # The controls themselves are neither faulted nor recorded.
    sb.admin(service, "POST", "faults", json={"path": "*", "status": 500})
    assert client.get("/health").status_code == 200
    assert sb.admin(service, "GET", "faults").status_code == 200
    assert all(
        not e["path"].startswith(("/_sandbox", "/health"))
        for e in sb.admin(service, "GET", "exchanges").json()["exchanges"]
    )

"""A real inter-service call carries the W3C trace and is recorded on both sides."""

from __future__ import annotations

import pytest

from tests.support import Sandbox, bearer

pytestmark = pytest.mark.db


def test_token_introspection_from_dmp_to_psc_shares_the_trace(sb: Sandbox) -> None:
    token = sb.psc_token("jeanne-martin")
    for service in ("dmp", "psc_auth"):
        sb.admin(service, "DELETE", "exchanges")
    trace = "0af7651916cd43dd8448eb211c80319c"
    answer = sb.client("dmp").get(
        "/fhir/Patient",
        params={"identifier": "urn:oid:1.2.250.1.213.1.4.10|279035121518989"},
        headers={**bearer(token), "traceparent": f"00-{trace}-b7ad6b7169203331-01"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["total"] == 1

    dmp = sb.admin("dmp", "GET", "exchanges", params={"trace_id": trace}).json()["exchanges"]
    inbound = [e for e in dmp if e["direction"] == "inbound"]
    outbound = [e for e in dmp if e["direction"] == "outbound"]
    assert [e["path"] for e in inbound] == ["/fhir/Patient"]
    assert any(e["path"].endswith("/token/introspect") and e["target"] == "psc_auth" for e in outbound)
    introspection = next(e for e in outbound if e["path"].endswith("/token/introspect"))
    assert introspection["parent_span_id"] == inbound[0]["span_id"]
    assert introspection["request"]["headers"]["traceparent"].startswith(f"00-{trace}-")

    psc = sb.admin("psc_auth", "GET", "exchanges", params={"trace_id": trace}).json()["exchanges"]
    served = next(e for e in psc if e["path"].endswith("/token/introspect"))
    assert served["caller"] == "dmp"
    assert served["client_id"] == "mes-sandbox-dmp"
    assert served["parent_span_id"] == introspection["span_id"]
    assert served["status"] == 200
    # Every PSC exchange of this trace is a call the DMP made (JWKS fetch, introspection).
    assert {e["caller"] for e in psc} == {"dmp"}


def test_every_exchange_of_a_request_without_traceparent_gets_a_new_trace(sb: Sandbox) -> None:
    sb.admin("dmp", "DELETE", "exchanges")
    sb.client("dmp").get("/fhir/metadata")
    sb.client("dmp").get("/fhir/metadata")
    traces = {e["trace_id"] for e in sb.admin("dmp", "GET", "exchanges").json()["exchanges"]}
    assert len(traces) == 2
    assert all(len(t) == 32 for t in traces)

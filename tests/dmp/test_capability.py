"""The CapabilityStatement lists exactly what works, in JSON and XML (issue #4 item 1)."""

from __future__ import annotations

import httpx
import pytest

from services.dmp.audit.routes import AUDIT_PARAMS
from services.dmp.documents.search import DOCUMENT_PARAMS, LIST_PARAMS
from tests.support import Sandbox

pytestmark = pytest.mark.db


def test_the_capability_statement_lists_the_searches_the_code_implements(sb: Sandbox) -> None:
    answer = sb.client("dmp").get("/fhir/metadata")
    assert answer.status_code == 200
    statement = answer.json()
    assert statement["fhirVersion"] == "4.0.1"
    assert statement["format"] == ["application/fhir+json", "application/fhir+xml"]
    assert "application/json-patch+json" in statement["patchFormat"]
    resources = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert set(resources) == {"DocumentReference", "List", "Binary", "Patient", "AuditEvent"}

    def names(kind: str) -> set[str]:
        return {p["name"] for p in resources[kind].get("searchParam", [])}

    assert names("DocumentReference") == DOCUMENT_PARAMS
    assert names("List") == LIST_PARAMS
    assert names("AuditEvent") == AUDIT_PARAMS
    assert statement["rest"][0]["interaction"] == [
        {"code": "transaction", "documentation": "ITI-65 Provide Document Bundle"}
    ]
    # Every interaction listed has a route answering it (not a 404/405 "no such endpoint").
    paths = sb.client("dmp").get("/openapi.json").json()["paths"]
    assert {
        "/fhir",
        "/fhir/DocumentReference",
        "/fhir/DocumentReference/{document_id}",
        "/fhir/DocumentReference/_search",
        "/fhir/List",
        "/fhir/List/_search",
        "/fhir/Binary/{binary_id}",
        "/fhir/Patient",
        "/fhir/Patient/{patient_id}",
        "/fhir/AuditEvent",
    } <= set(paths)
    assert "patch" in paths["/fhir/DocumentReference"] and "patch" in paths["/fhir/Patient/{patient_id}"]


@pytest.mark.parametrize(
    ("params", "headers", "media"),
    [
        ({"_format": "xml"}, {}, "application/fhir+xml"),
        ({"_format": "application/fhir+xml"}, {}, "application/fhir+xml"),
        ({}, {"Accept": "application/fhir+xml"}, "application/fhir+xml"),
        ({"_format": "json"}, {"Accept": "application/fhir+xml"}, "application/fhir+json"),
        ({}, {}, "application/fhir+json"),
    ],
)
def test_formats(sb: Sandbox, params: dict[str, str], headers: dict[str, str], media: str) -> None:
    answer = sb.client("dmp").get("/fhir/metadata", params=params, headers=headers)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith(media)


def test_errors_are_operation_outcomes_in_the_format_asked(sb: Sandbox) -> None:
    dmp: httpx.Client = sb.client("dmp")
    answer = dmp.get("/fhir/DocumentReference", params={"_format": "xml"})
    assert answer.status_code == 401
    assert answer.headers["content-type"].startswith("application/fhir+xml")
    assert b"<OperationOutcome" in answer.content
    unknown = dmp.get("/fhir/Observation")
    assert unknown.status_code == 404 and unknown.json()["resourceType"] == "OperationOutcome"
    assert dmp.get("/fhir/metadata", params={"_format": "yaml"}).status_code == 406

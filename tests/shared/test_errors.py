"""One error hierarchy rendered in the three protocol formats, chosen by path."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from fastapi import FastAPI, Form
from fastapi.testclient import TestClient
from pydantic import BaseModel

from shared.errors import (
    BadRequestError,
    ForbiddenError,
    InvalidClientError,
    InvalidTokenError,
    Issue,
    OAuthError,
)
from shared.faults import FaultBook
from shared.observability.exchanges import ExchangeLog
from shared.web.errors import ErrorFormat, ErrorFormats, install_error_handlers
from shared.web.middleware import SandboxMiddleware


class Body(BaseModel):
    size: int


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app, ErrorFormats((("/fhir", ErrorFormat.FHIR), ("/oauth", ErrorFormat.OAUTH))))
    app.add_middleware(
        SandboxMiddleware, service="t", exchanges=ExchangeLog("t"), faults=FaultBook(), body_limit=1000
    )

    @app.get("/fhir/bad")
    def fhir_bad() -> None:
        raise BadRequestError(
            "two problems",
            issues=[
                Issue("hash does not match", code="invalid", expression=["Bundle.entry[1].resource"]),
                Issue(
                    "unknown code",
                    code="code-invalid",
                    severity="error",
                    details_code="InvalidClassCode",
                    details_system="urn:ihe:iti:xds:2017:mhd",
                ),
            ],
        )

    @app.get("/fhir/forbidden")
    def fhir_forbidden() -> None:
        raise ForbiddenError("not yours", expression=["DocumentReference"])

    @app.post("/fhir/typed")
    def fhir_typed(body: Body) -> dict[str, int]:
        return {"size": body.size}

    @app.post("/oauth/token")
    def token(grant_type: str = Form(...)) -> None:
        if grant_type == "client":
            raise InvalidClientError("wrong secret")
        raise OAuthError("invalid_grant", "the code was used already")

    @app.get("/oauth/generic")
    def generic() -> None:
        raise ForbiddenError("no")

    @app.get("/api/token")
    def api() -> None:
        raise InvalidTokenError("expired")

    @app.get("/api/crash")
    def crash() -> None:
        raise RuntimeError("a bug")

    @app.post("/api/typed")
    def typed(body: Body) -> dict[str, int]:
        return {"size": body.size}

    return app


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(_app(), raise_server_exceptions=False)


def test_fhir_operation_outcome_with_issues_and_expression(client: TestClient) -> None:
    answer = client.get("/fhir/bad")
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/fhir+json; charset=utf-8"
    issues = answer.json()["issue"]
    assert issues[0] == {
        "severity": "error",
        "code": "invalid",
        "diagnostics": "hash does not match",
        "expression": ["Bundle.entry[1].resource"],
    }
    assert issues[1]["details"]["coding"] == [
        {"code": "InvalidClassCode", "system": "urn:ihe:iti:xds:2017:mhd"}
    ]
    forbidden = client.get("/fhir/forbidden").json()
    assert forbidden["issue"][0]["code"] == "forbidden"
    assert forbidden["issue"][0]["expression"] == ["DocumentReference"]


@pytest.mark.parametrize(
    "how", [{"headers": {"Accept": "application/fhir+xml"}}, {"params": {"_format": "xml"}}]
)
def test_fhir_errors_in_xml(client: TestClient, how: dict) -> None:  # type: ignore[type-arg]
    answer = client.get("/fhir/forbidden", **how)
    assert answer.status_code == 403
    assert answer.headers["content-type"].startswith("application/fhir+xml")
    root = ET.fromstring(answer.content)
    assert root.tag == "{http://hl7.org/fhir}OperationOutcome"
    assert root.find("{http://hl7.org/fhir}issue/{http://hl7.org/fhir}code").get("value") == "forbidden"


def test_fhir_routing_and_validation_errors(client: TestClient) -> None:
    missing = client.get("/fhir/Nothing")
    assert missing.status_code == 404
    assert missing.json()["issue"][0]["code"] == "not-found"
    wrong_method = client.delete("/fhir/bad")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["issue"][0]["code"] == "not-supported"
    invalid = client.post("/fhir/typed", json={"size": "big"})
    assert invalid.status_code == 400
    assert invalid.json()["issue"][0]["expression"] == ["size"]


def test_oauth_bodies(client: TestClient) -> None:
    grant = client.post("/oauth/token", data={"grant_type": "code"})
    assert (grant.status_code, grant.json()) == (
        400,
        {"error": "invalid_grant", "error_description": "the code was used already"},
    )
    assert grant.headers["cache-control"] == "no-store"
    bad_client = client.post("/oauth/token", data={"grant_type": "client"})
    assert bad_client.status_code == 401
    assert bad_client.json()["error"] == "invalid_client"
    assert bad_client.headers["www-authenticate"].startswith("Basic")
    missing = client.post("/oauth/token", data={})
    assert (missing.status_code, missing.json()["error"]) == (400, "invalid_request")
    # A generic error on an OAuth path still speaks OAuth.
    assert client.get("/oauth/generic").json() == {"error": "access_denied", "error_description": "no"}


def test_json_bodies(client: TestClient) -> None:
    token = client.get("/api/token")
    assert token.status_code == 401
    assert token.json() == {"error": "invalid_token", "detail": "expired"}
    assert token.headers["www-authenticate"] == 'Bearer error="invalid_token", error_description="expired"'
    invalid = client.post("/api/typed", json={})
    assert invalid.status_code == 422
    assert invalid.json()["error"] == "validation_error"
    assert "size" in invalid.json()["detail"]


def test_an_unexpected_exception_is_a_500_in_the_endpoint_format(client: TestClient) -> None:
    answer = client.get("/api/crash")
    assert answer.status_code == 500
    assert answer.json() == {"error": "server_error", "detail": "unexpected error in t: RuntimeError"}

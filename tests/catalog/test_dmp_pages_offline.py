"""The space's pages over the DMP, against a DMP simulated at the edge (httpx.MockTransport):
what exactly is sent to the DMP (contract 3, TD3.3a, AuditEvent search), what the pages show,
and how a refusing or failing DMP is shown."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from services.catalog.app import create_app
from services.catalog.settings import CatalogSettings
from tests.catalog.support import CSRF, PASSWORDS, claims_of

pytestmark = pytest.mark.db

VISIBILITY = (
    "https://mos.esante.gouv.fr/NOS/TRE_A07-StatutVisibiliteDocument/FHIR/TRE-A07-StatutVisibiliteDocument"
)


def document(doc_id: str, title: str, unique: str, label: dict[str, Any] | None) -> dict[str, Any]:
    normal = {"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "N"}
    return {
        "resourceType": "DocumentReference",
        "id": doc_id,
        "masterIdentifier": {"system": "urn:ietf:rfc:3986", "value": unique},
        "status": "current",
        "type": {"coding": [{"code": "11488-4", "display": "Compte rendu de consultation"}]},
        "date": "2026-10-02T10:00:00+02:00",
        "contained": [
            {"resourceType": "Practitioner", "id": "a1", "name": [{"family": "MARTIN", "given": ["JEANNE"]}]}
        ],
        "author": [{"reference": "#a1"}],
        "securityLabel": [{"coding": [normal]}, *([{"coding": [label]}] if label else [])],
        "content": [{"attachment": {"contentType": "text/plain", "title": title}}],
    }


@dataclass
class FakeDmp:
    """The DMP's side of contract 3 and of the FHIR calls, with a memory and failure modes."""

    requests: list[httpx.Request] = field(default_factory=list)
    blocked: list[str] = field(default_factory=lambda: ["899700446125"])
    authorizations: dict[str, str] = field(default_factory=dict)
    objection: bool = False
    fail: str | None = None
    documents: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {
            "d1": document("d1", "CR consultation", "urn:oid:1.2.250.1.999.1", None),
            "d2": document(
                "d2", "CR cardiologie", "urn:oid:1.2.250.1.999.2", {"system": VISIBILITY, "code": "MASQUE_PS"}
            ),
        }
    )

    def controls(self) -> dict[str, Any]:
        return {
            "ins": "188016912314544",
            "blocked": self.blocked,
            "authorizations": [{"idnat": k, "until": v} for k, v in self.authorizations.items()],
            "medecin_traitant": "899700112545",
            "break_glass_objection": self.objection,
        }

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.fail == "down":
            raise httpx.ConnectError("connection refused", request=request)
        if self.fail == "500":
            return httpx.Response(500, json={"error": "server_error", "detail": "boom"})
        path, method = request.url.path, request.method
        if path.startswith("/api/patient/controls"):
            return self._controls(request, path, method)
        if path == "/fhir/DocumentReference" and method == "GET":
            entries = [{"resource": d} for d in self.documents.values()]
            return httpx.Response(200, json={"resourceType": "Bundle", "type": "searchset", "entry": entries})
        if path == "/fhir/DocumentReference" and method == "PATCH":
            unique = request.url.params["identifier"].split("|", 1)[1]
            doc = next(d for d in self.documents.values() if d["masterIdentifier"]["value"] == unique)
            for op in json.loads(request.content):
                if op["op"] == "add":
                    doc["securityLabel"].append(op["value"])
                else:
                    del doc["securityLabel"][int(op["path"].rsplit("/", 1)[1])]
            return httpx.Response(200, json=doc)
        if path == "/fhir/AuditEvent":
            event = {
                "resourceType": "AuditEvent",
                "type": {"coding": [{"display": "Consultation de documents"}]},
                "recorded": "2026-11-20T09:30:00+01:00",
                "outcome": "0",
                "agent": [{"requestor": True, "who": {"display": "Dr JEANNE MARTIN"}}],
            }
            return httpx.Response(
                200, json={"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": event}]}
            )
        return httpx.Response(404, json={"error": "not_found", "detail": path})

    def _controls(self, request: httpx.Request, path: str, method: str) -> httpx.Response:
        if self.fail == "403":
            return httpx.Response(403, json={"error": "forbidden", "detail": "the token lacks dmp.manage"})
        tail = path.removeprefix("/api/patient/controls").strip("/")
        kind, _, idnat = tail.partition("/")
        if idnat and not idnat.startswith("8"):
            return httpx.Response(404, json={"error": "not_found", "detail": f"no professional {idnat}"})
        if kind == "blocked":
            if method == "PUT":
                self.blocked.append(idnat)
            else:
                self.blocked.remove(idnat)
        elif kind == "authorizations":
            if method == "PUT":
                self.authorizations[idnat] = json.loads(request.content)["until"]
            else:
                self.authorizations.pop(idnat)
        elif kind == "break-glass-objection":
            self.objection = json.loads(request.content)["objection"]
        return httpx.Response(200, json=self.controls())


@pytest.fixture(scope="module")
def app_and_dmp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, FakeDmp]]:
    fake = FakeDmp()
    data: Path = tmp_path_factory.mktemp("catalog-offline")
    settings = CatalogSettings(data_dir=data, catalog_url="http://testserver", dmp_url="http://dmp.test")
    with TestClient(
        create_app(settings, peer_transport=httpx.MockTransport(fake)), follow_redirects=False
    ) as client:
        yield client, fake


@pytest.fixture
def signed(app_and_dmp: tuple[TestClient, FakeDmp]) -> tuple[TestClient, FakeDmp]:
    """Gabriel signed in, on a fresh seed and a fresh fake DMP."""
    client, fake = app_and_dmp
    client.cookies.clear()
    assert client.post("/_sandbox/reset").status_code == 200
    fresh = FakeDmp()
    fake.__dict__.update(fresh.__dict__)
    ins, password = PASSWORDS["gabriel-fontaine"]
    client.post("/espace/connexion", data={"identifiant": ins, "mot_de_passe": password})
    code = client.get("/_sandbox/one-time-codes", params={"patient": "gabriel-fontaine"}).json()["codes"][0][
        "code"
    ]
    assert client.post("/espace/connexion/code", data={"code": code}).status_code == 303
    return client, fake


def csrf(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found
    return found.group(1)


def test_the_controls_page_shows_what_the_dmp_says_with_names(signed: tuple[TestClient, FakeDmp]) -> None:
    client, fake = signed
    page = client.get("/espace/dmp")
    assert page.status_code == 200
    assert "Paul RENAUD (Infirmier)" in page.text  # blocked, by idNatPS 899700446125
    assert "Dr Jeanne MARTIN (Médecin)" in page.text
    call = fake.requests[-1]
    assert (call.method, call.url.path) == ("GET", "/api/patient/controls")
    claims = claims_of(call.headers["authorization"].removeprefix("Bearer "))
    assert claims["mes_actor"] == "patient"
    assert claims["patient_ins"] == "188016912314544"
    assert "dmp.manage" in claims["scope"].split()


def test_block_authorize_and_object_from_the_space(signed: tuple[TestClient, FakeDmp]) -> None:
    client, fake = signed
    token = csrf(client.get("/espace/dmp"))
    done = client.post("/espace/dmp/bloquer", data={"idnat": "899700223011", "csrf": token})
    assert done.status_code == 303
    assert fake.requests[-1].method == "PUT"
    assert fake.requests[-1].url.path == "/api/patient/controls/blocked/899700223011"
    page = client.get(done.headers["location"])
    assert "Le professionnel est bloqué" in page.text
    assert "Dr Karim BENALI" in page.text

    client.post(
        "/espace/dmp/autoriser", data={"idnat": "899700557863", "jusqu_au": "2027-01-31", "csrf": token}
    )
    assert json.loads(fake.requests[-1].content) == {"until": "2027-01-31"}
    assert "jusqu'au 31/01/2027" in client.get("/espace/dmp").text
    client.post("/espace/dmp/retirer", data={"idnat": "899700557863", "csrf": token})
    assert fake.requests[-1].method == "DELETE"
    assert fake.authorizations == {}

    client.post("/espace/dmp/bris-de-glace", data={"opposition": "oui", "csrf": token})
    assert json.loads(fake.requests[-1].content) == {"objection": True}
    assert "Vous vous êtes opposé(e)" in client.get("/espace/dmp").text
    client.post("/espace/dmp/debloquer", data={"idnat": "899700446125", "csrf": token})
    assert fake.blocked == ["899700223011"]


def test_a_refusal_of_the_dmp_is_shown_on_the_page(signed: tuple[TestClient, FakeDmp]) -> None:
    client, fake = signed
    token = csrf(client.get("/espace/dmp"))
    refused = client.post("/espace/dmp/bloquer", data={"idnat": "12345", "csrf": token})
    assert refused.status_code == 404
    assert "Le DMP a refusé : no professional 12345" in refused.text
    fake.fail = "403"
    page = client.get("/espace/dmp")
    assert page.status_code == 403
    assert "the token lacks dmp.manage" in page.text


@pytest.mark.parametrize("failure", ["500", "down"])
def test_a_failing_dmp_is_a_502_page_not_a_crash(signed: tuple[TestClient, FakeDmp], failure: str) -> None:
    client, fake = signed
    fake.fail = failure
    page = client.get("/espace/dmp")
    assert page.status_code == 502
    assert "Le DMP n&#39;a pas pu répondre" in page.text
    assert client.get("/espace/documents").status_code == 502


def test_hiding_a_document_is_the_td33a_patch(signed: tuple[TestClient, FakeDmp]) -> None:
    client, fake = signed
    page = client.get("/espace/documents")
    assert page.status_code == 200
    assert "CR consultation" in page.text
    assert "JEANNE MARTIN" in page.text
    assert "masqué aux professionnels" in page.text  # d2
    search = fake.requests[-1]
    assert search.url.params["patient.identifier"] == "urn:oid:1.2.250.1.213.1.4.10|188016912314544"
    done = client.post(
        "/espace/documents/visibilite", data={"document": "d1", "masquer": "oui", "csrf": csrf(page)}
    )
    assert done.status_code == 303
    patch = fake.requests[-1]
    assert patch.method == "PATCH"
    assert patch.url.path == "/fhir/DocumentReference"
    assert patch.url.params["identifier"] == "urn:ietf:rfc:3986|urn:oid:1.2.250.1.999.1"
    assert patch.headers["content-type"] == "application/json-patch+json"
    assert json.loads(patch.content) == [
        {
            "op": "add",
            "path": "/securityLabel/-",
            "value": {
                "coding": [
                    {
                        "system": VISIBILITY,
                        "code": "MASQUE_PS",
                        "display": "Masqué aux professionnels de santé",
                    }
                ]
            },
        }
    ]
    shown = client.get(done.headers["location"])
    assert "Le document est masqué aux professionnels" in shown.text
    client.post("/espace/documents/visibilite", data={"document": "d2", "masquer": "non", "csrf": csrf(page)})
    assert json.loads(fake.requests[-1].content) == [{"op": "remove", "path": "/securityLabel/1"}]
    assert [c["code"] for label in fake.documents["d2"]["securityLabel"] for c in label["coding"]] == ["N"]
    unknown = client.post(
        "/espace/documents/visibilite", data={"document": "zz", "masquer": "oui", "csrf": csrf(page)}
    )
    assert unknown.status_code == 404


def test_the_access_traces_page(signed: tuple[TestClient, FakeDmp]) -> None:
    client, fake = signed
    page = client.get("/espace/dmp/traces")
    assert page.status_code == 200
    assert "Dr JEANNE MARTIN" in page.text
    assert "Consultation de documents" in page.text
    assert (
        fake.requests[-1].url.params["patient.identifier"] == "urn:oid:1.2.250.1.213.1.4.10|188016912314544"
    )


def test_forms_need_the_csrf_token_and_the_right(signed: tuple[TestClient, FakeDmp]) -> None:
    client, fake = signed
    before = len(fake.requests)
    refused = client.post("/espace/dmp/bloquer", data={"idnat": "899700223011", "csrf": "forged"})
    assert refused.status_code == 403
    assert len(fake.requests) == before  # nothing reached the DMP
    client.cookies.clear()
    assert client.get("/espace/dmp").status_code == 303
    assert re.search(
        r"/espace/connexion\?next=%2Fespace%2Fdmp", client.get("/espace/dmp").headers["location"]
    )

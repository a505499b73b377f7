"""The ordonnance numérique: from prescription to dispensing, over the real sandbox; the DMP
publication through an httpx.MockTransport in front of the DMP (contract 4's seam)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from services.mss.app import create_app
from services.mss.ordonnance import formats
from services.mss.settings import MssSettings
from tests.mss.helpers import DOMINIQUE, DOMINIQUE_INS, inbox, mss
from tests.support import Sandbox, bearer

pytestmark = pytest.mark.db

UCD = "http://data.esante.gouv.fr/ansm/medicament/UCD"


def prescription(ins: str = DOMINIQUE_INS, requester: str = "899700112545", lines: int = 2) -> dict[str, Any]:
    meds = [("9000001", "AMOXICILLINE 1 g, comprimé", 2), ("9000002", "PARACETAMOL 500 mg, gélule", 1)]
    entries = []
    for i, (code, display, boxes) in enumerate(meds[:lines], start=1):
        entries.append(
            {
                "resource": {
                    "resourceType": "MedicationRequest",
                    "id": f"mr-{i}",
                    "status": "active",
                    "intent": "order",
                    "groupIdentifier": {"system": "urn:oid:1.2.250.1.999.9.1", "value": "presc-0001"},
                    "subject": {"identifier": {"system": "urn:oid:1.2.250.1.213.1.4.10", "value": ins}},
                    "requester": {"identifier": {"system": "urn:oid:1.2.250.1.71.4.2.1", "value": requester}},
                    "medicationCodeableConcept": {
                        "coding": [{"system": UCD, "code": code, "display": display}]
                    },
                    "dosageInstruction": [{"text": "1 matin et soir pendant 6 jours"}],
                    "dispenseRequest": {"quantity": {"value": boxes, "unit": "boîte"}},
                }
            }
        )
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def issue(sb: Sandbox, token: str, **params: Any) -> dict[str, Any]:
    answer = mss(sb).post("/api/ordonnances", json=prescription(), params=params, headers=bearer(token))
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_number_format_key_and_qr_payload() -> None:
    import datetime as dt

    number = formats.new_number(dt.date(2026, 11, 23), draw=482915)
    assert number == f"ON-261123-482915-{97 - 261123482915 % 97:02d}"
    assert formats.normalise(number.lower().replace("-", " ")) == number
    with pytest.raises(formats.NumberError):
        formats.normalise(number[:-2] + f"{(int(number[-2:]) + 1) % 100:02d}")
    swapped = "ON-261123-489215-" + number[-2:]
    with pytest.raises(formats.NumberError):
        formats.normalise(swapped)
    payload = formats.qr_payload(number, "899700112545", dt.date(2026, 11, 23))
    assert payload == f"MESON1|{number}|899700112545|20261123"
    assert formats.number_from_payload(payload) == number


def test_prescription_to_dispensing(sb: Sandbox) -> None:
    jeanne = sb.psc_token("jeanne-martin")
    made = issue(sb, jeanne, send_to_patient="true")
    number = made["number"]
    assert formats.normalise(number) == number and made["status"] == "active"
    assert [line["remaining"] for line in made["lines"]] == [2, 1]
    # QR (PNG, SVG) and the printable PDF.
    png = mss(sb).get(f"/api/ordonnances/{number}/qr.png", headers=bearer(jeanne))
    assert png.content.startswith(b"\x89PNG")
    svg = mss(sb).get(f"/api/ordonnances/{number}/qr.svg", headers=bearer(jeanne))
    assert b"<svg" in svg.content and svg.headers["content-type"] == "image/svg+xml"
    pdf = mss(sb).get(f"/api/ordonnances/{number}/pdf", headers=bearer(jeanne))
    assert pdf.content.startswith(b"%PDF")
    # The patient has it in her mailbox, with the PDF and the QR code.
    patient = sb.mes_token("dominique-pat-trois")
    mail = inbox(sb, patient, DOMINIQUE)[0]
    assert number in mail["subject"]
    assert [a["content_type"] for a in mail["attachments"]] == ["application/pdf", "image/png"]
    assert mss(sb).get(f"/api/ordonnances/{number}", headers=bearer(patient)).status_code == 200
    # The pharmacist scans the QR payload, dispenses line 1 partly, then the rest by substitution.
    elise = sb.psc_token("elise-roux", client_id="lgo-officine")
    seen = mss(sb).get(f"/api/ordonnances/{made['qr_payload']}", headers=bearer(elise))
    assert seen.status_code == 200 and seen.json()["number"] == number
    step = mss(sb).post(
        f"/api/ordonnances/{number}/dispensations",
        headers=bearer(elise),
        json={"lines": [{"line": 1, "kind": "partial", "quantity": 1}]},
    )
    assert step.status_code == 201 and step.json()["status"] == "partially-dispensed"
    rest = mss(sb).post(
        f"/api/ordonnances/{number}/dispensations",
        headers=bearer(elise),
        json={
            "lines": [
                {
                    "line": 1,
                    "kind": "substitution",
                    "substitute": {"code": "9000011", "display": "AMOXICILLINE GÉNÉRIQUE"},
                },
                {"line": 2, "kind": "full"},
            ]
        },
    )
    assert rest.status_code == 201 and rest.json()["status"] == "dispensed"
    assert [d["kind"] for d in rest.json()["dispensations"]] == ["partial", "substitution", "full"]
    again = mss(sb).post(
        f"/api/ordonnances/{number}/dispensations",
        headers=bearer(elise),
        json={"lines": [{"line": 2, "kind": "full"}]},
    )
    assert again.status_code == 409 and again.json()["error"] == "already_dispensed"
    # The prescriber sees the dispensing... and cannot cancel what was dispensed.
    mine = mss(sb).get(f"/api/ordonnances/{number}", headers=bearer(jeanne)).json()
    assert mine["dispensing_visible"] is True and len(mine["dispensations"]) == 3
    assert mss(sb).post(f"/api/ordonnances/{number}/cancel", headers=bearer(jeanne)).status_code == 409


def test_the_prescriber_does_not_see_dispensing_when_the_patient_objects(sb: Sandbox) -> None:
    patient = sb.mes_token("dominique-pat-trois")
    assert (
        mss(sb)
        .put("/api/patient/ordonnances/objection", json={"objection": True}, headers=bearer(patient))
        .status_code
        == 200
    )
    jeanne = sb.psc_token("jeanne-martin")
    number = issue(sb, jeanne)["number"]
    elise = sb.psc_token("elise-roux")
    mss(sb).post(
        f"/api/ordonnances/{number}/dispensations",
        headers=bearer(elise),
        json={"lines": [{"line": 1, "kind": "full"}]},
    )
    mine = mss(sb).get(f"/api/ordonnances/{number}", headers=bearer(jeanne)).json()
    assert (
        mine["dispensing_visible"] is False
        and mine["dispensations"] == []
        and "dispensed" not in mine["lines"][0]
    )
    assert mss(sb).get(f"/api/ordonnances/{number}", headers=bearer(elise)).json()["dispensations"]


def test_cancellation_wrong_profession_and_bad_input(sb: Sandbox) -> None:
    jeanne = sb.psc_token("jeanne-martin")
    number = issue(sb, jeanne)["number"]
    # A nurse neither prescribes nor dispenses; a doctor does not dispense.
    paul = sb.psc_token("paul-renaud")
    assert (
        mss(sb)
        .post("/api/ordonnances", json=prescription(requester="899700446125"), headers=bearer(paul))
        .status_code
        == 403
    )
    for token in (paul, jeanne):
        answer = mss(sb).post(
            f"/api/ordonnances/{number}/dispensations",
            headers=bearer(token),
            json={"lines": [{"line": 1, "kind": "full"}]},
        )
        assert answer.status_code == 403
    # Another doctor cannot cancel it; its prescriber can, once; then nothing is dispensed.
    karim = sb.psc_token("karim-benali")
    assert mss(sb).post(f"/api/ordonnances/{number}/cancel", headers=bearer(karim)).status_code == 403
    cancelled = mss(sb).post(f"/api/ordonnances/{number}/cancel", headers=bearer(jeanne))
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    elise = sb.psc_token("elise-roux")
    late = mss(sb).post(
        f"/api/ordonnances/{number}/dispensations",
        headers=bearer(elise),
        json={"lines": [{"line": 1, "kind": "full"}]},
    )
    assert late.status_code == 409 and late.json()["error"] == "cancelled"
    # A wrong key, someone else's name as requester, an unknown patient, no group.
    assert mss(sb).get(f"/api/ordonnances/{number[:-2]}00", headers=bearer(elise)).status_code in (400, 404)
    assert (
        mss(sb)
        .post("/api/ordonnances", json=prescription(requester="899700223011"), headers=bearer(jeanne))
        .status_code
        == 403
    )
    unknown = mss(sb).post(
        "/api/ordonnances", json=prescription(ins="180017505600103"), headers=bearer(jeanne)
    )
    assert unknown.status_code == 422 and unknown.json()["error"] == "unknown_patient"
    bad = prescription()
    del bad["entry"][0]["resource"]["groupIdentifier"]
    answer = mss(sb).post("/api/ordonnances", json=bad, headers=bearer(jeanne))
    assert answer.status_code == 400 and "groupIdentifier" in answer.json()["detail"]
    assert mss(sb).post("/api/ordonnances", json=prescription()).status_code == 401


@pytest.fixture
def mss_with_fake_dmp(sb: Sandbox, tmp_path: Path) -> Iterator[tuple[TestClient, list[httpx.Request]]]:
    """A second MSSanté whose calls to the DMP hit a fake; PSC and Mon espace santé stay real."""
    seen: list[httpx.Request] = []
    failing: list[bool] = []  # a test appends True to make the DMP answer 503
    real = httpx.Client(timeout=10)

    def route(request: httpx.Request) -> httpx.Response:
        if request.url.host == "dmp.test":
            seen.append(request)
            if failing:
                return httpx.Response(503)
            body = {
                "resourceType": "Bundle",
                "type": "transaction-response",
                "entry": [
                    {"response": {"status": "201 Created", "location": "List/1"}},
                    {"response": {"status": "201 Created", "location": "DocumentReference/doc-1/_history/1"}},
                    {"response": {"status": "201 Created", "location": "Binary/1"}},
                ],
            }
            return httpx.Response(200, json=body)
        forwarded = real.send(
            httpx.Request(request.method, request.url, headers=request.headers, content=request.read())
        )
        return httpx.Response(forwarded.status_code, headers=forwarded.headers, content=forwarded.content)

    settings = MssSettings(
        port=0,
        smtp_port=0,
        imap_port=0,
        data_dir=tmp_path,
        psc_url=sb.url("psc_auth"),
        catalog_url=sb.url("catalog"),
        dmp_url="http://dmp.test",
    )
    with TestClient(create_app(settings, peer_transport=httpx.MockTransport(route))) as client:
        client.failing = failing  # type: ignore[attr-defined]
        yield client, seen
    real.close()


def test_publication_in_the_dmp_relays_the_prescriber_token(
    sb: Sandbox, mss_with_fake_dmp: tuple[TestClient, list[httpx.Request]]
) -> None:
    client, seen = mss_with_fake_dmp
    jeanne = sb.psc_token("jeanne-martin")
    answer = client.post(
        "/api/ordonnances", json=prescription(), params={"publish_to_dmp": "true"}, headers=bearer(jeanne)
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["dmp_document"] == "DocumentReference/doc-1/_history/1"
    request = seen[0]
    assert request.url.path == "/fhir" and request.headers["authorization"] == f"Bearer {jeanne}"
    bundle = json.loads(request.content)
    document = bundle["entry"][1]["resource"]
    assert document["type"]["coding"][0]["code"] == "57833-6"
    assert document["category"][0]["coding"][0]["code"] == "42"
    assert document["subject"]["reference"].endswith(f"|{DOMINIQUE_INS}")
    assert bundle["entry"][2]["resource"]["contentType"] == "application/pdf"


def test_a_dmp_failure_stores_nothing(
    sb: Sandbox, mss_with_fake_dmp: tuple[TestClient, list[httpx.Request]]
) -> None:
    client, seen = mss_with_fake_dmp
    client.failing.append(True)  # type: ignore[attr-defined]
    jeanne = sb.psc_token("jeanne-martin")
    failed = client.post(
        "/api/ordonnances", json=prescription(), params={"publish_to_dmp": "true"}, headers=bearer(jeanne)
    )
    assert failed.status_code == 502 and failed.json()["error"] == "bad_gateway"
    assert len(seen) == 1
    snapshot = client.get("/_sandbox/snapshot").json()
    assert snapshot["tables"]["ordonnances"] == []


def test_publication_in_the_real_dmp_end_to_end(sb: Sandbox) -> None:
    """Contract 4 for real: the DMP accepts the ITI-65 bundle with the prescriber's token."""
    jeanne = sb.psc_token("jeanne-martin")
    made = mss(sb).post(
        "/api/ordonnances", json=prescription(), params={"publish_to_dmp": "true"}, headers=bearer(jeanne)
    )
    assert made.status_code == 201, made.text
    location = made.json()["dmp_document"]
    assert location.startswith("DocumentReference/")
    found = sb.client("dmp").get(
        "/fhir/DocumentReference",
        params={
            "patient.identifier": f"urn:oid:1.2.250.1.213.1.4.10|{DOMINIQUE_INS}",
            "type": "http://loinc.org|57833-6",
        },
        headers=bearer(jeanne),
    )
    assert found.status_code == 200, found.text
    entries = [
        e["resource"]
        for e in found.json().get("entry", [])
        if e["resource"]["resourceType"] == "DocumentReference"
    ]
    assert any(d["category"][0]["coding"][0]["code"] == "42" for d in entries)

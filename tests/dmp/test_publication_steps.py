"""ITI-65 step by step (issue #4): what a publication writes and traces, and what a fault at
each step of its transaction leaves (nothing, and a trace of the failure)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from shared.personas import Personas
from tests.dmp.builders import bundle
from tests.dmp.conftest import pro_headers
from tests.support import Sandbox, bearer

pytestmark = pytest.mark.db


def tables(sb: Sandbox) -> dict[str, list[dict[str, Any]]]:
    snapshot: dict[str, list[dict[str, Any]]] = sb.admin("dmp", "GET", "snapshot").json()["tables"]
    return snapshot


def publications(sb: Sandbox) -> list[dict[str, Any]]:
    return [t for t in tables(sb)["audit_events"] if t["subtype"] == "ITI-65"]


def test_a_publication_writes_its_rows_and_names_them_in_its_trace(
    sb: Sandbox, dmp: httpx.Client, tokens: Callable[..., str], personas: Personas
) -> None:
    jeanne = personas.professional("jeanne-martin")
    request = bundle(personas.patient("dominique-pat-trois"), jeanne)
    answer = dmp.post("/fhir", json=request, headers=pro_headers(tokens("psc", "jeanne-martin")))
    assert answer.status_code == 200, answer.text
    locations = [e["response"]["location"] for e in answer.json()["entry"]]
    list_id = locations[0].split("/")[1]
    doc_id = locations[1].split("/")[1]
    binary_id = locations[2].split("/")[1]
    snapshot = tables(sb)
    document = next(d for d in snapshot["documents"] if d["id"] == doc_id)
    assert document["binary_id"] == binary_id and document["submission_set_id"] == list_id
    assert document["submitter"] == jeanne.idnat and document["latest"] and document["version"] == 1
    assert document["resource"]["subject"] == {
        "reference": "Patient?identifier=urn:oid:1.2.250.1.213.1.4.10|279035121518989"
    }
    assert "data" not in document["resource"]["content"][0]["attachment"]
    binary = next(b for b in snapshot["binaries"] if b["id"] == binary_id)
    attachment = request["entry"][1]["resource"]["content"][0]["attachment"]
    assert binary["sha1"] == attachment["hash"] and binary["size"] == attachment["size"]
    listed = next(row for row in snapshot["lists"] if row["id"] == list_id)
    assert listed["members"] == [document["logical_id"]] and listed["kind"] == "submissionset"
    [trace] = publications(sb)
    assert trace["outcome"] == "0" and trace["action"] == "C"
    assert trace["outcome_desc"] == "alimentation (information du patient)"
    assert trace["agent_id"] == jeanne.idnat and trace["patient_ins"] == "279035121518989"
    assert trace["entities"] == [{"type": "DocumentReference", "id": doc_id}, {"type": "List", "id": list_id}]


@pytest.mark.parametrize(
    ("step", "named"),
    [("Binary", []), ("DocumentReference", []), ("List", ["DocumentReference"])],
)
def test_a_fault_at_any_step_leaves_nothing_and_is_traced(
    sb: Sandbox,
    dmp: httpx.Client,
    tokens: Callable[..., str],
    personas: Personas,
    step: str,
    named: list[str],
) -> None:
    fault = {"method": "DMP:STORE", "path": step, "status": 503, "count": 1}
    assert sb.admin("dmp", "POST", "faults", json=fault).status_code == 201
    before = {name: len(rows) for name, rows in tables(sb).items() if name != "audit_events"}
    request = bundle(personas.patient("dominique-pat-trois"), personas.professional("jeanne-martin"))
    headers = pro_headers(tokens("psc", "jeanne-martin"))
    crashed = dmp.post("/fhir", json=request, headers=headers)
    assert crashed.status_code == 503
    assert crashed.json()["resourceType"] == "OperationOutcome"
    assert {name: len(rows) for name, rows in tables(sb).items() if name != "audit_events"} == before
    [trace] = publications(sb)
    assert trace["outcome"] == "8" and trace["outcome_desc"].startswith("503 ")
    assert [entity["type"] for entity in trace["entities"]] == named
    # The fault was counted once: the same bundle then goes through.
    assert dmp.post("/fhir", json=request, headers=headers).status_code == 200


def test_the_patient_may_be_named_by_the_dmps_patient_id(
    sb: Sandbox, dmp: httpx.Client, tokens: Callable[..., str], personas: Personas
) -> None:
    token = tokens("psc", "jeanne-martin")
    found = dmp.get(
        "/fhir/Patient",
        params={"identifier": "urn:oid:1.2.250.1.213.1.4.10|279035121518989"},
        headers=bearer(token),
    ).json()
    patient_id = found["entry"][0]["resource"]["id"]
    request = bundle(personas.patient("dominique-pat-trois"), personas.professional("jeanne-martin"))
    for entry in request["entry"]:
        if "subject" in entry["resource"]:
            entry["resource"]["subject"] = {"reference": f"Patient/{patient_id}"}
    answer = dmp.post("/fhir", json=request, headers=pro_headers(token))
    assert answer.status_code == 200, answer.text
    doc_id = answer.json()["entry"][1]["response"]["location"].split("/")[1]
    document = next(d for d in tables(sb)["documents"] if d["id"] == doc_id)
    assert document["dossier_id"] == patient_id
    assert [t["dossier_id"] for t in publications(sb)] == [patient_id]
    unknown = dmp.post(
        "/fhir",
        json={
            **request,
            "entry": [
                {**e, "resource": {**e["resource"], "subject": {"reference": "Patient/no-such-dmp"}}}
                if "subject" in e["resource"]
                else e
                for e in request["entry"]
            ],
        },
        headers=pro_headers(token),
    )
    assert unknown.status_code == 404


def test_each_document_of_a_bundle_is_checked_against_the_dmp(
    sb: Sandbox, dmp: httpx.Client, tokens: Callable[..., str], personas: Personas
) -> None:
    dominique, jeanne = personas.patient("dominique-pat-trois"), personas.professional("jeanne-martin")
    headers = pro_headers(tokens("psc", "jeanne-martin"))
    first = bundle(dominique, jeanne)
    assert dmp.post("/fhir", json=first, headers=headers).status_code == 200
    taken = first["entry"][1]["resource"]["masterIdentifier"]["value"]
    before = {name: len(rows) for name, rows in tables(sb).items() if name != "audit_events"}
    second = bundle(dominique, jeanne, documents=2)
    assert second["entry"][3]["resource"]["resourceType"] == "DocumentReference"
    second["entry"][3]["resource"]["masterIdentifier"]["value"] = taken
    refused = dmp.post("/fhir", json=second, headers=headers)
    assert refused.status_code == 422
    [issue] = refused.json()["issue"]
    assert issue["details"]["coding"][0]["code"] == "XDSDuplicateUniqueIdInRegistry"
    assert issue["expression"] == ["Bundle.entry[3].resource.masterIdentifier"]
    assert {name: len(rows) for name, rows in tables(sb).items() if name != "audit_events"} == before
    assert sorted(t["outcome"] for t in publications(sb)) == ["0", "4"]

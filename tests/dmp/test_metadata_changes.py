"""Changing metadata (issue #4 item 5): conditional PATCH, JSON Patch and FHIRPath Patch,
the whitelist (405), versions (entryUUID changes, identifier stays, ETag, If-Match),
masking, invisibility, archiving, deletion in both readings, replacement by the author only."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from shared.personas import Personas
from tests.dmp.builders import TRE_A07, bundle
from tests.dmp.conftest import pro_headers
from tests.support import Sandbox, bearer

pytestmark = pytest.mark.db

DOMINIQUE = "urn:oid:1.2.250.1.213.1.4.10|279035121518989"
CONSULT_UID = "urn:ietf:rfc:3986|urn:oid:1.2.250.1.999.9.1.1"  # seeded, by Jeanne Martin
CARDIO_UID = "urn:ietf:rfc:3986|urn:oid:1.2.250.1.999.9.1.2"  # seeded, by Karim Benali, MASQUE_PS
ARCHIVED = "https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/pdsm-ext-is-archived"
DELETED = "https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/pdsm-ext-is-deleted"
JSON_PATCH = "application/json-patch+json"


def json_patch(
    client: httpx.Client | TestClient,
    token: str,
    operations: list[dict[str, Any]],
    identifier: str = CONSULT_UID,
    **headers: str,
) -> httpx.Response:
    return client.patch(
        "/fhir/DocumentReference",
        params={"identifier": identifier},
        content=json.dumps(operations),
        headers={**bearer(token), "Content-Type": JSON_PATCH, **headers},
    )


def fhirpath_patch(
    client: httpx.Client | TestClient,
    token: str,
    *operations: list[dict[str, Any]],
    identifier: str = CONSULT_UID,
) -> httpx.Response:
    parameters = {
        "resourceType": "Parameters",
        "parameter": [{"name": "operation", "part": parts} for parts in operations],
    }
    return client.patch(
        "/fhir/DocumentReference",
        params={"identifier": identifier},
        json=parameters,
        headers={**bearer(token), "Content-Type": "application/fhir+json"},
    )


def mask(code: str = "MASQUE_PS") -> dict[str, Any]:
    return {"op": "add", "path": "/securityLabel/-", "value": {"coding": [{"system": TRE_A07, "code": code}]}}


def titles(client: httpx.Client | TestClient, token: str, **params: str) -> list[str]:
    answer = client.get(
        "/fhir/DocumentReference",
        params={"patient.identifier": DOMINIQUE, "status": "current", **params},
        headers=bearer(token),
    )
    assert answer.status_code == 200, answer.text
    return [
        e["resource"]["content"][0]["attachment"]["title"]
        for e in answer.json().get("entry", [])
        if e["resource"]["resourceType"] == "DocumentReference"
    ]


CONSULT = "Compte rendu de consultation"


def test_the_patient_masks_a_document_from_professionals(
    dmp: httpx.Client, tokens: Callable[..., str]
) -> None:
    karim = tokens("psc", "karim-benali")  # care team: he published in this DMP
    assert CONSULT in titles(dmp, karim)
    before = dmp.get(
        "/fhir/DocumentReference",
        params={"identifier": CONSULT_UID, "patient.identifier": DOMINIQUE, "status": "current"},
        headers=bearer(karim),
    ).json()
    first = before["entry"][0]["resource"]
    masked = json_patch(dmp, tokens("mes", "dominique-pat-trois"), [mask()])
    assert masked.status_code == 200, masked.text
    doc = masked.json()
    # A new version: a new entryUUID and versionId, the same identifier (logicalId), an ETag.
    assert doc["id"] != first["id"] and doc["meta"]["versionId"] == "2"
    assert doc["identifier"] == first["identifier"] and doc["masterIdentifier"] == first["masterIdentifier"]
    assert masked.headers["etag"] == 'W/"2"'
    assert CONSULT not in titles(dmp, karim)
    assert CONSULT in titles(dmp, tokens("psc", "jeanne-martin"))  # médecin traitant and author
    assert CONSULT in titles(dmp, tokens("mes", "dominique-pat-trois"))
    # Unmasking: remove the label again (version 3).
    labels = doc["securityLabel"]
    index = next(i for i, label in enumerate(labels) if label["coding"][0]["code"] == "MASQUE_PS")
    shown = json_patch(
        dmp, tokens("mes", "dominique-pat-trois"), [{"op": "remove", "path": f"/securityLabel/{index}"}]
    )
    assert shown.status_code == 200 and shown.json()["meta"]["versionId"] == "3"
    assert CONSULT in titles(dmp, karim)


def test_fhirpath_patch_as_in_pdsm(dmp: httpx.Client, tokens: Callable[..., str]) -> None:
    token = tokens("psc", "jeanne-martin")
    answer = fhirpath_patch(
        dmp,
        token,
        [
            {"name": "type", "valueCode": "replace"},
            {
                "name": "path",
                "valueString": "DocumentReference.securityLabel.coding.where(system='http://terminology."
                "hl7.org/CodeSystem/v3-Confidentiality').code",
            },
            {"name": "value", "valueCode": "R"},
        ],
        [
            {"name": "type", "valueCode": "add"},
            {"name": "path", "valueString": "DocumentReference"},
            {"name": "name", "valueString": "extension"},
            {
                "name": "value",
                "part": [
                    {"name": "url", "valueUri": ARCHIVED},
                    {"name": "valueBoolean", "valueBoolean": True},
                ],
            },
        ],
    )
    assert answer.status_code == 200, answer.text
    doc = answer.json()
    assert doc["securityLabel"][0]["coding"][0]["code"] == "R"
    assert doc["extension"] == [{"url": ARCHIVED, "valueBoolean": True}]
    assert CONSULT in titles(dmp, token, isArchived="true")
    assert CONSULT not in titles(dmp, token, isArchived="false")


@pytest.mark.parametrize(
    ("operations", "element"),
    [
        ([{"op": "replace", "path": "/type/coding/0/code", "value": "34133-9"}], "DocumentReference.type"),
        ([{"op": "add", "path": "/description", "value": "x"}], "DocumentReference.description"),
        ([{"op": "replace", "path": "/meta/versionId", "value": "9"}], "DocumentReference.meta"),
        (
            [
                {
                    "op": "add",
                    "path": "/extension",
                    "value": [{"url": "http://example.org/x", "valueString": "y"}],
                }
            ],
            "DocumentReference.extension",
        ),
        (
            [{"op": "replace", "path": "/identifier/0/value", "value": "urn:uuid:x"}],
            "DocumentReference.identifier",
        ),
    ],
)
def test_anything_outside_the_whitelist_is_a_405(
    dmp: httpx.Client, tokens: Callable[..., str], operations: list[dict[str, Any]], element: str
) -> None:
    answer = json_patch(dmp, tokens("psc", "jeanne-martin"), operations)
    assert answer.status_code == 405, answer.text
    assert element in answer.json()["issue"][0]["expression"]


def test_fhirpath_patch_outside_the_whitelist_is_a_405(dmp: httpx.Client, tokens: Callable[..., str]) -> None:
    answer = fhirpath_patch(
        dmp,
        tokens("psc", "jeanne-martin"),
        [
            {"name": "type", "valueCode": "replace"},
            {"name": "path", "valueString": "DocumentReference.type.coding.code"},
            {"name": "value", "valueCode": "34133-9"},
        ],
    )
    assert answer.status_code == 405


def test_if_match_and_the_conditional_target(dmp: httpx.Client, tokens: Callable[..., str]) -> None:
    token = tokens("psc", "jeanne-martin")
    stale = json_patch(dmp, token, [mask()], **{"If-Match": 'W/"7"'})
    assert stale.status_code == 412
    fresh = json_patch(dmp, token, [mask()], **{"If-Match": 'W/"1"'})
    assert fresh.status_code == 200
    assert json_patch(dmp, token, [mask()], identifier="urn:ietf:rfc:3986|urn:oid:9.9.9").status_code == 404
    old = dmp.patch(
        f"/fhir/DocumentReference/{fresh.json()['id']}",
        content="[]",
        headers={**bearer(token), "Content-Type": JSON_PATCH},
    )
    assert old.status_code == 200  # the current version by entryUUID
    xml_patch = dmp.patch(
        "/fhir/DocumentReference",
        params={"identifier": CONSULT_UID},
        content=b"<diff/>",
        headers={**bearer(token), "Content-Type": "application/xml-patch+xml"},
    )
    assert xml_patch.status_code == 415


def test_a_conditional_patch_matching_several_documents_is_a_412(
    dmp: httpx.Client, tokens: Callable[..., str], personas: Personas
) -> None:
    # The identifier parameter names a uniqueId or a logicalId (urn:uuid:...): a document
    # whose uniqueId is another one's logicalId makes the condition ambiguous (FHIR R4
    # §http.html#cond-patch: "Multiple matches: The server returns a 412").
    token = tokens("psc", "jeanne-martin")
    consult = json_patch(dmp, token, []).json()
    logical = consult["identifier"][0]["value"]
    assert logical.startswith("urn:uuid:")
    twin = bundle(
        personas.patient("dominique-pat-trois"), personas.professional("jeanne-martin"), unique_id=logical
    )
    assert dmp.post("/fhir", json=twin, headers=pro_headers(token)).status_code == 200
    ambiguous = json_patch(dmp, token, [mask()], identifier=f"urn:ietf:rfc:3986|{logical}")
    assert ambiguous.status_code == 412
    issue = ambiguous.json()["issue"][0]
    assert issue["expression"] == ["identifier"] and "2 documents" in issue["diagnostics"]
    # Nothing changed: the consultation is still at the version it was.
    after = dmp.get(f"/fhir/DocumentReference/{consult['id']}", headers=bearer(token))
    assert after.status_code == 200 and after.json()["meta"]["versionId"] == consult["meta"]["versionId"]
    assert "MASQUE_PS" not in json.dumps(after.json().get("securityLabel", []))


def test_a_former_entry_uuid_is_a_conflict(dmp: httpx.Client, tokens: Callable[..., str]) -> None:
    token = tokens("psc", "jeanne-martin")
    first = json_patch(dmp, token, [mask()]).json()
    json_patch(dmp, token, [mask("INVISIBLE_PATIENT")])
    again = dmp.patch(
        f"/fhir/DocumentReference/{first['id']}",
        content=json.dumps([mask()]),
        headers={**bearer(token), "Content-Type": JSON_PATCH},
    )
    assert again.status_code == 409


def test_invisibility_to_the_patient_is_set_by_professionals(
    dmp: httpx.Client, tokens: Callable[..., str]
) -> None:
    patient = tokens("mes", "dominique-pat-trois")
    refused = json_patch(dmp, patient, [mask("INVISIBLE_PATIENT")])
    assert refused.status_code == 403
    done = json_patch(dmp, tokens("psc", "jeanne-martin"), [mask("INVISIBLE_PATIENT")])
    assert done.status_code == 200
    assert CONSULT not in titles(dmp, patient)
    # Hidden from the patient: for them, it does not exist (404), whatever they try.
    assert json_patch(dmp, patient, [mask()]).status_code == 404


def test_an_app_and_a_caregiver_cannot_change_metadata(dmp: httpx.Client, tokens: Callable[..., str]) -> None:
    caregiver = tokens("mes", "henri-leclerc", actor="aidant", person="claire-leclerc")
    henri_doc = "urn:ietf:rfc:3986|urn:oid:1.2.250.1.999.9.1.9"
    assert json_patch(dmp, caregiver, [mask()], identifier=henri_doc).status_code == 403
    read_only = tokens("mes", "henri-leclerc", scope="documents.read")
    assert json_patch(dmp, read_only, [mask()], identifier=henri_doc).status_code == 403


def _delete(client: httpx.Client | TestClient, token: str, identifier: str = CONSULT_UID) -> httpx.Response:
    return json_patch(
        client,
        token,
        [{"op": "replace", "path": "/status", "value": "entered-in-error"}],
        identifier=identifier,
    )


def test_only_the_author_deletes_and_deletion_is_definitive(
    dmp: httpx.Client, tokens: Callable[..., str]
) -> None:
    assert _delete(dmp, tokens("psc", "karim-benali")).status_code == 403  # sees it, is not its author
    assert _delete(dmp, tokens("mes", "dominique-pat-trois")).status_code == 403
    jeanne = tokens("psc", "jeanne-martin")
    url = dmp.get(
        "/fhir/DocumentReference",
        params={"identifier": CONSULT_UID, "patient.identifier": DOMINIQUE, "status": "current"},
        headers=bearer(jeanne),
    ).json()["entry"][0]["resource"]["content"][0]["attachment"]["url"]
    deleted = _delete(dmp, jeanne)
    assert deleted.status_code == 200 and deleted.json()["status"] == "entered-in-error"
    assert CONSULT not in titles(dmp, jeanne)
    assert titles(dmp, jeanne, status="entered-in-error") == []
    assert dmp.get(url, headers=bearer(jeanne)).status_code == 410
    assert _delete(dmp, jeanne).status_code == 404  # no state change from a deleted document
    superseded = json_patch(
        dmp, jeanne, [{"op": "replace", "path": "/status", "value": "superseded"}], identifier=CARDIO_UID
    )
    assert superseded.status_code == 422  # this DMP deletes with entered-in-error


def test_a_colleague_of_the_authors_structure_may_delete(
    dmp: httpx.Client, tokens: Callable[..., str], personas: Personas
) -> None:
    # Anne (hôpital générique) publishes; Kit, of the same structure, deletes.
    example = bundle(personas.patient("gabriel-fontaine"), personas.professional("anne-doc0021889"))
    published = dmp.post("/fhir", json=example, headers=pro_headers(tokens("psc", "anne-doc0021889")))
    assert published.status_code == 200
    uid = example["entry"][1]["resource"]["masterIdentifier"]["value"]
    kit = tokens(
        "psc",
        "kit-doc0042788",
    )
    assert personas.organisation("hopital-generique").technical_id  # Kit's first structure is his cabinet:
    answer = _delete(dmp, kit, identifier=f"urn:ietf:rfc:3986|{uid}")
    assert answer.status_code == 404  # Kit is not in Gabriel's care team: he cannot see it
    assert (
        _delete(dmp, tokens("psc", "anne-doc0021889"), identifier=f"urn:ietf:rfc:3986|{uid}").status_code
        == 200
    )


def test_deletion_in_the_superseded_reading(
    dmp_with: Callable[..., TestClient], tokens: Callable[..., str]
) -> None:
    other = dmp_with(deletion_mode="superseded")
    jeanne = tokens("psc", "jeanne-martin")
    refused = _delete(other, jeanne)
    assert refused.status_code == 422 and "superseded" in refused.json()["issue"][0]["diagnostics"]
    answer = json_patch(other, jeanne, [{"op": "replace", "path": "/status", "value": "superseded"}])
    assert answer.status_code == 200, answer.text
    doc = answer.json()
    assert doc["status"] == "superseded"
    assert {"url": DELETED, "valueBoolean": True} in doc["extension"]
    assert CONSULT not in titles(other, jeanne, status="current,superseded")
    assert _delete(other, tokens("psc", "karim-benali"), identifier=CARDIO_UID).status_code == 422


def test_replacement_by_someone_else_is_refused(
    dmp: httpx.Client, tokens: Callable[..., str], personas: Personas
) -> None:
    karim = tokens("psc", "karim-benali")
    consult = dmp.get(
        "/fhir/DocumentReference",
        params={"identifier": CONSULT_UID, "patient.identifier": DOMINIQUE, "status": "current"},
        headers=bearer(karim),
    ).json()
    target = consult["entry"][0]["resource"]["id"]
    replacing = bundle(
        personas.patient("dominique-pat-trois"), personas.professional("karim-benali"), replaces=target
    )
    answer = dmp.post("/fhir", json=replacing, headers=pro_headers(karim))
    assert answer.status_code == 403
    # The author may; the replaced document is superseded, the new one current.
    jeanne = tokens("psc", "jeanne-martin")
    replacing = bundle(
        personas.patient("dominique-pat-trois"),
        personas.professional("jeanne-martin"),
        replaces=target,
        title="Compte rendu corrigé",
    )
    done = dmp.post("/fhir", json=replacing, headers=pro_headers(jeanne))
    assert done.status_code == 200, done.text
    assert [e["response"]["status"] for e in done.json()["entry"]] == [
        "201 Created",
        "200 OK",
        "201 Created",
        "201 Created",
    ]
    assert "Compte rendu corrigé" in titles(dmp, jeanne) and CONSULT not in titles(dmp, jeanne)
    assert titles(dmp, jeanne, status="superseded") == [CONSULT]
    again = dmp.post(
        "/fhir",
        json=bundle(
            personas.patient("dominique-pat-trois"), personas.professional("jeanne-martin"), replaces=target
        ),
        headers=pro_headers(jeanne),
    )
    assert again.status_code == 422  # already superseded
    assert again.json()["issue"][0]["details"]["coding"][0]["code"] == "XDSRegistryDeprecatedDocumentError"


def test_a_replacement_needs_its_patch_entry(
    dmp: httpx.Client, tokens: Callable[..., str], personas: Personas
) -> None:
    jeanne = tokens("psc", "jeanne-martin")
    replacing = bundle(
        personas.patient("dominique-pat-trois"), personas.professional("jeanne-martin"), replaces="some-id"
    )
    del replacing["entry"][1]  # the UpdateDocumentRefs PATCH
    answer = dmp.post("/fhir", json=replacing, headers=pro_headers(jeanne))
    assert answer.status_code == 400
    assert "UpdateDocumentRefs" in answer.json()["issue"][0]["diagnostics"]


def test_a_fhirpath_patch_in_xml(dmp: httpx.Client, tokens: Callable[..., str]) -> None:
    xml = (
        '<Parameters xmlns="http://hl7.org/fhir"><parameter><name value="operation"/>'
        '<part><name value="type"/><valueCode value="add"/></part>'
        '<part><name value="path"/><valueString value="DocumentReference"/></part>'
        '<part><name value="name"/><valueString value="securityLabel"/></part>'
        '<part><name value="value"/><valueCodeableConcept><coding>'
        f'<system value="{TRE_A07}"/><code value="MASQUE_PS"/></coding></valueCodeableConcept></part>'
        "</parameter></Parameters>"
    )
    answer = dmp.patch(
        "/fhir/DocumentReference",
        params={"identifier": CONSULT_UID},
        content=xml,
        headers={
            **bearer(tokens("mes", "dominique-pat-trois")),
            "Content-Type": "application/fhir+xml",
            "Accept": "application/fhir+xml",
        },
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/fhir+xml")
    assert b"MASQUE_PS" in answer.content
    assert CONSULT not in titles(dmp, tokens("psc", "karim-benali"))


def test_changes_of_one_version_sent_at_once_make_one_new_version(
    sb: Sandbox, tokens: Callable[..., str]
) -> None:
    """Eight masks of version 1 at once, each with ``If-Match: W/"1"``: one makes version 2,
    every other is answered as if it had come after (412), and the document has one latest
    version. On PostgreSQL the changes read and write at READ COMMITTED and race: the
    database refuses a second latest version (one uniqueId, one latest row) and the loser
    runs again (without the index, several made a version 2; without the second run,
    500s: both checked by hand)."""
    copies = 8
    token = tokens("mes", "dominique-pat-trois")
    start = threading.Barrier(copies)

    def send(_: int) -> httpx.Response:
        with httpx.Client(base_url=sb.url("dmp"), timeout=30.0) as client:
            start.wait()
            return json_patch(client, token, [mask()], **{"If-Match": 'W/"1"'})

    with ThreadPoolExecutor(copies) as pool:
        answers = list(pool.map(send, range(copies)))
    assert sorted(a.status_code for a in answers) == [200] + [412] * (copies - 1), [
        a.text[:300] for a in answers if a.status_code not in (200, 412)
    ]
    rows = sb.admin("dmp", "GET", "snapshot").json()["tables"]["documents"]
    versions = [r for r in rows if r["unique_id"] == CONSULT_UID.split("|", 1)[1]]
    assert sorted(r["version"] for r in versions) == [1, 2]
    assert [r["version"] for r in versions if r["latest"]] == [2]

"""ITI-65 and ITI-105 (issue #4 item 3): the ANS example, persona-built bundles, and every
processing rule (atomic, ordered, references, size/hash, metadata, value sets)."""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from shared.db.steps import CHAINED_ROWS
from shared.personas import Personas
from tests.dmp.builders import bundle, clone, document_reference, example, pdf_bytes, sha1_b64
from tests.dmp.conftest import FHIR_JSON, pro_headers
from tests.support import Sandbox, bearer

pytestmark = pytest.mark.db

EXAMPLE = "pdsm4dmp-iti65-submission-bundle.json"


def stored(sb: Sandbox) -> dict[str, int]:
    """How many documents, binaries and lists the DMP holds (to prove nothing was written)."""
    tables = sb.admin("dmp", "GET", "snapshot").json()["tables"]
    return {name: len(tables[name]) for name in ("documents", "binaries", "lists")}


def test_the_ans_example_bundle_is_accepted_as_it_is(
    sb: Sandbox, dmp: httpx.Client, tokens: Callable[..., str]
) -> None:
    before = stored(sb)
    answer = dmp.post("/fhir", json=example(EXAMPLE), headers=pro_headers(tokens("psc", "anne-doc0021889")))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith(FHIR_JSON)
    body = answer.json()
    expected = example("pdsm-iti65-transaction-response.json")
    assert body["resourceType"] == expected["resourceType"] == "Bundle"
    assert body["type"] == expected["type"] == "transaction-response"
    # One entry per request entry, in the same order: List, DocumentReference, Binary.
    kinds = [entry["response"]["location"].split("/")[0] for entry in body["entry"]]
    assert (
        kinds
        == [e["response"]["location"].split("/")[0] for e in expected["entry"]]
        == ["List", "DocumentReference", "Binary"]
    )
    assert all(entry["response"]["status"].startswith("201") for entry in body["entry"])
    # The unknown codes of extensible value sets are warnings of the entry, not errors.
    doc_outcome = body["entry"][1]["response"]["outcome"]
    warnings = {
        tuple(issue["expression"]) for issue in doc_outcome["issue"] if issue["severity"] == "warning"
    }
    assert ("Bundle.entry[1].resource.context.facilityType",) in warnings
    assert ("Bundle.entry[1].resource.custodian",) in warnings
    after = stored(sb)
    assert after == {k: before[k] + 1 for k in before}


def test_a_persona_bundle_with_two_documents_answers_in_request_order(
    dmp: httpx.Client, tokens: Callable[..., str], personas: Personas
) -> None:
    request = bundle(
        personas.patient("dominique-pat-trois"), personas.professional("jeanne-martin"), documents=2
    )
    answer = dmp.post("/fhir", json=request, headers=pro_headers(tokens("psc", "jeanne-martin")))
    assert answer.status_code == 200, answer.text
    entries = answer.json()["entry"]
    assert len(entries) == len(request["entry"]) == 5
    assert [e["response"]["location"].split("/")[0] for e in entries] == [
        "List",
        "DocumentReference",
        "Binary",
        "DocumentReference",
        "Binary",
    ]
    # No warning when every code is one the DMP knows.
    assert all("outcome" not in e["response"] for e in entries)
    assert entries[1]["response"]["etag"] == 'W/"1"'


def test_iti105_publishes_one_document_inline(
    sb: Sandbox, dmp: httpx.Client, tokens: Callable[..., str], personas: Personas
) -> None:
    content = pdf_bytes(3000, "iti-105")
    doc = document_reference(
        personas.patient("henri-leclerc"), personas.professional("karim-benali"), content, inline=True
    )
    del doc["content"][0]["attachment"]["size"], doc["content"][0]["attachment"]["hash"]
    answer = dmp.post("/fhir/DocumentReference", json=doc, headers=pro_headers(tokens("psc", "karim-benali")))
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert answer.headers["location"].endswith(f"/fhir/DocumentReference/{body['id']}/_history/1")
    assert answer.headers["etag"] == 'W/"1"'
    assert body["meta"]["versionId"] == "1" and body["meta"]["lastUpdated"]
    attachment = body["content"][0]["attachment"]
    assert "data" not in attachment
    assert attachment["size"] == len(content) and attachment["hash"] == sha1_b64(content)
    assert attachment["url"].endswith("/fhir/Binary/" + attachment["url"].rsplit("/", 1)[1])
    # The DMP made the Binary and the SubmissionSet itself.
    tables = sb.admin("dmp", "GET", "snapshot").json()["tables"]
    binary = next(b for b in tables["binaries"] if attachment["url"].endswith(b["id"]))
    assert base64.b64decode(binary["data"]) == content
    assert any(body["identifier"][0]["value"].endswith(lst["members"][0]) for lst in tables["lists"])


def test_iti105_with_prefer_operation_outcome_returns_the_warnings(
    dmp: httpx.Client, tokens: Callable[..., str], personas: Personas
) -> None:
    doc = document_reference(
        personas.patient("henri-leclerc"),
        personas.professional("karim-benali"),
        pdf_bytes(500, "prefer"),
        inline=True,
        type_code="99999-9",
    )
    headers = pro_headers(tokens("psc", "karim-benali"), Prefer="return=OperationOutcome")
    answer = dmp.post("/fhir/DocumentReference", json=doc, headers=headers)
    assert answer.status_code == 201, answer.text
    issues = answer.json()["issue"]
    assert [i["expression"] for i in issues] == [["DocumentReference.type"]]
    assert issues[0]["severity"] == "warning" and "99999-9" in issues[0]["diagnostics"]


def test_xml_in_and_out(dmp: httpx.Client, tokens: Callable[..., str]) -> None:
    from fhir.resources.R4B.bundle import Bundle

    xml = Bundle.model_validate(example(EXAMPLE)).model_dump_xml()
    headers = {
        **bearer(tokens("psc", "anne-doc0021889")),
        "Content-Type": "application/fhir+xml",
        "Accept": "application/fhir+xml",
    }
    answer = dmp.post("/fhir", content=xml, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/fhir+xml")
    assert b"transaction-response" in answer.content
    # _format wins over Accept.
    again = dmp.post("/fhir?_format=json", content=xml, headers=headers)
    assert again.status_code == 422  # the same uniqueId is now in the DMP
    assert again.json()["issue"][0]["details"]["coding"][0]["code"] == "XDSDuplicateUniqueIdInRegistry"


def _hash(b: dict[str, Any]) -> None:
    b["entry"][1]["resource"]["content"][0]["attachment"]["hash"] = sha1_b64(b"something else")


def _size(b: dict[str, Any]) -> None:
    b["entry"][1]["resource"]["content"][0]["attachment"]["size"] = 9999


def _no_type(b: dict[str, Any]) -> None:
    del b["entry"][1]["resource"]["type"]


def _no_period(b: dict[str, Any]) -> None:
    del b["entry"][1]["resource"]["context"]["period"]


def _broken_url(b: dict[str, Any]) -> None:
    b["entry"][1]["resource"]["content"][0]["attachment"]["url"] = (
        "urn:uuid:00000000-0000-0000-0000-00000000dead"
    )


def _wrong_key(b: dict[str, Any]) -> None:
    for entry in b["entry"][:2]:
        entry["resource"]["subject"]["reference"] = (
            "Patient?identifier=urn:oid:1.2.250.1.213.1.4.10|279035121518988"
        )


def _no_dmp(b: dict[str, Any]) -> None:
    for entry in b["entry"][:2]:
        entry["resource"]["subject"]["reference"] = (
            "Patient?identifier=urn:oid:1.2.250.1.213.1.4.10|204099304803137"
        )


def _two_patients(b: dict[str, Any]) -> None:
    b["entry"][1]["resource"]["subject"]["reference"] = (
        "Patient?identifier=urn:oid:1.2.250.1.213.1.4.10|279035121518989"
    )


def _no_submission_set(b: dict[str, Any]) -> None:
    del b["entry"][0]


def _not_transaction(b: dict[str, Any]) -> None:
    b["type"] = "batch"


def _bad_confidentiality(b: dict[str, Any]) -> None:
    b["entry"][1]["resource"]["securityLabel"][0]["coding"][0]["code"] = "Z"


def _author_not_contained(b: dict[str, Any]) -> None:
    b["entry"][1]["resource"]["author"] = [{"reference": "Practitioner/123"}]


def _duplicate_in_bundle(b: dict[str, Any]) -> None:
    extra_doc, extra_bin = clone(b["entry"][1]), clone(b["entry"][2])
    extra_doc["fullUrl"], extra_bin["fullUrl"] = "urn:uuid:dup-doc", "urn:uuid:dup-bin"
    extra_doc["resource"]["content"][0]["attachment"]["url"] = "urn:uuid:dup-bin"
    b["entry"][0]["resource"]["entry"].append({"item": {"reference": "urn:uuid:dup-doc"}})
    b["entry"] += [extra_doc, extra_bin]


def _not_a_member(b: dict[str, Any]) -> None:
    b["entry"][0]["resource"]["entry"] = [{"item": {"reference": "urn:uuid:elsewhere"}}]


def _entered_status(b: dict[str, Any]) -> None:
    b["entry"][1]["resource"]["status"] = "superseded"


MALFORMED = [
    # (case, status, issue code, XDS code, expression)
    (
        _hash,
        422,
        "value",
        "XDSRepositoryMetadataError",
        "Bundle.entry[1].resource.content[0].attachment.hash",
    ),
    (
        _size,
        422,
        "value",
        "XDSRepositoryMetadataError",
        "Bundle.entry[1].resource.content[0].attachment.size",
    ),
    (_no_type, 422, "required", "XDSRegistryMetadataError", "Bundle.entry[1].resource.type"),
    (
        _no_period,
        422,
        "required",
        "XDSRegistryMetadataError",
        "Bundle.entry[1].resource.context.period.start",
    ),
    (
        _broken_url,
        400,
        "not-found",
        "XDSMissingDocument",
        "Bundle.entry[1].resource.content[0].attachment.url",
    ),
    (_wrong_key, 422, "value", "XDSUnknownPatientId", "Bundle.entry[0].resource.subject"),
    (_no_dmp, 404, "not-found", "XDSUnknownPatientId", "subject"),
    (_two_patients, 422, "invalid", "XDSPatientIdDoesNotMatch", "Bundle.entry[1].resource.subject"),
    (_no_submission_set, 400, "required", "XDSRegistryMetadataError", "Bundle.entry"),
    (_not_transaction, 400, "value", None, "Bundle.type"),
    (_bad_confidentiality, 422, "code-invalid", None, "Bundle.entry[1].resource.securityLabel[0]"),
    (
        _author_not_contained,
        400,
        "invalid",
        "UnresolvedReferenceException",
        "Bundle.entry[1].resource.author[0]",
    ),
    (
        _duplicate_in_bundle,
        422,
        "duplicate",
        "XDSRegistryDuplicateUniqueIdInMessage",
        "Bundle.entry[3].resource.masterIdentifier",
    ),
    (
        _not_a_member,
        400,
        "not-found",
        "UnresolvedReferenceException",
        "Bundle.entry[0].resource.entry[0].item",
    ),
    (_entered_status, 422, "value", "XDSRegistryMetadataError", "Bundle.entry[1].resource.status"),
]


@pytest.mark.parametrize(
    ("change", "status", "code", "xds", "expression"),
    MALFORMED,
    ids=[case[0].__name__.strip("_") for case in MALFORMED],
)
def test_a_malformed_bundle_gets_its_operation_outcome_and_writes_nothing(
    sb: Sandbox,
    dmp: httpx.Client,
    tokens: Callable[..., str],
    change: Callable[[dict[str, Any]], None],
    status: int,
    code: str,
    xds: str | None,
    expression: str,
) -> None:
    request = example(EXAMPLE)
    change(request)
    before = stored(sb)
    answer = dmp.post("/fhir", json=request, headers=pro_headers(tokens("psc", "anne-doc0021889")))
    assert answer.status_code == status, answer.text
    outcome = answer.json()
    assert outcome["resourceType"] == "OperationOutcome"
    issue = next((i for i in outcome["issue"] if expression in i.get("expression", [])), None)
    assert issue is not None, outcome
    assert issue["severity"] == "error" and issue["code"] == code
    if xds:
        assert issue["details"]["coding"][0]["code"] == xds
    assert stored(sb) == before


def test_a_malformed_xml_body_is_a_400_operation_outcome(
    sb: Sandbox, dmp: httpx.Client, tokens: Callable[..., str]
) -> None:
    headers = {**bearer(tokens("psc", "anne-doc0021889")), "Content-Type": "application/fhir+xml"}
    before = stored(sb)
    for body in (b"<Bundle xmlns='http://hl7.org/fhir'><type value='transaction'/>", b"<Nope/>"):
        answer = dmp.post("/fhir", content=body, headers=headers)
        assert answer.status_code == 400
        assert answer.json()["issue"][0]["code"] == "structure"
    assert stored(sb) == before


def test_a_document_already_in_the_dmp_is_refused(
    dmp: httpx.Client, tokens: Callable[..., str], personas: Personas
) -> None:
    request = bundle(personas.patient("dominique-pat-trois"), personas.professional("jeanne-martin"))
    headers = pro_headers(tokens("psc", "jeanne-martin"))
    assert dmp.post("/fhir", json=request, headers=headers).status_code == 200
    again = dmp.post("/fhir", json=request, headers=headers)
    assert again.status_code == 422
    assert again.json()["issue"][0]["details"]["coding"][0]["code"] == "XDSDuplicateUniqueIdInRegistry"


def test_a_crash_in_the_middle_of_a_transaction_leaves_nothing(
    sb: Sandbox, dmp: httpx.Client, tokens: Callable[..., str], personas: Personas
) -> None:
    # The seam: a fault injected *inside* the transaction, after the DocumentReference rows
    # were written and before the Binary and List rows.
    rule = sb.admin(
        "dmp", "POST", "faults", json={"method": "DMP:STORE", "path": "Binary", "status": 503, "count": 1}
    )
    assert rule.status_code == 201
    before = stored(sb)
    request = bundle(
        personas.patient("dominique-pat-trois"), personas.professional("jeanne-martin"), documents=2
    )
    headers = pro_headers(tokens("psc", "jeanne-martin"))
    crashed = dmp.post("/fhir", json=request, headers=headers)
    assert crashed.status_code == 503
    assert crashed.json()["resourceType"] == "OperationOutcome"
    assert stored(sb) == before
    # The failure is traced (outcome 8); then the same bundle goes through whole.
    traces = sb.admin("dmp", "GET", "snapshot").json()["tables"]["audit_events"]
    assert [t["outcome"] for t in traces if t["subtype"] == "ITI-65"] == ["8"]
    assert dmp.post("/fhir", json=request, headers=headers).status_code == 200
    assert stored(sb) == {
        "documents": before["documents"] + 2,
        "binaries": before["binaries"] + 2,
        "lists": before["lists"] + 1,
    }


@pytest.mark.parametrize("documents", [2, 32])
def test_a_crash_after_the_documents_and_before_the_list_leaves_nothing(
    sb: Sandbox, dmp: httpx.Client, tokens: Callable[..., str], personas: Personas, documents: int
) -> None:
    """The fault after every Binary and DocumentReference row, before the List's. The
    direct path writes a usual submission as one statement on PostgreSQL and a large one
    (65 entries: past ``CHAINED_ROWS``) INSERT by INSERT in a transaction
    (shared/db/steps.py), once every row is known; both leave nothing."""
    assert (2 * documents + 1 >= CHAINED_ROWS) == (documents == 32)
    rule = sb.admin(
        "dmp", "POST", "faults", json={"method": "DMP:STORE", "path": "List", "status": 503, "count": 1}
    )
    assert rule.status_code == 201
    before = stored(sb)
    request = bundle(
        personas.patient("dominique-pat-trois"), personas.professional("jeanne-martin"), documents=documents
    )
    headers = pro_headers(tokens("psc", "jeanne-martin"))
    assert dmp.post("/fhir", json=request, headers=headers).status_code == 503
    assert stored(sb) == before
    published = dmp.post("/fhir", json=request, headers=headers)
    assert published.status_code == 200, published.text
    assert len(published.json()["entry"]) == 2 * documents + 1
    assert stored(sb) == {
        "documents": before["documents"] + documents,
        "binaries": before["binaries"] + documents,
        "lists": before["lists"] + 1,
    }


@pytest.mark.parametrize("who", ["jeanne-martin", "elise-roux", "kit-doc0042788"])
def test_any_professional_not_blocked_may_feed_the_dmp(
    dmp: httpx.Client, tokens: Callable[..., str], personas: Personas, who: str
) -> None:
    request = bundle(personas.patient("gabriel-fontaine"), personas.professional(who))
    assert dmp.post("/fhir", json=request, headers=pro_headers(tokens("psc", who))).status_code == 200


def test_publication_refusals(
    sb: Sandbox, dmp: httpx.Client, tokens: Callable[..., str], personas: Personas
) -> None:
    gabriel = personas.patient("gabriel-fontaine")
    before = stored(sb)
    blocked = dmp.post(
        "/fhir",
        json=bundle(gabriel, personas.professional("paul-renaud")),
        headers=pro_headers(tokens("psc", "paul-renaud")),
    )
    assert blocked.status_code == 403 and blocked.json()["issue"][0]["code"] == "forbidden"
    software = dmp.post(
        "/fhir",
        json=bundle(gabriel, personas.professional("jeanne-martin")),
        headers=pro_headers(tokens("psc", None)),
    )
    assert software.status_code == 403
    other_patient = dmp.post(
        "/fhir",
        json=bundle(gabriel, personas.professional("jeanne-martin")),
        headers=pro_headers(tokens("mes", "dominique-pat-trois")),
    )
    assert other_patient.status_code == 403
    assert stored(sb) == before
    traces = sb.admin("dmp", "GET", "snapshot").json()["tables"]["audit_events"]
    assert sorted(t["outcome"] for t in traces if t["subtype"] == "ITI-65") == ["4", "4", "4"]


def test_the_patient_may_add_their_own_documents(
    dmp: httpx.Client, tokens: Callable[..., str], personas: Personas
) -> None:
    gabriel = personas.patient("gabriel-fontaine")
    doc = document_reference(
        gabriel,
        personas.professional("jeanne-martin"),
        pdf_bytes(600, "patient"),
        inline=True,
        class_code="90",
    )
    doc["contained"][1] = {
        "resourceType": "Patient",
        "id": "author",
        "identifier": [{"system": gabriel.ins_system, "value": gabriel.ins}],
    }
    answer = dmp.post(
        "/fhir/DocumentReference", json=doc, headers=pro_headers(tokens("mes", "gabriel-fontaine"))
    )
    assert answer.status_code == 201, answer.text
    read_only = dmp.post(
        "/fhir/DocumentReference",
        json=doc,
        headers=pro_headers(tokens("mes", "gabriel-fontaine", scope="documents.read")),
    )
    assert read_only.status_code == 403


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer not-a-jwt", "Bearer eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.", "Basic YTpi"],
    ids=["missing", "garbage", "alg-none", "basic"],
)
def test_publication_needs_a_valid_token(dmp: httpx.Client, authorization: str | None) -> None:
    headers = {"Content-Type": FHIR_JSON, **({"Authorization": authorization} if authorization else {})}
    answer = dmp.post("/fhir", json=example(EXAMPLE), headers=headers)
    assert answer.status_code == 401
    assert answer.json()["resourceType"] == "OperationOutcome"
    assert answer.headers["www-authenticate"].startswith("Bearer")


def test_a_tampered_token_is_refused(dmp: httpx.Client, tokens: Callable[..., str]) -> None:
    token = tokens("psc", "anne-doc0021889")
    head, payload, signature = token.split(".")
    tampered = f"{head}.{payload}.{signature[:-4]}{'AAAA' if signature[-4:] != 'AAAA' else 'BBBB'}"
    answer = dmp.post("/fhir", json=example(EXAMPLE), headers=pro_headers(tampered))
    assert answer.status_code == 401


def test_a_folder_in_the_bundle_is_created_and_found_by_iti66(
    dmp: httpx.Client, tokens: Callable[..., str], personas: Personas
) -> None:
    request = bundle(personas.patient("henri-leclerc"), personas.professional("karim-benali"), documents=2)
    members = [
        entry["fullUrl"]
        for entry in request["entry"]
        if entry["resource"]["resourceType"] == "DocumentReference"
    ]
    folder = {
        "resourceType": "List",
        "status": "current",
        "mode": "working",
        "title": "Suivi cardiologique",
        "code": {
            "coding": [
                {"system": "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes", "code": "folder"}
            ]
        },
        "subject": request["entry"][0]["resource"]["subject"],
        "entry": [{"item": {"reference": member}} for member in members[:1]],
    }
    request["entry"].append(
        {"fullUrl": "urn:uuid:folder-1", "resource": folder, "request": {"method": "POST", "url": "List"}}
    )
    karim = tokens("psc", "karim-benali")
    answer = dmp.post("/fhir", json=request, headers=pro_headers(karim))
    assert answer.status_code == 200, answer.text
    assert answer.json()["entry"][-1]["response"]["location"].startswith("List/")
    found = dmp.get(
        "/fhir/List",
        params={
            "patient.identifier": "urn:oid:1.2.250.1.213.1.4.10|141037505608915",
            "code": "folder",
            "title": "suivi",
        },
        headers=bearer(karim),
    ).json()
    assert found["total"] == 1
    created = answer.json()["entry"][1]["response"]["location"].split("/")[1]
    assert found["entry"][0]["resource"]["entry"] == [{"item": {"reference": f"DocumentReference/{created}"}}]


def test_copies_of_one_submission_sent_at_once_publish_it_once(
    sb: Sandbox, tokens: Callable[..., str], personas: Personas
) -> None:
    """Eight copies of one submission at once (a client retrying before its first try
    answered): one is published, every other is refused as a duplicate, and traced. On
    PostgreSQL the usual path checks the uniqueId and writes the rows in two statements,
    so the copies race between them; the database's unique index keeps the others out
    (without it, several copies were published: checked by hand)."""
    copies = 8
    before = stored(sb)
    request = bundle(personas.patient("dominique-pat-trois"), personas.professional("jeanne-martin"))
    headers = pro_headers(tokens("psc", "jeanne-martin"))
    start = threading.Barrier(copies)

    def send(_: int) -> httpx.Response:
        with httpx.Client(base_url=sb.url("dmp"), timeout=30.0) as client:
            start.wait()
            return client.post("/fhir", json=request, headers=headers)

    with ThreadPoolExecutor(copies) as pool:
        answers = list(pool.map(send, range(copies)))
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200] + [422] * (copies - 1), [a.text[:300] for a in answers if a.status_code >= 500]
    for refused in (a for a in answers if a.status_code == 422):
        issue = refused.json()["issue"][0]
        assert issue["code"] == "duplicate", issue
        assert issue["details"]["coding"][0]["code"] == "XDSDuplicateUniqueIdInRegistry"
    assert stored(sb) == {
        "documents": before["documents"] + 1,
        "binaries": before["binaries"] + 1,
        "lists": before["lists"] + 1,
    }
    outcomes = [
        row["outcome"]
        for row in sb.admin("dmp", "GET", "snapshot").json()["tables"]["audit_events"]
        if row["subtype"] == "ITI-65"
    ]
    assert sorted(outcomes) == ["0"] + ["4"] * (copies - 1)


@pytest.mark.parametrize("same_unique_id", [True, False], ids=["copies", "different documents"])
def test_replacements_of_one_document_sent_at_once_replace_it_once(
    sb: Sandbox,
    dmp: httpx.Client,
    tokens: Callable[..., str],
    personas: Personas,
    same_unique_id: bool,
) -> None:
    """The same race on the full path, which a replacement takes, with copies of one
    replacement or eight replacements of one document: one replaces it, every other is
    refused as if it had come after (a duplicate uniqueId, or the document no longer the
    current one), none answers 5xx, and one new document is stored. On PostgreSQL the
    losers' rows are refused by the database and checked again (without that: 500s,
    checked by hand)."""
    copies = 8
    headers = pro_headers(tokens("psc", "jeanne-martin"))
    dominique, martin = personas.patient("dominique-pat-trois"), personas.professional("jeanne-martin")
    first = dmp.post("/fhir", json=bundle(dominique, martin), headers=headers)
    assert first.status_code == 200, first.text
    location = next(
        e["response"]["location"]
        for e in first.json()["entry"]
        if "DocumentReference/" in e["response"]["location"]
    )
    target = location.split("/")[1]
    replacements = [bundle(dominique, martin, replaces=target) for _ in range(copies)]
    if same_unique_id:
        replacements = [replacements[0]] * copies
    before = stored(sb)
    start = threading.Barrier(copies)

    def send(index: int) -> httpx.Response:
        with httpx.Client(base_url=sb.url("dmp"), timeout=30.0) as client:
            start.wait()
            return client.post("/fhir", json=replacements[index], headers=headers)

    with ThreadPoolExecutor(copies) as pool:
        answers = list(pool.map(send, range(copies)))
    assert sorted(answer.status_code for answer in answers) == [200] + [422] * (copies - 1), [
        a.text[:300] for a in answers if a.status_code not in (200, 422)
    ]
    # A copy's uniqueId is the winner's, and so is its target: either may be found first
    # (at READ COMMITTED each check reads what was committed when it ran).
    expected = {"XDSRegistryDeprecatedDocumentError"}
    if same_unique_id:
        expected.add("XDSDuplicateUniqueIdInRegistry")
    for refused in (a for a in answers if a.status_code == 422):
        assert refused.json()["issue"][0]["details"]["coding"][0]["code"] in expected, refused.text
    # The new document, its Binary and its SubmissionSet; the old version's row is kept.
    assert stored(sb) == {
        "documents": before["documents"] + 2,
        "binaries": before["binaries"] + 1,
        "lists": before["lists"] + 1,
    }

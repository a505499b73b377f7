"""Finding and reading (issue #4 item 4): ITI-67 with every parameter, paging, GET and POST,
both patient spellings; ITI-66; ITI-68 with Accept negotiation and 404/410/406."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from shared.personas import Personas
from tests.dmp.builders import TRE_A03, TRE_A07, bundle, sha1_b64
from tests.dmp.conftest import FHIR_JSON, pro_headers
from tests.support import bearer

pytestmark = pytest.mark.db

DOMINIQUE = "urn:oid:1.2.250.1.213.1.4.10|279035121518989"


def find(dmp: httpx.Client, token: str, **params: Any) -> httpx.Response:
    return dmp.get(
        "/fhir/DocumentReference",
        params={"patient.identifier": DOMINIQUE, "status": "current", **params},
        headers=bearer(token),
    )


def titles(answer: httpx.Response) -> list[str]:
    assert answer.status_code == 200, answer.text
    return [
        e["resource"]["content"][0]["attachment"]["title"]
        for e in answer.json().get("entry", [])
        if e["resource"]["resourceType"] == "DocumentReference"
    ]


CONSULT = "Compte rendu de consultation"
CARDIO = "Compte rendu de consultation de cardiologie"
BIO = "Résultats d'examens biologiques"


def test_the_medecin_traitant_finds_everything_newest_first(
    dmp: httpx.Client, tokens: Callable[..., str]
) -> None:
    answer = find(dmp, tokens("psc", "jeanne-martin"))
    assert titles(answer) == [BIO, CARDIO, CONSULT]
    body = answer.json()
    assert body["type"] == "searchset" and body["total"] == 3
    assert all(e["search"]["mode"] == "match" for e in body["entry"])
    doc = body["entry"][0]["resource"]
    # The shape of the PDSm4DMP searchset example: absolute fullUrl, url to retrieve the document.
    assert body["entry"][0]["fullUrl"].endswith(f"/fhir/DocumentReference/{doc['id']}")
    assert doc["content"][0]["attachment"]["url"].split("/fhir/")[1].startswith("Binary/")
    assert doc["subject"] == {"reference": f"Patient?identifier={DOMINIQUE}"}
    assert doc["identifier"][0]["value"].startswith("urn:uuid:") and doc["meta"]["versionId"] == "1"


def test_get_post_and_both_patient_spellings_agree(dmp: httpx.Client, tokens: Callable[..., str]) -> None:
    token = tokens("psc", "jeanne-martin")
    expected = titles(find(dmp, token))
    colon = dmp.get(
        "/fhir/DocumentReference",
        params={"patient:identifier": DOMINIQUE, "status": "current"},
        headers=bearer(token),
    )
    posted = dmp.post(
        "/fhir/DocumentReference/_search",
        data={"patient.identifier": DOMINIQUE, "status": "current"},
        headers=bearer(token),
    )
    mixed = dmp.post(
        "/fhir/DocumentReference/_search?status=current",
        data={"patient:identifier": DOMINIQUE},
        headers=bearer(token),
    )
    assert titles(colon) == titles(posted) == titles(mixed) == expected


def test_paging_with_count_and_next_links(dmp: httpx.Client, tokens: Callable[..., str]) -> None:
    token = tokens("psc", "jeanne-martin")
    seen, page = [], find(dmp, token, _count=1)
    while True:
        body = page.json()
        assert body["total"] == 3 and len(body["entry"]) == 1
        seen += titles(page)
        following = next((link["url"] for link in body["link"] if link["relation"] == "next"), None)
        if following is None:
            break
        page = dmp.get(following, headers=bearer(token))
    assert seen == [BIO, CARDIO, CONSULT]
    assert find(dmp, token, _count=0).json().get("entry") is None  # a count only


SEARCHES = [
    ({"type": "http://loinc.org|11502-2"}, [BIO]),
    ({"type": "11488-4"}, [CARDIO, CONSULT]),
    ({"type": "http://loinc.org|11488-4,http://loinc.org|11502-2"}, [BIO, CARDIO, CONSULT]),
    ({"category": f"{TRE_A03}|10"}, [BIO, CARDIO, CONSULT]),
    ({"category": f"{TRE_A03}|31"}, []),
    ({"format": "urn:ihe:iti:xds-sd:pdf:2008"}, [BIO, CARDIO, CONSULT]),
    ({"facility": "SA01"}, [CARDIO]),
    ({"setting": "|AMBULATOIRE"}, []),  # "|code": a code without a system
    ({"setting": "AMBULATOIRE"}, [BIO, CARDIO, CONSULT]),
    ({"security-label": f"{TRE_A07}|MASQUE_PS"}, [CARDIO]),
    ({"security-label": "N"}, [BIO, CARDIO, CONSULT]),
    ({"date": "ge2025-12-01"}, [BIO, CARDIO]),
    ({"date": "lt2025-12"}, [CONSULT]),
    ({"date": "2025-12-15"}, [BIO]),
    ({"creation": "le2025-11-30"}, [CONSULT]),
    ({"period": "ge2025-12-10"}, [BIO]),
    ({"period-start": "lt2025-12-02"}, [CARDIO, CONSULT]),
    ({"period-end": "ge2020"}, []),  # no period end recorded
    ({"author.family": "MARTIN"}, [BIO, CONSULT]),
    ({"author.given": "kar"}, [CARDIO]),
    ({"author.identifier": "urn:oid:1.2.250.1.71.4.2.1|899700223011"}, [CARDIO]),
    ({"isArchived": "false"}, [BIO, CARDIO, CONSULT]),
    ({"isArchived": "true"}, []),
    ({"event": "http://snomed.info/sct|1234"}, []),
    ({"related": "urn:oid:1.2.3|9"}, []),
    ({"identifier": "urn:ietf:rfc:3986|urn:oid:1.2.250.1.999.9.1.1"}, [CONSULT]),
    ({"status": "superseded"}, []),
    ({"unknown-parameter": "x"}, [BIO, CARDIO, CONSULT]),
]


@pytest.mark.parametrize(("params", "expected"), SEARCHES, ids=[str(p) for p, _ in SEARCHES])
def test_every_iti67_parameter(
    dmp: httpx.Client, tokens: Callable[..., str], params: dict[str, str], expected: list[str]
) -> None:
    assert titles(find(dmp, tokens("psc", "jeanne-martin"), **params)) == expected


def test_identifier_finds_by_logical_id_and_relatesto_finds_the_replacement(
    dmp: httpx.Client, tokens: Callable[..., str], personas: Personas
) -> None:
    token = tokens("psc", "jeanne-martin")
    consult = find(dmp, token, identifier="urn:ietf:rfc:3986|urn:oid:1.2.250.1.999.9.1.1").json()["entry"][0]
    logical = consult["resource"]["identifier"][0]["value"]
    assert titles(find(dmp, token, identifier=f"urn:ietf:rfc:3986|{logical}")) == [CONSULT]
    replacing = bundle(
        personas.patient("dominique-pat-trois"),
        personas.professional("jeanne-martin"),
        replaces=consult["resource"]["id"],
        title="Compte rendu corrigé",
    )
    assert dmp.post("/fhir", json=replacing, headers=pro_headers(token)).status_code == 200
    superseded = find(dmp, token, status="superseded").json()["entry"][0]["resource"]
    assert superseded["identifier"][0]["value"] == logical
    assert titles(find(dmp, token, relatesto=f"DocumentReference/{superseded['id']}")) == [
        "Compte rendu corrigé"
    ]


def test_unsupported_parameters_are_ignored_with_a_warning(
    dmp: httpx.Client, tokens: Callable[..., str]
) -> None:
    body = find(dmp, tokens("psc", "jeanne-martin"), **{"_elements": "id", "foo": "bar"}).json()
    outcome = [e for e in body["entry"] if e["search"]["mode"] == "outcome"]
    assert len(outcome) == 1
    issue = outcome[0]["resource"]["issue"][0]
    assert issue["severity"] == "warning" and set(issue["expression"]) == {"_elements", "foo"}


def test_status_missing_means_current_with_a_warning(dmp: httpx.Client, tokens: Callable[..., str]) -> None:
    answer = dmp.get(
        "/fhir/DocumentReference",
        params={"patient.identifier": DOMINIQUE},
        headers=bearer(tokens("psc", "jeanne-martin")),
    )
    assert titles(answer) == [BIO, CARDIO, CONSULT]
    outcome = next(e["resource"] for e in answer.json()["entry"] if e["search"]["mode"] == "outcome")
    assert outcome["issue"][0]["expression"] == ["status"]


@pytest.mark.parametrize(
    ("params", "expression"),
    [
        ({"status": "current"}, "patient.identifier"),
        (
            {"patient.identifier": "urn:oid:1.2.250.1.213.1.4.10|279035121518988", "status": "current"},
            "patient.identifier",
        ),
        ({"patient.identifier": "urn:oid:1.2.3|279035121518989", "status": "current"}, "patient.identifier"),
        ({"patient.identifier": DOMINIQUE, "status": "approved"}, "status"),
        ({"patient.identifier": DOMINIQUE, "status": "current", "date": "ge2025-13"}, "date"),
        ({"patient.identifier": DOMINIQUE, "status": "current", "_count": "many"}, "_count"),
    ],
)
def test_bad_searches_are_400_with_the_parameter(
    dmp: httpx.Client, tokens: Callable[..., str], params: dict[str, str], expression: str
) -> None:
    answer = dmp.get("/fhir/DocumentReference", params=params, headers=bearer(tokens("psc", "jeanne-martin")))
    assert answer.status_code == 400, answer.text
    assert answer.json()["issue"][0]["expression"] == [expression]


def test_a_patient_without_a_dmp_has_no_documents(dmp: httpx.Client, tokens: Callable[..., str]) -> None:
    answer = dmp.get(
        "/fhir/DocumentReference",
        params={"patient.identifier": "urn:oid:1.2.250.1.213.1.4.10|204099304803137", "status": "current"},
        headers=bearer(tokens("psc", "jeanne-martin")),
    )
    assert answer.status_code == 200 and answer.json()["total"] == 0


def test_a_searchset_in_xml(dmp: httpx.Client, tokens: Callable[..., str]) -> None:
    answer = find(dmp, tokens("psc", "jeanne-martin"), _format="xml")
    assert answer.headers["content-type"].startswith("application/fhir+xml")
    assert answer.text.count("<DocumentReference") == 3


def test_iti66_finds_submission_sets(dmp: httpx.Client, tokens: Callable[..., str]) -> None:
    params = {
        "patient.identifier": DOMINIQUE,
        "code": "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes|submissionset",
        "status": "current",
    }
    jeanne = dmp.get("/fhir/List", params=params, headers=bearer(tokens("psc", "jeanne-martin")))
    assert jeanne.status_code == 200 and jeanne.json()["total"] == 3
    lists = [e["resource"] for e in jeanne.json()["entry"]]
    assert all(
        lst["resourceType"] == "List"
        and lst["entry"][0]["item"]["reference"].startswith("DocumentReference/")
        for lst in lists
    )
    by_source = dmp.post(
        "/fhir/List/_search",
        data={**params, "source.family": "BENALI"},
        headers=bearer(tokens("psc", "jeanne-martin")),
    )
    assert by_source.json()["total"] == 1
    # The patient does not see the submission set of a document invisible to them.
    patient = dmp.get("/fhir/List", params=params, headers=bearer(tokens("mes", "dominique-pat-trois")))
    assert patient.json()["total"] == 2


def _document(dmp: httpx.Client, token: str, title: str) -> dict[str, Any]:
    entries = find(dmp, token).json()["entry"]
    resource: dict[str, Any] = next(
        e["resource"] for e in entries if e["resource"]["content"][0]["attachment"]["title"] == title
    )
    return resource


def test_iti68_negotiates_the_raw_document_or_the_binary(
    dmp: httpx.Client, tokens: Callable[..., str]
) -> None:
    token = tokens("psc", "jeanne-martin")
    doc = _document(dmp, token, CONSULT)
    url = doc["content"][0]["attachment"]["url"]
    for accept in ("application/pdf", "*/*", "application/*", None, "text/plain;q=0.1, application/pdf"):
        headers = {**bearer(token), **({"Accept": accept} if accept else {})}
        raw = dmp.get(url, headers=headers)
        assert raw.status_code == 200, (accept, raw.text)
        assert raw.headers["content-type"] == "application/pdf"
        assert sha1_b64(raw.content) == doc["content"][0]["attachment"]["hash"]
    fhir = dmp.get(url, headers={**bearer(token), "Accept": FHIR_JSON})
    assert fhir.json()["resourceType"] == "Binary"
    assert base64.b64decode(fhir.json()["data"]) == raw.content
    xml = dmp.get(url, params={"_format": "xml"}, headers=bearer(token))
    assert xml.headers["content-type"].startswith("application/fhir+xml") and b"<Binary" in xml.content
    refused = dmp.get(url, headers={**bearer(token), "Accept": "text/plain"})
    assert refused.status_code == 406 and refused.json()["issue"][0]["code"] == "not-supported"


def test_iti68_404_and_410(dmp: httpx.Client, tokens: Callable[..., str], personas: Personas) -> None:
    token = tokens("psc", "jeanne-martin")
    assert (
        dmp.get("/fhir/Binary/00000000-0000-0000-0000-000000000000", headers=bearer(token)).status_code == 404
    )
    doc = _document(dmp, token, CONSULT)
    url = doc["content"][0]["attachment"]["url"]
    replacing = bundle(
        personas.patient("dominique-pat-trois"), personas.professional("jeanne-martin"), replaces=doc["id"]
    )
    assert dmp.post("/fhir", json=replacing, headers=pro_headers(token)).status_code == 200
    gone = dmp.get(url, headers=bearer(token))
    assert gone.status_code == 410 and gone.json()["issue"][0]["code"] == "deleted"
    # A document hidden from the caller is "not found", like one that does not exist (Z.8).
    cardio = _document(dmp, token, CARDIO)["content"][0]["attachment"]["url"]
    elise = tokens("psc", "elise-roux")
    until = "2099-12-31"
    dmp.put(
        f"/api/patient/controls/authorizations/{personas.professional('elise-roux').idnat}",
        json={"until": until},
        headers=bearer(tokens("mes", "dominique-pat-trois")),
    )
    assert dmp.get(cardio, headers=bearer(elise)).status_code == 404
    assert dmp.get(cardio, headers=bearer(tokens("psc", "karim-benali"))).status_code == 200  # its author


def test_read_a_document_reference(dmp: httpx.Client, tokens: Callable[..., str]) -> None:
    token = tokens("psc", "jeanne-martin")
    doc = _document(dmp, token, CONSULT)
    answer = dmp.get(f"/fhir/DocumentReference/{doc['id']}", headers=bearer(token))
    assert answer.status_code == 200 and answer.json() == doc
    assert answer.headers["etag"] == 'W/"1"'
    patch = dmp.patch(
        f"/fhir/DocumentReference/{doc['id']}",
        json=[
            {
                "op": "add",
                "path": "/extension",
                "value": [
                    {
                        "url": "https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/pdsm-ext-is-archived",
                        "valueBoolean": True,
                    }
                ],
            }
        ],
        headers={**bearer(token), "Content-Type": "application/json-patch+json"},
    )
    assert patch.status_code == 200, patch.text
    former = dmp.get(f"/fhir/DocumentReference/{doc['id']}", headers=bearer(token))
    assert former.status_code == 410 and patch.json()["id"] in former.json()["issue"][0]["diagnostics"]
    unknown = dmp.get("/fhir/DocumentReference/nope", headers=bearer(token))
    assert unknown.status_code == 404 and unknown.json()["resourceType"] == "OperationOutcome"

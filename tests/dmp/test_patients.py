"""The patient's DMP (issue #4 item 2): TD0.2, creation by a professional or by the patient,
closure and reopening; INS checked (OID, 15 characters, key)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from shared.personas import Personas
from tests.dmp.builders import bundle
from tests.dmp.conftest import pro_headers
from tests.support import bearer

pytestmark = pytest.mark.db

AUTHORISATION = "https://mes-sandbox.example/fhir/StructureDefinition/dmp-access-authorisation"
YASMINE = "urn:oid:1.2.250.1.213.1.4.10|204099304803137"


def td02(dmp: httpx.Client, token: str, identifier: str) -> httpx.Response:
    return dmp.get("/fhir/Patient", params={"identifier": identifier}, headers=bearer(token))


def extension(patient: dict[str, Any], url: str) -> Any:
    return next(e.get("valueCode", e.get("valueBoolean")) for e in patient["extension"] if e["url"] == url)


def test_td02_says_whether_the_dmp_exists_and_is_open(dmp: httpx.Client, tokens: Callable[..., str]) -> None:
    jeanne = tokens("psc", "jeanne-martin")
    answer = td02(dmp, jeanne, "urn:oid:1.2.250.1.213.1.4.10|279035121518989")
    assert answer.status_code == 200
    bundle_ = answer.json()
    assert bundle_["type"] == "searchset" and bundle_["total"] == 1
    patient = bundle_["entry"][0]["resource"]
    assert patient["active"] is True
    assert patient["identifier"][0] == {
        "use": "official",
        "type": {
            "coding": [
                {
                    "system": "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203",
                    "code": "INS-NIR-TEST",
                }
            ]
        },
        "system": "urn:oid:1.2.250.1.213.1.4.10",
        "value": "279035121518989",
    }
    assert extension(patient, AUTHORISATION) == "valide"
    assert td02(dmp, jeanne, YASMINE).json()["total"] == 0
    # The ANS guides' illustrative INS (production OID, no valid key) is the one exempt persona.
    assert td02(dmp, jeanne, "urn:oid:1.2.250.1.213.1.4.8|123456789012345").json()["total"] == 1


@pytest.mark.parametrize(
    ("professional", "patient", "status"),
    [
        ("paul-renaud", "188016912314544", "interdite"),
        ("elise-roux", "279035121518989", "aucune"),
        ("karim-benali", "279035121518989", "valide"),
    ],
)
def test_td02_gives_the_professionals_authorisation_status(
    dmp: httpx.Client, tokens: Callable[..., str], professional: str, patient: str, status: str
) -> None:
    answer = td02(dmp, tokens("psc", professional), f"urn:oid:1.2.250.1.213.1.4.10|{patient}")
    assert extension(answer.json()["entry"][0]["resource"], AUTHORISATION) == status


@pytest.mark.parametrize(
    "identifier",
    [
        "urn:oid:1.2.250.1.213.1.4.10|279035121518988",  # wrong key
        "urn:oid:1.2.250.1.213.1.4.10|27903512151898",  # 14 characters
        "urn:oid:1.2.3.4|279035121518989",  # not an INS OID
        "279035121518989",  # no system
        "urn:oid:1.2.250.1.213.1.4.10|123456789012345",  # the exempt INS, but under the test OID
    ],
)
def test_td02_checks_the_ins(dmp: httpx.Client, tokens: Callable[..., str], identifier: str) -> None:
    answer = td02(dmp, tokens("psc", "jeanne-martin"), identifier)
    assert answer.status_code == 400
    assert answer.json()["issue"][0]["expression"] == ["identifier"]


def test_td02_for_the_patient_and_without_a_token(dmp: httpx.Client, tokens: Callable[..., str]) -> None:
    own = td02(dmp, tokens("mes", "dominique-pat-trois"), "urn:oid:1.2.250.1.213.1.4.10|279035121518989")
    assert own.status_code == 200 and own.json()["total"] == 1
    other = td02(dmp, tokens("mes", "dominique-pat-trois"), "urn:oid:1.2.250.1.213.1.4.10|188016912314544")
    assert other.status_code == 403
    assert dmp.get("/fhir/Patient", params={"identifier": YASMINE}).status_code == 401


def yasmine(personas: Personas, **changes: Any) -> dict[str, Any]:
    person = personas.patient("yasmine-haddad")
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "identifier": [{"use": "official", "system": person.ins_system, "value": person.ins}],
        "name": [{"use": "official", "family": person.family_name, "given": list(person.given_names)}],
        "gender": person.gender,
        "birthDate": person.birth_date.isoformat(),
    }
    resource.update(changes)
    return resource


def test_a_professional_creates_a_dmp_and_is_authorised(
    dmp: httpx.Client, tokens: Callable[..., str], personas: Personas
) -> None:
    jeanne = tokens("psc", "jeanne-martin")
    created = dmp.post("/fhir/Patient", json=yasmine(personas), headers=pro_headers(jeanne))
    assert created.status_code == 201, created.text
    assert created.headers["location"].endswith(f"/fhir/Patient/{created.json()['id']}")
    found = td02(dmp, jeanne, YASMINE).json()
    assert found["total"] == 1 and found["entry"][0]["resource"]["active"] is True
    controls = dmp.get("/api/patient/controls", headers=bearer(tokens("mes", "yasmine-haddad"))).json()
    assert controls["authorizations"] == [
        {"idnat": personas.professional("jeanne-martin").idnat, "until": None}
    ]
    again = dmp.post("/fhir/Patient", json=yasmine(personas), headers=pro_headers(jeanne))
    assert again.status_code == 409 and again.json()["issue"][0]["code"] == "duplicate"
    # The new DMP is fed at once.
    request = bundle(personas.patient("yasmine-haddad"), personas.professional("jeanne-martin"))
    assert dmp.post("/fhir", json=request, headers=pro_headers(jeanne)).status_code == 200


@pytest.mark.parametrize(
    ("changes", "status"),
    [
        ({"identifier": [{"system": "urn:oid:1.2.250.1.213.1.4.10", "value": "204099304803136"}]}, 400),
        ({"identifier": [{"system": "urn:oid:1.2.3", "value": "204099304803137"}]}, 422),
        ({"birthDate": None}, 422),
        ({"name": []}, 422),
        ({"resourceType": "Practitioner"}, 400),
    ],
)
def test_creation_checks_the_ins_and_the_traits(
    dmp: httpx.Client, tokens: Callable[..., str], personas: Personas, changes: dict[str, Any], status: int
) -> None:
    resource = {k: v for k, v in yasmine(personas, **changes).items() if v is not None}
    answer = dmp.post("/fhir/Patient", json=resource, headers=pro_headers(tokens("psc", "jeanne-martin")))
    assert answer.status_code == status, answer.text
    assert td02(dmp, tokens("psc", "jeanne-martin"), YASMINE).json()["total"] == 0


def test_the_patient_creates_closes_and_reopens_their_dmp(
    dmp: httpx.Client, tokens: Callable[..., str], personas: Personas
) -> None:
    patient = tokens("mes", "yasmine-haddad")
    created = dmp.post("/fhir/Patient", json=yasmine(personas), headers=pro_headers(patient))
    assert created.status_code == 201, created.text
    patient_id = created.json()["id"]
    close = [{"op": "replace", "path": "/active", "value": False}]
    closed = dmp.patch(
        f"/fhir/Patient/{patient_id}",
        json=close,
        headers={**bearer(patient), "Content-Type": "application/json-patch+json"},
    )
    assert closed.status_code == 200 and closed.json()["active"] is False
    jeanne = tokens("psc", "jeanne-martin")
    assert td02(dmp, jeanne, YASMINE).json()["entry"][0]["resource"]["active"] is False
    request = bundle(personas.patient("yasmine-haddad"), personas.professional("jeanne-martin"))
    assert dmp.post("/fhir", json=request, headers=pro_headers(jeanne)).status_code == 403
    assert (
        dmp.get(
            "/fhir/DocumentReference",
            params={"patient.identifier": YASMINE, "status": "current"},
            headers=bearer(jeanne),
        ).status_code
        == 403
    )
    reopened = dmp.post("/fhir/Patient", json=yasmine(personas), headers=pro_headers(patient))
    assert reopened.status_code == 200 and reopened.json()["active"] is True
    assert dmp.post("/fhir", json=request, headers=pro_headers(jeanne)).status_code == 200


def test_closure_changes_only_active(
    dmp: httpx.Client, tokens: Callable[..., str], personas: Personas
) -> None:
    found = td02(dmp, tokens("psc", "jeanne-martin"), "urn:oid:1.2.250.1.213.1.4.10|279035121518989").json()
    patient_id = found["entry"][0]["resource"]["id"]
    headers = {**bearer(tokens("mes", "dominique-pat-trois")), "Content-Type": "application/json-patch+json"}
    renamed = dmp.patch(
        f"/fhir/Patient/{patient_id}",
        json=[{"op": "replace", "path": "/gender", "value": "male"}],
        headers=headers,
    )
    assert renamed.status_code == 405
    elise = {**bearer(tokens("psc", "elise-roux")), "Content-Type": "application/json-patch+json"}
    refused = dmp.patch(
        f"/fhir/Patient/{patient_id}",
        json=[{"op": "replace", "path": "/active", "value": False}],
        headers=elise,
    )
    assert refused.status_code == 403
    mt = {**bearer(tokens("psc", "jeanne-martin")), "Content-Type": "application/json-patch+json"}
    closed = dmp.patch(
        f"/fhir/Patient/{patient_id}", json=[{"op": "replace", "path": "/active", "value": False}], headers=mt
    )
    assert closed.status_code == 200 and closed.json()["active"] is False

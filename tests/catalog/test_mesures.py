"""The mesures API: feeding with the guide's Bundle, the two searches, and every error answer
of "Spécifications de l'API Mesures de santé de Mon Espace Santé" (v1.5.2)."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import httpx
import pytest

from tests.catalog.support import Browser, app_tokens, authority, introspect, revoke_consent, tokens
from tests.support import Sandbox, bearer

pytestmark = pytest.mark.db

CONSENT_REFUSED = "Consent not given, access refused."
IDPE_MISMATCH = "idPe requested do not match authorized idPe."
DEVICE_ID = "3bc44de3-069d-442d-829b-f3ef68cae371"
PHD_OID = "urn:oid:1.2.840.10004.1.1.1.0.0.1.0.0.1.2680"
SORT_ERROR = (
    "Sort parameter must be equals to -date (date DESC) with _count equals to 1 to retrieve last observation"
)


def weight_bundle(
    idpe: str,
    value: float = 71,
    when: str = "2026-08-22T01:56:16+01:00",
    system: str = "urn:oid:1.2.250.1.999.1.1",
) -> dict[str, Any]:
    """The guide's example (§2.2.7), with the app's idPe as the subject."""
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": {
                    "resourceType": "Device",
                    "id": DEVICE_ID,
                    "meta": {"profile": ["http://hl7.org/fhir/uv/phd/StructureDefinition/PhdDevice"]},
                    "identifier": [
                        {
                            "type": {
                                "coding": [
                                    {
                                        "system": "http://hl7.org/fhir/uv/phd/CodeSystem/ContinuaDeviceIdentifiers",
                                        "code": "SYSID",
                                    }
                                ]
                            },
                            "system": "urn:oid:1.2.840.10004.1.1.1.0.0.1.0.0.1.2680",
                            "value": "FE-ED-AB-AA-DE-AD-77-C5",
                        }
                    ],
                    "manufacturer": "OMRONHEALTHCARE",
                    "modelNumber": "HEM-9200T",
                    "deviceName": [{"name": "Ma balance", "type": "patient-reported-name"}],
                    "type": {"coding": [{"system": "urn:iso:std:iso:11073:10101", "code": "65573"}]},
                    "specialization": [
                        {
                            "systemType": {
                                "coding": [{"system": "urn:iso:std:iso:11073:10101", "code": "528457"}]
                            },
                            "version": "2.3",
                        }
                    ],
                },
                "request": {
                    "method": "POST",
                    "url": "Device",
                    "ifNoneExist": f"identifier={PHD_OID}|FE-ED-AB-AA-DE-AD-77-C5",
                },
            },
            {
                "fullUrl": "3bc44de3-069d-442d-829b-f3ef68cae372",
                "resource": {
                    "resourceType": "Observation",
                    "meta": {
                        "profile": [
                            "http://esante.gouv.fr/ci-sis/fhir/StructureDefinition/MesFrObservationBodyWeight"
                        ]
                    },
                    "status": "final",
                    "category": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                    "code": "vital-signs",
                                    "display": "Signes vitaux",
                                }
                            ]
                        }
                    ],
                    "code": {
                        "coding": [
                            {"system": "http://loinc.org", "code": "29463-7", "display": "Poids corporel"}
                        ]
                    },
                    "subject": {"identifier": {"system": system, "value": idpe}},
                    "device": {"reference": f"Device/{DEVICE_ID}"},
                    "effectiveDateTime": when,
                    "valueQuantity": {
                        "value": value,
                        "unit": "kg",
                        "system": "http://unitsofmeasure.org",
                        "code": "kg",
                    },
                    "extension": [
                        {
                            "url": "http://esante.gouv.fr/ci-sis/fhir/StructureDefinition/MesReasonForMeasurement",
                            "valueString": "Mon nouveau poids !",
                        }
                    ],
                },
                "request": {"method": "POST", "url": "Observation"},
            },
        ],
    }


def post(sb: Sandbox, token: str, body: Any, **headers: str) -> httpx.Response:
    return sb.client("catalog").post(
        "/fhir", json=body, headers={**bearer(token), "Content-Type": "application/fhir+json", **headers}
    )


def observations(sb: Sandbox, token: str, **params: Any) -> httpx.Response:
    return sb.client("catalog").get("/fhir/Observation", params=params, headers=bearer(token))


def outcome(answer: httpx.Response) -> list[dict[str, Any]]:
    assert answer.headers["content-type"].startswith("application/fhir+json"), answer.text
    body = answer.json()
    assert body["resourceType"] == "OperationOutcome", body
    issues: list[dict[str, Any]] = body["issue"]
    return issues


def diagnostics(answer: httpx.Response) -> list[str]:
    return [i["diagnostics"] for i in outcome(answer)]


@pytest.fixture
def balance(sb: Sandbox) -> dict[str, Any]:
    return app_tokens(sb, scope="openid mesures.read mesures.write documents.read")


def test_feeding_a_weight_then_reading_it_back(sb: Sandbox, balance: dict[str, Any]) -> None:
    answer = post(sb, balance["access_token"], weight_bundle(balance["idpe"]))
    assert answer.status_code == 200, answer.text
    response = answer.json()
    assert response["type"] == "transaction-response"
    device, observation = (e["response"] for e in response["entry"])
    assert device["status"] == "201 Created"
    assert device["location"] == f"Device/{DEVICE_ID}"
    assert observation["status"] == "201 Created"
    assert observation["location"].startswith("Observation/")
    # The same device again: not created twice (200).
    again = post(
        sb, balance["access_token"], weight_bundle(balance["idpe"], 70.4, "2026-09-01T08:00:00+02:00")
    )
    assert [e["response"]["status"] for e in again.json()["entry"]] == ["200 OK", "201 Created"]

    last = observations(
        sb,
        balance["access_token"],
        **{
            "subject.identifier": f"urn:oid:1.2.250.1.999.1.1|{balance['idpe']}",
            "code": "29463-7",
            "_sort": "-date",
            "_count": "1",
            "_include": "Observation:device",
        },
    )
    assert last.status_code == 200, last.text
    bundle = last.json()
    assert bundle["type"] == "searchset"
    kinds = [(e["resource"]["resourceType"], e["search"]["mode"]) for e in bundle["entry"]]
    assert kinds == [("Observation", "match"), ("Device", "include")]
    found = bundle["entry"][0]["resource"]
    assert found["valueQuantity"]["value"] == 70.4
    assert found["subject"] == {
        "identifier": {"system": "urn:oid:1.2.250.1.999.1.1", "value": balance["idpe"]}
    }
    assert found["meta"]["source"] == "urn:oid:1.2.250.1.999.1.1"
    assert found["device"] == {"reference": f"Device/{DEVICE_ID}"}
    read = sb.client("catalog").get(
        f"/fhir/{observation['location']}", headers=bearer(balance["access_token"])
    )
    assert read.json()["valueQuantity"]["value"] == 71
    device_read = sb.client("catalog").get(
        f"/fhir/Device/{DEVICE_ID}", headers=bearer(balance["access_token"])
    )
    assert device_read.json()["manufacturer"] == "OMRONHEALTHCARE"


def test_the_all_search_pages_over_a_period(sb: Sandbox, balance: dict[str, Any]) -> None:
    for day, value in (("04", 70), ("10", 71), ("15", 72), ("30", 73)):
        assert (
            post(
                sb,
                balance["access_token"],
                weight_bundle(balance["idpe"], value, f"2026-09-{day}T08:00:00+02:00"),
            ).status_code
            == 200
        )
    subject = f"urn:oid:1.2.250.1.999.1.1|{balance['idpe']}"
    page = observations(
        sb,
        balance["access_token"],
        **{
            "subject.identifier": subject,
            "code": "29463-7",
            "date": ["ge2026-09-04", "le2026-09-23"],
            "_offset": "0",
            "_count": "2",
            "_include": "Observation.device",
        },
    )
    assert page.status_code == 200, page.text
    bundle = page.json()
    assert bundle["total"] == 3
    assert [
        e["resource"]["valueQuantity"]["value"] for e in bundle["entry"] if e["search"]["mode"] == "match"
    ] == [72, 71]
    assert sum(1 for e in bundle["entry"] if e["search"]["mode"] == "include") == 1  # one device, once
    following = next(link["url"] for link in bundle["link"] if link["relation"] == "next")
    assert following.count("_offset=") == 1
    assert following.endswith("_offset=2")
    rest = sb.client("catalog").get(following, headers=bearer(balance["access_token"])).json()
    assert [
        e["resource"]["valueQuantity"]["value"] for e in rest["entry"] if e["search"]["mode"] == "match"
    ] == [70]
    assert "next" not in [link["relation"] for link in rest["link"]]
    previous = next(link["url"] for link in rest["link"] if link["relation"] == "previous")
    assert previous.count("_offset=") == 1
    back = sb.client("catalog").get(previous, headers=bearer(balance["access_token"])).json()
    assert (back["total"], back["entry"]) == (bundle["total"], bundle["entry"])


def test_another_app_reads_the_measurement_under_its_own_idpe(sb: Sandbox, balance: dict[str, Any]) -> None:
    post(sb, balance["access_token"], weight_bundle(balance["idpe"]))
    other = {
        "id": "journal-poids",
        "name": "Journal Poids",
        "editor": "Autre",
        "editor_oid": "1.2.250.1.999.6.1",
        "description": "x",
        "track": "exchange",
        "data": [{"category": "mesures", "access": ["read"]}],
        "client_id": "app-journal-poids",
        "public_client": True,
        "redirect_uris": ["http://127.0.0.1:4006/cb"],
    }
    assert authority(sb, "POST", "/api/catalogue/apps", json=other).status_code == 201
    reader = app_tokens(sb, app="journal-poids", scope="mesures.read")
    assert reader["idpe"] != balance["idpe"]
    answer = observations(
        sb,
        reader["access_token"],
        **{
            "subject.identifier": f"urn:oid:1.2.250.1.999.6.1|{reader['idpe']}",
            "code": "29463-7",
            "_sort": "-date",
            "_count": "1",
        },
    )
    assert answer.json()["entry"][0]["resource"]["subject"]["identifier"]["value"] == reader["idpe"]
    # Reading with the other app's idPe is refused.
    stolen = observations(
        sb,
        reader["access_token"],
        **{
            "subject.identifier": f"urn:oid:1.2.250.1.999.1.1|{balance['idpe']}",
            "code": "29463-7",
            "_sort": "-date",
            "_count": "1",
        },
    )
    assert stolen.status_code == 403
    assert diagnostics(stolen) == [IDPE_MISMATCH]


@pytest.mark.parametrize("header", [None, "Bearer nope", "Basic eDp5", "Bearer a.b.c"])
def test_401_for_a_bad_access_token(sb: Sandbox, balance: dict[str, Any], header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    answer = sb.client("catalog").post("/fhir", json=weight_bundle(balance["idpe"]), headers=headers)
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert outcome(answer)[0]["code"] == "login"
    read = sb.client("catalog").get("/fhir/Observation", headers=headers)
    assert read.status_code == 401


def test_403_consent_not_given_for_an_operation_not_consented(sb: Sandbox) -> None:
    reader = app_tokens(sb, scope="mesures.read")
    answer = post(sb, reader["access_token"], weight_bundle(reader["idpe"]))
    assert answer.status_code == 403
    assert diagnostics(answer) == [CONSENT_REFUSED]
    assert outcome(answer)[0]["code"] == "forbidden"
    writer = app_tokens(sb, scope="mesures.write")
    denied = observations(
        sb,
        writer["access_token"],
        **{
            "subject.identifier": f"urn:oid:1.2.250.1.999.1.1|{writer['idpe']}",
            "code": "29463-7",
            "_sort": "-date",
            "_count": "1",
        },
    )
    assert denied.status_code == 403
    assert diagnostics(denied) == [CONSENT_REFUSED]


def test_403_consent_not_given_at_once_after_revocation(sb: Sandbox, balance: dict[str, Any]) -> None:
    assert post(sb, balance["access_token"], weight_bundle(balance["idpe"])).status_code == 200
    revoke_consent(sb)
    answer = post(sb, balance["access_token"], weight_bundle(balance["idpe"]))
    assert answer.status_code == 403
    assert diagnostics(answer) == [CONSENT_REFUSED]
    read = observations(
        sb,
        balance["access_token"],
        **{
            "subject.identifier": f"urn:oid:1.2.250.1.999.1.1|{balance['idpe']}",
            "code": "29463-7",
            "_sort": "-date",
            "_count": "1",
        },
    )
    assert read.status_code == 403


def test_a_withdrawn_app_is_refused(sb: Sandbox, balance: dict[str, Any]) -> None:
    authority(sb, "POST", "/api/catalogue/apps/ma-balance/withdraw", json={"reason": "retrait"})
    answer = post(sb, balance["access_token"], weight_bundle(balance["idpe"]))
    assert answer.status_code == 401
    assert "no longer referenced" in diagnostics(answer)[0]


def test_403_idpe_mismatch(sb: Sandbox, balance: dict[str, Any]) -> None:
    wrong_value = post(sb, balance["access_token"], weight_bundle("someone-else"))
    assert wrong_value.status_code == 403
    assert diagnostics(wrong_value) == [IDPE_MISMATCH]
    wrong_system = post(sb, balance["access_token"], weight_bundle(balance["idpe"], system="urn:oid:1.2.3"))
    assert wrong_system.status_code == 403
    other = app_tokens(sb, patient="gabriel-fontaine", scope="mesures.write")
    cross = post(sb, balance["access_token"], weight_bundle(other["idpe"]))
    assert diagnostics(cross) == [IDPE_MISMATCH]


def test_400_for_an_invalid_id_token_and_409_for_an_oid_conflict(
    sb: Sandbox, balance: dict[str, Any]
) -> None:
    good = post(
        sb, balance["access_token"], weight_bundle(balance["idpe"]), **{"ID-Token": balance["id_token"]}
    )
    assert good.status_code == 200, good.text
    bad = post(sb, balance["access_token"], weight_bundle(balance["idpe"]), **{"ID-Token": "not.a.jwt"})
    assert bad.status_code == 400
    assert diagnostics(bad) == [
        "HTTP code 400 : Bad request -> The ID_TOKEN value is not valid (invalid JWT)"
    ]
    # An access token is not an ID token.
    wrong_kind = post(
        sb, balance["access_token"], weight_bundle(balance["idpe"]), **{"ID-Token": balance["access_token"]}
    )
    assert wrong_kind.status_code == 400
    # The editor's OID changes in the catalogue: the ID token of the pairing now conflicts.
    authority(sb, "PATCH", "/api/catalogue/apps/ma-balance", json={"editor_oid": "1.2.250.1.999.1.9"})
    conflict = post(
        sb,
        balance["access_token"],
        weight_bundle(balance["idpe"], system="urn:oid:1.2.250.1.999.1.9"),
        **{"ID-Token": balance["id_token"]},
    )
    assert conflict.status_code == 409
    assert diagnostics(conflict)[0].startswith("HTTP code 409 :OID conflict between the one from id_token")
    # Another patient's ID token: the idPe does not match.
    other = app_tokens(sb, patient="gabriel-fontaine", scope="openid mesures.write")
    mixed = post(
        sb,
        other["access_token"],
        weight_bundle(other["idpe"], system="urn:oid:1.2.250.1.999.1.9"),
        **{"ID-Token": app_tokens(sb, scope="openid mesures.write")["id_token"]},
    )
    assert mixed.status_code == 403
    assert diagnostics(mixed) == [IDPE_MISMATCH]


def test_400_no_bundle_provided(sb: Sandbox, balance: dict[str, Any]) -> None:
    empty = sb.client("catalog").post(
        "/fhir",
        content=b"",
        headers={**bearer(balance["access_token"]), "Content-Type": "application/fhir+json"},
    )
    assert empty.status_code == 400
    assert diagnostics(empty) == ["No bundle provided."]
    not_bundle = post(sb, balance["access_token"], {"resourceType": "Patient"})
    assert diagnostics(not_bundle) == ["No bundle provided."]


def _broken(idpe: str, change: str) -> dict[str, Any]:
    bundle = weight_bundle(idpe)
    device, observation = bundle["entry"][0], bundle["entry"][1]["resource"]
    if change == "patient":
        bundle["entry"].append(
            {"resource": {"resourceType": "Patient"}, "request": {"method": "POST", "url": "Patient"}}
        )
    elif change == "put":
        bundle["entry"][1]["request"]["method"] = "PUT"
    elif change == "no-observation":
        bundle["entry"] = [device]
    elif change == "if-none-exist":
        device["request"]["ifNoneExist"] = "identifier=FE-ED"
    elif change == "device-profile":
        del device["resource"]["meta"]
    elif change == "no-device-reference":
        del observation["device"]
    elif change == "device-link":
        observation["device"]["reference"] = "Device/other"
    elif change == "observation-profile":
        del observation["meta"]
    elif change == "source":
        observation["meta"]["source"] = "urn:oid:1.2.250.1.888"
    elif change == "value":
        del observation["valueQuantity"]
    elif change == "bmi":
        observation["meta"]["profile"] = [
            "http://esante.gouv.fr/ci-sis/fhir/StructureDefinition/MesFrObservationBmi"
        ]
        observation["code"]["coding"][0]["code"] = "39156-5"
    elif change == "subject":
        del observation["subject"]
    elif change == "glucose-moment":
        observation["meta"]["profile"] = [
            "http://esante.gouv.fr/ci-sis/fhir/StructureDefinition/MesObservationGlucose"
        ]
        observation["code"]["coding"][0]["code"] = "2339-0"
    elif change == "glucose-days":
        observation["meta"]["profile"] = [
            "http://esante.gouv.fr/ci-sis/fhir/StructureDefinition/MesObservationGlucose"
        ]
        observation["code"]["coding"][0]["code"] = "MED-969"
    elif change == "structure":
        observation["status"] = 12
    return bundle


@pytest.mark.parametrize(
    ("change", "code", "message", "diagnostic"),
    [
        (
            "patient",
            "not-supported",
            "Bundle not valid.",
            "Resource of type Patient is not acceptable with method POST.",
        ),
        (
            "put",
            "not-supported",
            "Bundle not valid.",
            "Resource of type Observation is not acceptable with method PUT.",
        ),
        (
            "no-observation",
            "invalid",
            "Bundle not valid.",
            "Bundle must contains one observation creation (POST)",
        ),
        (
            "if-none-exist",
            "invalid",
            "Bundle not valid.",
            "Device request must have a valid IfNoneExist attribute : identifier=urn:oid:<OID>",
        ),
        (
            "device-profile",
            "invalid",
            "Device resource not valid.",
            "Device must provide meta.profile value.",
        ),
        (
            "no-device-reference",
            "invalid",
            "Observation and Device link not valid.",
            "Observation.device.reference is mandatory.",
        ),
        (
            "device-link",
            "invalid",
            "Observation and Device link not valid.",
            "Observation and device not linked by id (Observation.device.reference <-> Device.id)",
        ),
        (
            "observation-profile",
            "invalid",
            "Observation resource not valid.",
            "Observation must provide meta.profile value.",
        ),
        (
            "source",
            "value",
            "Observation resource not valid.",
            "Solution oid contains in Observation.meta.source don't belong to root editor oid "
            "(1.2.250.1.999.1.1).",
        ),
        ("value", "value", "Observation resource not valid.", "Observation value quantity not provided."),
        ("bmi", "not-supported", "Observation resource not valid.", "Bmi observation cannot be created."),
        (
            "subject",
            "invalid",
            "Observation resource not valid.",
            "Observation.subject.identifier is mandatory.",
        ),
        (
            "glucose-moment",
            "incomplete",
            "Observation resource not valid.",
            "Observation.extension.moment is mandatory.",
        ),
        (
            "glucose-days",
            "incomplete",
            "Observation resource not valid.",
            "Observation.extension.numberOfDays is mandatory.",
        ),
    ],
)
def test_422_with_the_guide_s_operation_outcome(
    sb: Sandbox, balance: dict[str, Any], change: str, code: str, message: str, diagnostic: str
) -> None:
    answer = post(sb, balance["access_token"], _broken(balance["idpe"], change))
    assert answer.status_code == 422, answer.text
    issues = outcome(answer)
    matching = [i for i in issues if i["diagnostics"] == diagnostic]
    assert matching, issues
    assert matching[0]["code"] == code
    assert matching[0]["severity"] == "error"
    assert matching[0]["details"]["text"] == message
    # Nothing was stored.
    stored = observations(
        sb,
        balance["access_token"],
        **{
            "subject.identifier": f"urn:oid:1.2.250.1.999.1.1|{balance['idpe']}",
            "code": "29463-7",
            "_sort": "-date",
            "_count": "1",
        },
    )
    assert stored.json()["total"] == 0


def test_422_for_a_structurally_invalid_observation(sb: Sandbox, balance: dict[str, Any]) -> None:
    answer = post(sb, balance["access_token"], _broken(balance["idpe"], "structure"))
    assert answer.status_code == 422
    assert any(i["code"] == "structure" for i in outcome(answer))


def test_glucose_extensions_per_indicator(sb: Sandbox, balance: dict[str, Any]) -> None:
    bundle = _broken(balance["idpe"], "glucose-moment")
    observation = bundle["entry"][1]["resource"]
    observation["valueQuantity"] = {
        "value": 95,
        "unit": "mg/dL",
        "system": "http://unitsofmeasure.org",
        "code": "mg/dL",
    }
    moment = {
        "url": "https://interop.esante.gouv.fr/ig/fhir/mesures/StructureDefinition/mesures-moment-of-measurement",
        "valueString": "à jeun",
    }
    observation["extension"] = [moment]
    assert post(sb, balance["access_token"], bundle).status_code == 200
    interstitial = copy.deepcopy(bundle)
    interstitial["entry"][1]["resource"]["code"]["coding"][0]["code"] = "MED-969"
    refused = post(sb, balance["access_token"], interstitial)
    assert set(diagnostics(refused)) == {
        "Observation.extension.moment cannot be added.",
        "Observation.extension.numberOfDays is mandatory.",
    }


def test_blood_pressure_uses_components(sb: Sandbox, balance: dict[str, Any]) -> None:
    bundle = weight_bundle(balance["idpe"])
    observation = bundle["entry"][1]["resource"]
    observation["meta"]["profile"] = [
        "http://esante.gouv.fr/ci-sis/fhir/StructureDefinition/ENS_FrObservationBp"
    ]
    observation["code"]["coding"][0] = {"system": "http://loinc.org", "code": "85354-9"}
    del observation["valueQuantity"]
    refused = post(sb, balance["access_token"], bundle)
    assert diagnostics(refused) == ["Observation value quantity not provided."]
    observation["component"] = [
        {
            "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
            "valueQuantity": {
                "value": 120,
                "unit": "mm[Hg]",
                "system": "http://unitsofmeasure.org",
                "code": "mm[Hg]",
            },
        },
        {
            "code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
            "valueQuantity": {
                "value": 60,
                "unit": "mm[Hg]",
                "system": "http://unitsofmeasure.org",
                "code": "mm[Hg]",
            },
        },
    ]
    assert post(sb, balance["access_token"], bundle).status_code == 200


@pytest.mark.parametrize(
    ("params", "diagnostic"),
    [
        (
            {"code": "29463-7", "date": ["ge2026-01-01", "le2026-12-31"], "_count": "101"},
            "Maximum page size allowed is 100. Actual : 101",
        ),
        (
            {"code": "29463-7", "_sort": "-date", "_count": "2"},
            SORT_ERROR,
        ),
        (
            {"code": "29463-7", "_sort": "date", "_count": "1"},
            SORT_ERROR,
        ),
        (
            {"code": "29463-7", "date": ["ge2026-01-01", "le2026-12-31"], "_sort": "-date", "_count": "1"},
            "Paged search and search last cannot be requested concurrently",
        ),
        ({"code": "29463-7"}, "No search mode detected"),
    ],
)
def test_400_request_not_valid(
    sb: Sandbox, balance: dict[str, Any], params: dict[str, Any], diagnostic: str
) -> None:
    answer = observations(
        sb,
        balance["access_token"],
        **{"subject.identifier": f"urn:oid:1.2.250.1.999.1.1|{balance['idpe']}", **params},
    )
    assert answer.status_code == 400
    assert diagnostics(answer) == [diagnostic]
    assert outcome(answer)[0]["code"] == "invalid"


def test_the_mesures_api_is_for_apps(sb: Sandbox) -> None:
    patient = sb.mes_token("dominique-pat-trois")
    answer = post(sb, patient, weight_bundle("x"))
    assert answer.status_code == 403
    aidant = tokens(sb, patient="henri-leclerc", actor="aidant", person="claire-leclerc").json()[
        "access_token"
    ]
    assert observations(sb, aidant, code="29463-7").status_code == 403


def test_capability_statement(sb: Sandbox) -> None:
    answer = sb.client("catalog").get("/fhir/metadata")
    assert answer.status_code == 200
    statement = answer.json()
    assert statement["resourceType"] == "CapabilityStatement"
    types = [r["type"] for r in statement["rest"][0]["resource"]]
    assert types == ["Observation", "Device", "Consent"]
    from fhir.resources.R4B.capabilitystatement import CapabilityStatement

    CapabilityStatement.model_validate(statement)


def test_the_space_shows_the_measurements_and_a_caregiver_needs_the_right(
    sb: Sandbox, balance: dict[str, Any]
) -> None:
    post(sb, balance["access_token"], weight_bundle(balance["idpe"], 71.5, "2026-09-04T08:30:00+00:00"))
    with Browser(sb) as browser:
        browser.sign_in("dominique-pat-trois")
        page = browser.http.get("/espace/mesures")
        assert page.status_code == 200
        assert "Poids" in page.text
        assert "71,5 kg" in page.text
        assert "Ma Balance Connectée" in page.text
        assert "04/09/2026 08:30" in page.text
    henri = app_tokens(sb, patient="henri-leclerc", scope="mesures.write")
    post(sb, henri["access_token"], weight_bundle(henri["idpe"]))
    with Browser(sb) as browser:
        browser.sign_in("claire-leclerc")
        browser.choose_space("aidant", "henri-leclerc")
        refused = browser.http.get("/espace/mesures")
        assert refused.status_code == 403
        assert "ce droit ne vous a pas été délégué" in refused.text


def test_403_idpe_mismatch_on_reads(sb: Sandbox, balance: dict[str, Any]) -> None:
    """A search naming another patient, or the right idPe in another system, is refused."""
    other = app_tokens(sb, patient="gabriel-fontaine", scope="mesures.read mesures.write")
    assert post(sb, other["access_token"], weight_bundle(other["idpe"])).status_code == 200
    last = {"code": "29463-7", "_sort": "-date", "_count": "1"}
    for subject in (
        f"urn:oid:1.2.250.1.999.1.1|{other['idpe']}",
        f"urn:oid:1.2.3|{balance['idpe']}",
        balance["idpe"],
    ):
        answer = observations(sb, balance["access_token"], **{"subject.identifier": subject, **last})
        assert answer.status_code == 403, (subject, answer.text)
        assert diagnostics(answer) == [IDPE_MISMATCH], subject
    mine = observations(
        sb,
        balance["access_token"],
        **{"subject.identifier": f"urn:oid:1.2.250.1.999.1.1|{balance['idpe']}", **last},
    )
    assert mine.status_code == 200
    assert mine.json()["total"] == 0  # Gabriel's weight is not Dominique's


def _expire(sb: Sandbox, app: str) -> None:
    """The app's referencing ended yesterday (the snapshot is the only way to move a date)."""
    snapshot = sb.admin("catalog", "GET", "snapshot").json()
    yesterday = dt.date.today() - dt.timedelta(days=1)
    for row in snapshot["tables"]["apps"]:
        if row["id"] == app:
            row["referenced_on"] = (yesterday - dt.timedelta(days=365)).isoformat()
            row["expires_on"] = yesterday.isoformat()
    assert sb.admin("catalog", "PUT", "snapshot", json=snapshot).status_code == 200


def test_an_app_whose_referencing_expired_is_refused_everywhere(sb: Sandbox, balance: dict[str, Any]) -> None:
    assert post(sb, balance["access_token"], weight_bundle(balance["idpe"])).status_code == 200
    _expire(sb, "ma-balance")
    assert sb.client("catalog").get("/api/catalogue/apps/ma-balance").json()["status"] == "expired"
    written = post(sb, balance["access_token"], weight_bundle(balance["idpe"]))
    assert written.status_code == 401
    assert "no longer referenced" in diagnostics(written)[0]
    read = observations(
        sb,
        balance["access_token"],
        **{
            "subject.identifier": f"urn:oid:1.2.250.1.999.1.1|{balance['idpe']}",
            "code": "29463-7",
            "_sort": "-date",
            "_count": "1",
        },
    )
    assert read.status_code == 401
    assert introspect(sb, balance["access_token"]) == {"active": False}
    documents = sb.client("dmp").get(
        "/fhir/DocumentReference",
        params={"patient.identifier": "urn:oid:1.2.250.1.213.1.4.10|279035121518989"},
        headers=bearer(balance["access_token"]),
    )
    assert documents.status_code == 401, documents.text
    refresh = sb.client("catalog").post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": balance["refresh_token"]},
        auth=("app-ma-balance", "ma-balance-secret"),
    )
    assert refresh.status_code == 400
    assert refresh.json()["error"] == "unauthorized_client"
    assert tokens(sb, patient="dominique-pat-trois", actor="app", app="ma-balance").status_code == 403


def test_a_read_that_succeeded_is_refused_at_once_after_each_change(
    sb: Sandbox, balance: dict[str, Any]
) -> None:
    """The read path remembers what it parsed of a token's row: a narrowed consent, a
    revocation and a withdrawal must each apply to the very next read."""
    query = {
        "subject.identifier": f"urn:oid:1.2.250.1.999.1.1|{balance['idpe']}",
        "code": "29463-7",
        "_sort": "-date",
        "_count": "1",
    }
    assert post(sb, balance["access_token"], weight_bundle(balance["idpe"])).status_code == 200
    assert observations(sb, balance["access_token"], **query).status_code == 200
    app_tokens(sb, scope="mesures.write")  # the patient narrows the consent: no more reading
    narrowed = observations(sb, balance["access_token"], **query)
    assert narrowed.status_code == 403
    assert diagnostics(narrowed) == [CONSENT_REFUSED]
    again = app_tokens(sb, scope="mesures.read")
    assert observations(sb, again["access_token"], **query).status_code == 200
    revoke_consent(sb)
    revoked = observations(sb, again["access_token"], **query)
    assert revoked.status_code == 403
    assert diagnostics(revoked) == [CONSENT_REFUSED]
    fresh = app_tokens(sb, scope="mesures.read")
    assert observations(sb, fresh["access_token"], **query).status_code == 200
    assert observations(sb, again["access_token"], **query).status_code == 403  # old tokens stay dead
    authority(sb, "POST", "/api/catalogue/apps/ma-balance/withdraw", json={"reason": "retrait"})
    withdrawn = observations(sb, fresh["access_token"], **query)
    assert withdrawn.status_code == 401
    assert "no longer referenced" in diagnostics(withdrawn)[0]

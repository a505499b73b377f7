"""The mailbox directory in the shape of the Annuaire Santé FHIR API."""

from __future__ import annotations

from typing import Any

import pytest

from tests.mss.helpers import CARDIO, DPI, JEANNE, KARIM, mss
from tests.support import Sandbox

pytestmark = pytest.mark.db

KEY = {"ESANTE-API-KEY": "mes-sandbox-annuaire"}
METADATA = "https://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/as-ext-mailbox-mss-metadata"


def search(sb: Sandbox, resource: str, **params: str) -> dict[str, Any]:
    answer = mss(sb).get(f"/fhir/v2/{resource}", params=params, headers=KEY)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/fhir+json")
    bundle: dict[str, Any] = answer.json()
    return bundle


def addresses(bundle: dict[str, Any]) -> set[str]:
    return {t["value"] for e in bundle["entry"] for t in e["resource"].get("telecom", [])}


def test_practitioners_with_personal_mailboxes_and_their_extensions(sb: Sandbox) -> None:
    bundle = search(sb, "Practitioner", **{"mailbox-mss-type": "PER"})
    assert bundle["type"] == "searchset"
    assert {JEANNE, KARIM} <= addresses(bundle)
    jeanne = next(e["resource"] for e in bundle["entry"] if e["resource"]["id"] == "jeanne-martin")
    idnat = {"system": "urn:oid:1.2.250.1.71.4.2.1", "value": "899700112545", "use": "official"}
    assert idnat in jeanne["identifier"]
    telecom = jeanne["telecom"][0]
    assert telecom["system"] == "email"
    meta = next(x for x in telecom["extension"] if x["url"] == METADATA)
    kind = next(x for x in meta["extension"] if x["url"] == "type")
    assert kind["valueCodeableConcept"]["coding"][0]["code"] == "PER"
    email_type = next(x for x in telecom["extension"] if x["url"].endswith("contact-point-email-type"))
    assert email_type["valueCoding"]["code"] == "MSSANTE"


def test_mailbox_search_contains_exact_and_types(sb: Sandbox) -> None:
    orgs = search(sb, "Organization", **{"mailbox-mss-type": "APP"})
    assert addresses(orgs) == {DPI, "notifications@dmp.mssante.fr"}
    found = search(sb, "Organization", **{"mailbox-mss:contains": "cardio"})
    assert addresses(found) == {CARDIO}
    exact = search(sb, "PractitionerRole", **{"mailbox-mss:exact": KARIM})
    assert [e["resource"]["organization"]["reference"] for e in exact["entry"]] == ["Organization/ch-valmont"]
    cab = search(sb, "Practitioner", **{"mailbox-mss-type": "CAB"})
    assert addresses(cab) == {"secretariat@cabinet-tilleuls.mssante.fr"}
    by_id = search(sb, "Practitioner", identifier="https://rpps.esante.gouv.fr|99700334586")
    assert [e["resource"]["id"] for e in by_id["entry"]] == ["elise-roux"]


def test_directory_refuses_without_the_api_key_and_bad_parameters(sb: Sandbox) -> None:
    answer = mss(sb).get("/fhir/v2/Practitioner")
    assert answer.status_code == 401 and answer.json()["resourceType"] == "OperationOutcome"
    wrong = mss(sb).get("/fhir/v2/Practitioner", headers={"ESANTE-API-KEY": "nope"})
    assert wrong.status_code == 401
    bad = mss(sb).get("/fhir/v2/Practitioner", params={"mailbox-mss-type": "XYZ"}, headers=KEY)
    assert bad.status_code == 400 and bad.json()["issue"][0]["expression"] == ["mailbox-mss-type"]
    unknown = mss(sb).get("/fhir/v2/Patient", headers=KEY)
    assert unknown.status_code == 404

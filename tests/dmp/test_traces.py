"""Access traces (issue #4 item 7): every read and write is an AuditEvent, searchable by the
patient, the médecin traitant, and the professional concerned (only their own)."""

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

DOMINIQUE = "urn:oid:1.2.250.1.213.1.4.10|279035121518989"


def events(dmp: httpx.Client, token: str, **params: str) -> list[dict[str, Any]]:
    answer = dmp.get(
        "/fhir/AuditEvent", params={"patient.identifier": DOMINIQUE, **params}, headers=bearer(token)
    )
    assert answer.status_code == 200, answer.text
    return [
        e["resource"] for e in answer.json().get("entry", []) if e["resource"]["resourceType"] == "AuditEvent"
    ]


def _activity(dmp: httpx.Client, tokens: Callable[..., str], personas: Personas) -> None:
    """Karim publishes, searches and retrieves; Kit breaks the glass; Elise is refused."""
    karim = tokens("psc", "karim-benali")
    assert (
        dmp.post(
            "/fhir",
            json=bundle(personas.patient("dominique-pat-trois"), personas.professional("karim-benali")),
            headers=pro_headers(karim),
        ).status_code
        == 200
    )
    found = dmp.get(
        "/fhir/DocumentReference",
        params={"patient.identifier": DOMINIQUE, "status": "current"},
        headers=bearer(karim),
    ).json()
    url = found["entry"][0]["resource"]["content"][0]["attachment"]["url"]
    assert dmp.get(url, headers=bearer(karim)).status_code == 200
    kit = {
        **bearer(tokens("psc", "kit-doc0042788")),
        "X-DMP-Access-Mode": "bris_de_glace",
        "X-DMP-Access-Reason": "malaise au cabinet",
    }
    assert (
        dmp.get(
            "/fhir/DocumentReference",
            params={"patient.identifier": DOMINIQUE, "status": "current"},
            headers=kit,
        ).status_code
        == 200
    )
    assert (
        dmp.get(
            "/fhir/DocumentReference",
            params={"patient.identifier": DOMINIQUE, "status": "current"},
            headers=bearer(tokens("psc", "elise-roux")),
        ).status_code
        == 403
    )


def test_the_patient_sees_every_trace(
    dmp: httpx.Client, tokens: Callable[..., str], personas: Personas
) -> None:
    _activity(dmp, tokens, personas)
    seen = events(dmp, tokens("mes", "dominique-pat-trois"))
    summary = [
        (e["subtype"][0]["code"], e["action"], e["outcome"], e["agent"][0]["who"]["identifier"]["value"])
        for e in reversed(seen)
    ]
    karim, kit = personas.professional("karim-benali").idnat, personas.professional("kit-doc0042788").idnat
    elise = personas.professional("elise-roux").idnat
    assert summary == [
        ("ITI-65", "C", "0", karim),
        ("ITI-67", "E", "0", karim),
        ("ITI-68", "R", "0", karim),
        ("ITI-67", "E", "0", kit),
        ("ITI-67", "E", "4", elise),
    ]
    glass = seen[1]
    purpose = glass["purposeOfEvent"][0]
    assert purpose["coding"][0]["code"] == "bris_de_glace" and purpose["text"] == "malaise au cabinet"
    assert glass["entity"][0]["what"]["identifier"]["value"] == "279035121518989"
    refused = seen[0]
    assert refused["outcomeDesc"].startswith("403")
    # The documents read are named.
    retrieve = next(e for e in seen if e["subtype"][0]["code"] == "ITI-68")
    assert any(entity["what"].get("reference", "").startswith("Binary/") for entity in retrieve["entity"])


def test_the_medecin_traitant_sees_all_and_a_professional_their_own(
    dmp: httpx.Client, tokens: Callable[..., str], personas: Personas
) -> None:
    _activity(dmp, tokens, personas)
    assert len(events(dmp, tokens("psc", "jeanne-martin"))) == 5
    karim = events(dmp, tokens("psc", "karim-benali"))
    assert {e["agent"][0]["who"]["identifier"]["value"] for e in karim} == {
        personas.professional("karim-benali").idnat
    }
    assert len(karim) == 3
    assert len(events(dmp, tokens("psc", "elise-roux"))) == 1  # her refused attempt


def test_searching_the_traces(dmp: httpx.Client, tokens: Callable[..., str], personas: Personas) -> None:
    _activity(dmp, tokens, personas)
    patient = tokens("mes", "dominique-pat-trois")
    assert len(events(dmp, patient, purpose="bris_de_glace")) == 1
    assert len(events(dmp, patient, outcome="4")) == 1
    assert len(events(dmp, patient, subtype="ITI-67")) == 3
    assert len(events(dmp, patient, action="C")) == 1
    kit = personas.professional("kit-doc0042788").idnat
    assert len(events(dmp, patient, **{"agent.identifier": f"urn:oid:1.2.250.1.71.4.2.1|{kit}"})) == 1
    assert len(events(dmp, patient, date="ge2000-01-01")) == 5 and events(dmp, patient, date="lt2000") == []
    page = dmp.get(
        "/fhir/AuditEvent", params={"patient.identifier": DOMINIQUE, "_count": "2"}, headers=bearer(patient)
    ).json()
    assert page["total"] == 5 and len(page["entry"]) == 2
    assert any(link["relation"] == "next" for link in page["link"])


@pytest.mark.parametrize(
    ("kind", "who", "options", "status"),
    [
        ("mes", "lucas-pat-trois", {}, 403),
        ("mes", "henri-leclerc", {"actor": "aidant", "person": "claire-leclerc"}, 403),
        ("psc", None, {}, 403),
    ],
)
def test_who_may_not_read_the_traces(
    dmp: httpx.Client,
    tokens: Callable[..., str],
    kind: str,
    who: str | None,
    options: dict[str, str],
    status: int,
) -> None:
    patient = "urn:oid:1.2.250.1.213.1.4.10|141037505608915" if who == "henri-leclerc" else DOMINIQUE
    answer = dmp.get(
        "/fhir/AuditEvent",
        params={"patient.identifier": patient},
        headers=bearer(tokens(kind, who, **options)),
    )
    assert answer.status_code == status


def test_a_legal_representative_reads_the_childs_traces(
    dmp: httpx.Client, tokens: Callable[..., str]
) -> None:
    lucas = "urn:oid:1.2.250.1.213.1.4.10|115055145402386"
    jeanne = tokens("psc", "jeanne-martin")
    dmp.get(
        "/fhir/DocumentReference",
        params={"patient.identifier": lucas, "status": "current"},
        headers=bearer(jeanne),
    )
    token = tokens("mes", "lucas-pat-trois", actor="representant_legal", person="dominique-pat-trois")
    answer = dmp.get("/fhir/AuditEvent", params={"patient.identifier": lucas}, headers=bearer(token))
    assert answer.status_code == 200 and answer.json()["total"] == 1

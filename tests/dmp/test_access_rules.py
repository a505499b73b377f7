"""Who sees what (issue #4 item 6, fr-ecosystem.md §2.8), as one table:
caller × document visibility → expected outcome, checked through ITI-67 and direct reads.

The seeded documents (services/dmp/seed.py) carry each visibility:
Dominique (médecin traitant Jeanne Martin): a consultation (N), a cardiology report by Karim
Benali masked from professionals (MASQUE_PS), biology results invisible to the patient
(INVISIBLE_PATIENT). Lucas (legal representative Dominique): a consultation (N) and one
invisible to legal representatives. Henri, Gabriel (Paul Renaud blocked) and Ghjulia
(objected to emergency access): reports by Karim Benali.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest

from shared.personas import Personas
from tests.support import Sandbox, bearer

pytestmark = pytest.mark.db

N, MASKED, INVISIBLE = (
    "Compte rendu de consultation",
    "Compte rendu de consultation de cardiologie",
    ("Résultats d'examens biologiques"),
)
PEDIATRIC, SECRET = "Consultation pédiatrique", "Consultation confidentielle"
ECHO, PRESCRIPTION = "Compte rendu d'échographie cardiaque", "Ordonnance"
HOSPITAL = "Compte rendu d'hospitalisation"
GHJULIA_DOC = "Compte rendu de consultation de cardiologie"
DOMINIQUE_DOCS, LUCAS_DOCS = {N, MASKED, INVISIBLE}, {PEDIATRIC, SECRET}
REASON = {"X-DMP-Access-Reason": "patient inconscient aux urgences"}

# (patient, caller, how the token is made, headers, expected: the titles seen, or a status)
Row = tuple[str, str, dict[str, Any], dict[str, str], set[str] | int]
TABLE: list[Row] = [
    # Dominique: MASQUE_PS and INVISIBLE_PATIENT
    ("dominique-pat-trois", "psc:jeanne-martin", {}, {}, {N, MASKED, INVISIBLE}),  # médecin traitant
    (
        "dominique-pat-trois",
        "psc:karim-benali",
        {},
        {},
        {N, MASKED, INVISIBLE},
    ),  # care team, author of MASKED
    ("dominique-pat-trois", "psc:sophie-lefevre", {}, {}, {N, INVISIBLE}),  # care team: Karim's structure
    ("dominique-pat-trois", "psc:elise-roux", {}, {}, 403),  # outside the care team, no authorisation
    ("dominique-pat-trois", "psc:elise-roux", {"authorised": True}, {}, {N, INVISIBLE}),
    (
        "dominique-pat-trois",
        "psc:kit-doc0042788",
        {},
        {"X-DMP-Access-Mode": "bris_de_glace", **REASON},
        {N, INVISIBLE},
    ),
    (
        "dominique-pat-trois",
        "psc:kit-doc0042788",
        {},
        {"X-DMP-Access-Mode": "bris_de_glace"},
        400,
    ),  # no reason
    # Refusals of the request itself (not of the DMP or a document): the same 403 on reads.
    ("dominique-pat-trois", "psc:kit-doc0042788", {"reads": 403}, {"X-DMP-Access-Mode": "centre_15"}, 403),
    (
        "dominique-pat-trois",
        "psc:kit-doc0042788",
        {"blocked": True},
        {"X-DMP-Access-Mode": "bris_de_glace", **REASON},
        403,
    ),
    ("dominique-pat-trois", "mes:dominique-pat-trois", {}, {}, {N, MASKED}),  # the holder
    ("dominique-pat-trois", "mes:dominique-pat-trois", {"scope": "dmp.manage", "reads": 403}, {}, 403),
    ("dominique-pat-trois", "app:ma-balance", {}, {}, {N, MASKED}),  # a consented app sees as the holder
    ("dominique-pat-trois", "mes:lucas-pat-trois", {}, {}, 403),  # another patient's token
    ("dominique-pat-trois", "psc:", {}, {}, 403),  # a software account
    # Lucas: INVISIBLE_REPRESENTANTS_LEGAUX
    ("lucas-pat-trois", "psc:jeanne-martin", {}, {}, {PEDIATRIC, SECRET}),
    ("lucas-pat-trois", "rl:dominique-pat-trois", {}, {}, {PEDIATRIC}),
    ("lucas-pat-trois", "mes:lucas-pat-trois", {}, {}, {PEDIATRIC, SECRET}),
    ("lucas-pat-trois", "psc:sophie-lefevre", {}, {"X-DMP-Access-Mode": "centre_15"}, {PEDIATRIC, SECRET}),
    # Henri: a caregiver
    ("henri-leclerc", "aidant:claire-leclerc", {}, {}, {ECHO, PRESCRIPTION}),
    ("henri-leclerc", "psc:elise-roux", {}, {}, 403),
    # Gabriel: Paul Renaud blocked, whatever the mode; no médecin traitant
    ("gabriel-fontaine", "psc:paul-renaud", {}, {}, 403),
    ("gabriel-fontaine", "psc:paul-renaud", {"authorised": True}, {}, 403),
    ("gabriel-fontaine", "psc:paul-renaud", {}, {"X-DMP-Access-Mode": "bris_de_glace", **REASON}, 403),
    ("gabriel-fontaine", "psc:karim-benali", {}, {}, {HOSPITAL}),
    ("gabriel-fontaine", "psc:jeanne-martin", {}, {}, 403),
    (
        "gabriel-fontaine",
        "psc:jeanne-martin",
        {},
        {"X-DMP-Access-Mode": "bris_de_glace", **REASON},
        {HOSPITAL},
    ),
    # Ghjulia objected to emergency access
    ("ghjulia-santoni", "psc:jeanne-martin", {}, {"X-DMP-Access-Mode": "bris_de_glace", **REASON}, 403),
    (
        "ghjulia-santoni",
        "psc:sophie-lefevre",
        {},
        {"X-DMP-Access-Mode": "centre_15"},
        {GHJULIA_DOC},
    ),  # Karim's structure
    ("ghjulia-santoni", "psc:kit-doc0042788", {"reads": 403}, {"X-DMP-Access-Mode": "centre_15"}, 403),
    ("ghjulia-santoni", "psc:karim-benali", {}, {}, {GHJULIA_DOC}),
    ("ghjulia-santoni", "psc:elise-roux", {"authorised": True}, {}, {GHJULIA_DOC}),
]


def _token(sb: Sandbox, patient: str, caller: str, options: dict[str, Any]) -> str:
    kind, _, who = caller.partition(":")
    if kind == "psc":
        return sb.psc_token(who or None)
    if kind == "app":
        return sb.mes_token(patient, actor="app", app=who, scope="documents.read")
    if kind == "rl":
        return sb.mes_token(patient, actor="representant_legal", person=who)
    if kind == "aidant":
        return sb.mes_token(patient, actor="aidant", person=who)
    return sb.mes_token(who, **({"scope": options["scope"]} if "scope" in options else {}))


def _prepare(
    sb: Sandbox, dmp: httpx.Client, personas: Personas, patient: str, caller: str, options: dict[str, Any]
) -> None:
    """The holder's controls a row needs (an authorisation, a block), set through contract 3."""
    who = caller.partition(":")[2]
    holder = bearer(sb.mes_token(patient))
    if options.get("authorised"):
        until = (dt.date.today() + dt.timedelta(days=10)).isoformat()
        answer = dmp.put(
            f"/api/patient/controls/authorizations/{personas.professional(who).idnat}",
            json={"until": until},
            headers=holder,
        )
        assert answer.status_code in (200, 409), answer.text  # 409: blocked professionals stay blocked
    if options.get("blocked"):
        answer = dmp.put(f"/api/patient/controls/blocked/{personas.professional(who).idnat}", headers=holder)
        assert answer.status_code == 200, answer.text


def _documents(sb: Sandbox, personas: Personas, patient: str) -> dict[str, str]:
    """title → entryUUID of the patient's seeded documents (read from the snapshot)."""
    tables = sb.admin("dmp", "GET", "snapshot").json()["tables"]
    dossier = next(d["id"] for d in tables["dossiers"] if d["ins"] == personas.patient(patient).ins)
    return {
        d["resource"]["content"][0]["attachment"]["title"]: d["id"]
        for d in tables["documents"]
        if d["dossier_id"] == dossier and d["latest"]
    }


@pytest.mark.parametrize(
    ("patient", "caller", "options", "headers", "expected"),
    TABLE,
    ids=[
        f"{r[0].split('-')[0]}-{r[1]}-{r[3].get('X-DMP-Access-Mode', 'normal')}-{','.join(r[2])}"
        for r in TABLE
    ],
)
def test_who_sees_what(
    sb: Sandbox,
    dmp: httpx.Client,
    personas: Personas,
    patient: str,
    caller: str,
    options: dict[str, Any],
    headers: dict[str, str],
    expected: set[str] | int,
) -> None:
    _prepare(sb, dmp, personas, patient, caller, options)
    token = _token(sb, patient, caller, options)
    person = personas.patient(patient)
    answer = dmp.get(
        "/fhir/DocumentReference",
        params={"patient.identifier": f"{person.ins_system}|{person.ins}", "status": "current"},
        headers={**bearer(token), **headers},
    )
    documents = _documents(sb, personas, patient)
    if isinstance(expected, int):
        assert answer.status_code == expected, answer.text
        assert answer.json()["resourceType"] == "OperationOutcome"
        visible: set[str] = set()
    else:
        assert answer.status_code == 200, answer.text
        found = {e["resource"]["content"][0]["attachment"]["title"] for e in answer.json().get("entry", [])}
        assert found == expected
        visible = expected
    # Each document read directly: 200 when visible, else 404 as if it did not exist (Z.8).
    if isinstance(expected, int) and expected == 400:
        return
    for title, document_id in documents.items():
        read = dmp.get(f"/fhir/DocumentReference/{document_id}", headers={**bearer(token), **headers})
        hidden = options.get("reads", 404)
        assert read.status_code == (200 if title in visible else hidden), (title, read.text)


def test_an_authorisation_ends_with_its_date(sb: Sandbox, dmp: httpx.Client, personas: Personas) -> None:
    """Shown with the policy: the controls API refuses a past date, so the end is crossed in
    the database by moving the authorisation back (the sandbox's snapshot load)."""
    elise = personas.professional("elise-roux").idnat
    holder = bearer(sb.mes_token("dominique-pat-trois"))
    today = dt.date.today().isoformat()
    assert (
        dmp.put(
            f"/api/patient/controls/authorizations/{elise}", json={"until": today}, headers=holder
        ).status_code
        == 200
    )
    params = {"patient.identifier": "urn:oid:1.2.250.1.213.1.4.10|279035121518989", "status": "current"}
    token = sb.psc_token("elise-roux")
    assert dmp.get("/fhir/DocumentReference", params=params, headers=bearer(token)).status_code == 200
    snapshot = sb.admin("dmp", "GET", "snapshot").json()
    yesterday = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    for row in snapshot["tables"]["professional_controls"]:
        if row["idnat"] == elise:
            row["until"] = yesterday
    assert sb.admin("dmp", "PUT", "snapshot", json=snapshot).status_code == 200
    assert dmp.get("/fhir/DocumentReference", params=params, headers=bearer(token)).status_code == 403
    assert dmp.get("/api/patient/controls", headers=holder).json()["authorizations"] == []


def test_a_revoked_app_consent_closes_the_door_at_once(sb: Sandbox, dmp: httpx.Client) -> None:
    token = sb.mes_token("henri-leclerc", actor="app", app="ma-balance", scope="documents.read")
    params = {"patient.identifier": "urn:oid:1.2.250.1.213.1.4.10|141037505608915", "status": "current"}
    assert dmp.get("/fhir/DocumentReference", params=params, headers=bearer(token)).status_code == 200
    revoked = sb.admin(
        "catalog", "POST", "consents/revoke", json={"patient": "henri-leclerc", "app": "ma-balance"}
    )
    assert revoked.status_code in (200, 204), revoked.text
    assert dmp.get("/fhir/DocumentReference", params=params, headers=bearer(token)).status_code == 401


def test_refusals_are_traced_and_annotated(sb: Sandbox, dmp: httpx.Client) -> None:
    params = {"patient.identifier": "urn:oid:1.2.250.1.213.1.4.10|188016912314544", "status": "current"}
    answer = dmp.get("/fhir/DocumentReference", params=params, headers=bearer(sb.psc_token("paul-renaud")))
    assert answer.status_code == 403
    assert "blocked" in answer.json()["issue"][0]["diagnostics"]
    exchanges = sb.admin("dmp", "GET", "exchanges").json()
    records = exchanges if isinstance(exchanges, list) else exchanges.get("exchanges", [])
    notes = [
        note
        for record in records
        if record.get("path") == "/fhir/DocumentReference"
        for note in record.get("notes", [])
    ]
    assert any("refusé" in note and "blocked" in note for note in notes), notes

"""The holder's controls (contract 3, issue #4 item 8), as Mon espace santé calls them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import httpx
import pytest

from shared.personas import Personas
from tests.dmp.builders import bundle
from tests.dmp.conftest import pro_headers
from tests.support import Sandbox, bearer

pytestmark = pytest.mark.db

CONTROLS = "/api/patient/controls"


def idnat(personas: Personas, who: str) -> str:
    return personas.professional(who).idnat


def test_the_holder_reads_their_controls(
    dmp: httpx.Client, tokens: Callable[..., str], personas: Personas
) -> None:
    answer = dmp.get(CONTROLS, headers=bearer(tokens("mes", "dominique-pat-trois")))
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "ins": "279035121518989",
        "blocked": [],
        "authorizations": [],
        "medecin_traitant": idnat(personas, "jeanne-martin"),
        "break_glass_objection": False,
    }
    gabriel = dmp.get(CONTROLS, headers=bearer(tokens("mes", "gabriel-fontaine"))).json()
    assert gabriel["blocked"] == [idnat(personas, "paul-renaud")]
    assert gabriel["medecin_traitant"] is None
    assert (
        dmp.get(CONTROLS, headers=bearer(tokens("mes", "ghjulia-santoni"))).json()["break_glass_objection"]
        is True
    )


def test_block_and_unblock_a_professional(
    dmp: httpx.Client, tokens: Callable[..., str], personas: Personas
) -> None:
    headers = bearer(tokens("mes", "dominique-pat-trois"))
    kit = idnat(personas, "kit-doc0042788")
    blocked = dmp.put(f"{CONTROLS}/blocked/{kit}", headers=headers)
    assert blocked.status_code == 200 and blocked.json()["blocked"] == [kit]
    assert dmp.put(f"{CONTROLS}/blocked/{kit}", headers=headers).json()["blocked"] == [kit]  # idempotent
    # A blocked professional can no longer feed the DMP.
    request = bundle(personas.patient("dominique-pat-trois"), personas.professional("kit-doc0042788"))
    kit_headers = pro_headers(tokens("psc", "kit-doc0042788"))
    assert dmp.post("/fhir", json=request, headers=kit_headers).status_code == 403
    unblocked = dmp.delete(f"{CONTROLS}/blocked/{kit}", headers=headers)
    assert unblocked.status_code == 200 and unblocked.json()["blocked"] == []
    assert dmp.post("/fhir", json=request, headers=kit_headers).status_code == 200


def test_authorise_a_professional_until_a_date(
    dmp: httpx.Client, tokens: Callable[..., str], personas: Personas
) -> None:
    headers = bearer(tokens("mes", "dominique-pat-trois"))
    elise = idnat(personas, "elise-roux")
    until = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    granted = dmp.put(f"{CONTROLS}/authorizations/{elise}", json={"until": until}, headers=headers)
    assert granted.status_code == 200, granted.text
    assert granted.json()["authorizations"] == [{"idnat": elise, "until": until}]
    later = (dt.date.today() + dt.timedelta(days=60)).isoformat()
    assert dmp.put(f"{CONTROLS}/authorizations/{elise}", json={"until": later}, headers=headers).json()[
        "authorizations"
    ] == [{"idnat": elise, "until": later}]
    assert dmp.delete(f"{CONTROLS}/authorizations/{elise}", headers=headers).json()["authorizations"] == []


def test_medecin_traitant_and_objection(
    dmp: httpx.Client, tokens: Callable[..., str], personas: Personas
) -> None:
    headers = bearer(tokens("mes", "gabriel-fontaine"))
    karim = idnat(personas, "karim-benali")
    answer = dmp.put(f"{CONTROLS}/medecin-traitant", json={"idnat": karim}, headers=headers)
    assert answer.status_code == 200 and answer.json()["medecin_traitant"] == karim
    pharmacist = dmp.put(
        f"{CONTROLS}/medecin-traitant", json={"idnat": idnat(personas, "elise-roux")}, headers=headers
    )
    assert pharmacist.status_code == 422
    assert (
        dmp.put(f"{CONTROLS}/medecin-traitant", json={"idnat": None}, headers=headers).json()[
            "medecin_traitant"
        ]
        is None
    )
    objected = dmp.put(f"{CONTROLS}/break-glass-objection", json={"objection": True}, headers=headers)
    assert objected.json()["break_glass_objection"] is True


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "error"),
    [
        ("PUT", "/blocked/123", None, 400, "invalid_request"),
        ("PUT", "/blocked/899700112546", None, 400, "invalid_request"),  # RPPS Luhn key wrong
        ("PUT", "/authorizations/899700334586", {"until": "2001-01-01"}, 422, "unprocessable"),
        ("PUT", "/authorizations/899700334586", {"until": "demain"}, 422, "validation_error"),
        ("PUT", "/authorizations/899700446125", {"until": "2099-01-01"}, 200, None),
        ("PUT", "/blocked/899700112545", None, 409, "conflict"),  # the médecin traitant
        ("PUT", "/break-glass-objection", {"objection": "peut-être"}, 422, "validation_error"),
    ],
)
def test_bad_control_requests_are_json_errors(
    dmp: httpx.Client,
    tokens: Callable[..., str],
    method: str,
    path: str,
    body: dict[str, object] | None,
    status: int,
    error: str | None,
) -> None:
    answer = dmp.request(
        method, CONTROLS + path, json=body, headers=bearer(tokens("mes", "dominique-pat-trois"))
    )
    assert answer.status_code == status, answer.text
    if error:
        assert set(answer.json()) == {"error", "detail"} and answer.json()["error"] == error


def test_a_blocked_professional_cannot_be_authorised(
    dmp: httpx.Client, tokens: Callable[..., str], personas: Personas
) -> None:
    paul = idnat(personas, "paul-renaud")
    answer = dmp.put(
        f"{CONTROLS}/authorizations/{paul}",
        json={"until": "2099-01-01"},
        headers=bearer(tokens("mes", "gabriel-fontaine")),
    )
    assert answer.status_code == 409


def test_a_legal_representative_manages_the_childs_controls(
    dmp: httpx.Client, tokens: Callable[..., str], personas: Personas
) -> None:
    token = tokens("mes", "lucas-pat-trois", actor="representant_legal", person="dominique-pat-trois")
    kit = idnat(personas, "kit-doc0042788")
    answer = dmp.put(f"{CONTROLS}/blocked/{kit}", headers=bearer(token))
    assert answer.status_code == 200 and answer.json()["ins"] == personas.patient("lucas-pat-trois").ins
    assert answer.json()["blocked"] == [kit]


@pytest.mark.parametrize(
    ("kind", "who", "options", "status"),
    [
        ("mes", "henri-leclerc", {"actor": "aidant", "person": "claire-leclerc"}, 403),
        ("mes", "dominique-pat-trois", {"scope": "documents.read"}, 403),
        ("psc", "jeanne-martin", {}, 403),
        ("psc", None, {}, 403),
        ("mes", "yasmine-haddad", {}, 404),
    ],
    ids=["caregiver", "no-dmp.manage", "professional", "software", "no-dmp"],
)
def test_who_may_not_manage_the_controls(
    sb: Sandbox,
    dmp: httpx.Client,
    tokens: Callable[..., str],
    kind: str,
    who: str | None,
    options: dict[str, str],
    status: int,
) -> None:
    answer = dmp.put(
        f"{CONTROLS}/break-glass-objection",
        json={"objection": True},
        headers=bearer(tokens(kind, who, **options)),
    )
    assert answer.status_code == status, answer.text
    assert set(answer.json()) == {"error", "detail"}


def test_controls_need_a_token(dmp: httpx.Client) -> None:
    answer = dmp.get(CONTROLS)
    assert answer.status_code == 401 and set(answer.json()) == {"error", "detail"}


def test_every_change_is_traced(
    sb: Sandbox, dmp: httpx.Client, tokens: Callable[..., str], personas: Personas
) -> None:
    headers = bearer(tokens("mes", "dominique-pat-trois"))
    dmp.put(f"{CONTROLS}/blocked/{idnat(personas, 'kit-doc0042788')}", headers=headers)
    dmp.put(f"{CONTROLS}/blocked/123", headers=headers)  # refused: traced as such
    traces = sorted(
        (
            t
            for t in sb.admin("dmp", "GET", "snapshot").json()["tables"]["audit_events"]
            if t["subtype"] == "CONTROLS"
        ),
        key=lambda t: t["recorded"],
    )
    assert [(t["action"], t["outcome"], t["agent_kind"]) for t in traces] == [
        ("U", "0", "patient"),
        ("U", "4", "patient"),
    ]

"""ITI-67's direct path (services/dmp/documents/direct.py, issue #4 item 10) against the
session path: ``GET`` takes the direct one, ``POST _search`` the session one; both must give
the same bytes and write the same trace, for every caller of the access-rule table, every
refusal and the searches the direct path gives back. And ``GET`` answered in front of the
router (``front_routes`` in services/dmp/documents/routes.py) as by the route."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from services.dmp.access.caller import AccessMode, Caller
from services.dmp.audit.service import Trace, run_traced
from services.dmp.documents import direct, service
from services.dmp.documents.params import Params
from shared.db.base import utcnow
from shared.db.engine import Database
from shared.oauth.principals import principal_from_claims
from shared.personas import Personas
from tests.dmp.builders import bundle
from tests.dmp.conftest import pro_headers
from tests.dmp.test_access_rules import REASON, TABLE, _prepare, _token
from tests.dmp.test_front_publish import ADMIN, _app
from tests.support import Sandbox, bearer

pytestmark = pytest.mark.db

DOMINIQUE = "urn:oid:1.2.250.1.213.1.4.10|279035121518989"
#: A trace's columns that differ between two requests whatever the path.
_OWN = ("id", "recorded")


def _searches(sb: Sandbox) -> list[dict[str, Any]]:
    rows = sb.admin("dmp", "GET", "snapshot").json()["tables"]["audit_events"]
    found = sorted((r for r in rows if r["subtype"] == "ITI-67"), key=lambda r: str(r["recorded"]))
    return [{k: v for k, v in r.items() if k not in _OWN} for r in found]


def _both(
    sb: Sandbox, dmp: httpx.Client, params: list[tuple[str, str]], headers: dict[str, str]
) -> httpx.Response:
    """The search by GET then by POST: the same status, bytes and trace; the GET's answer."""
    before = len(_searches(sb))
    got = dmp.get("/fhir/DocumentReference", params=tuple(params), headers=headers)
    posted = dmp.post("/fhir/DocumentReference/_search", data=dict(params), headers=headers)
    assert (got.status_code, got.content) == (posted.status_code, posted.content)
    traces = _searches(sb)[before:]
    assert len(traces) in (0, 2), traces
    if traces:
        assert traces[0] == traces[1]
    return got


NORMAL = [row for row in TABLE if "X-DMP-Access-Mode" not in row[3]]


@pytest.mark.parametrize(
    ("patient", "caller", "options", "headers", "expected"),
    NORMAL,
    ids=[f"{r[0].split('-')[0]}-{r[1]}-{','.join(r[2])}" for r in NORMAL],
)
def test_every_caller_gets_the_same_answer_and_trace_on_both_paths(
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
    params = [("patient.identifier", f"{person.ins_system}|{person.ins}"), ("status", "current")]
    answer = _both(sb, dmp, params, {**bearer(token), **headers})
    assert answer.status_code == (expected if isinstance(expected, int) else 200), answer.text


@pytest.mark.parametrize(
    "params",
    [
        [("patient.identifier", DOMINIQUE), ("status", "current"), ("_count", "1")],
        [("patient.identifier", DOMINIQUE), ("status", "current"), ("_count", "1"), ("_offset", "2")],
        [("patient:identifier", DOMINIQUE)],  # status missing: current, with a warning
        [("patient.identifier", DOMINIQUE), ("status", "current"), ("foo", "bar")],  # ignored, warned
        [("patient.identifier", DOMINIQUE), ("status", "superseded")],  # none
        [("patient.identifier", DOMINIQUE), ("status", "current,superseded")],  # given back
        [("patient.identifier", DOMINIQUE), ("status", "cancelled")],  # 400
        [("patient.identifier", DOMINIQUE), ("_count", "x")],  # 400
        [("patient.identifier", DOMINIQUE), ("status", "current"), ("type", "http://loinc.org|11488-4")],
        [("patient.identifier", "urn:oid:1.2.250.1.213.1.4.10|204099304803137"), ("status", "current")],
        [("patient.identifier", "urn:oid:1.2.250.1.213.1.4.10|123")],  # 400
        [("patient", "no-such-dmp"), ("status", "current")],
        [("status", "current")],  # 400: no patient
    ],
)
def test_searches_get_the_same_answer_and_trace_on_both_paths(
    sb: Sandbox, dmp: httpx.Client, params: list[tuple[str, str]]
) -> None:
    _both(sb, dmp, params, bearer(sb.psc_token("jeanne-martin")))


def test_a_searchset_in_xml_on_both_paths(sb: Sandbox, dmp: httpx.Client) -> None:
    # POST's _format would be in its body, which content negotiation does not read.
    headers = {**bearer(sb.psc_token("jeanne-martin")), "Accept": "application/fhir+xml"}
    answer = _both(sb, dmp, [("patient.identifier", DOMINIQUE), ("status", "current")], headers)
    assert answer.text.count("<DocumentReference") == 3


def test_a_dmp_named_by_its_patient_id(sb: Sandbox, dmp: httpx.Client) -> None:
    token = sb.psc_token("jeanne-martin")
    found = dmp.get("/fhir/Patient", params={"identifier": DOMINIQUE}, headers=bearer(token)).json()
    patient_id = found["entry"][0]["resource"]["id"]
    answer = _both(sb, dmp, [("patient", patient_id), ("status", "current")], bearer(token))
    assert answer.json()["total"] == 3


def test_a_replacement_names_the_current_version_it_replaces_on_both_paths(
    sb: Sandbox, dmp: httpx.Client, personas: Personas
) -> None:
    token = sb.psc_token("jeanne-martin")
    params = [("patient.identifier", DOMINIQUE), ("status", "current")]
    first = dmp.get("/fhir/DocumentReference", params=tuple(params), headers=bearer(token)).json()["entry"][
        -1
    ]
    replacing = bundle(
        personas.patient("dominique-pat-trois"),
        personas.professional("jeanne-martin"),
        replaces=first["resource"]["id"],
        title="Compte rendu corrigé",
    )
    assert dmp.post("/fhir", json=replacing, headers=pro_headers(token)).status_code == 200
    superseded = _both(sb, dmp, [*params[:1], ("status", "superseded")], bearer(token)).json()
    newest = _both(sb, dmp, params, bearer(token)).json()["entry"][0]["resource"]
    target = newest["relatesTo"][0]["target"]["reference"]
    assert target == f"DocumentReference/{superseded['entry'][0]['resource']['id']}"


def _reader(personas: Personas, token: str, mode: AccessMode = "normal") -> service.Reader:
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    caller = Caller(principal_from_claims(claims, "psc"), mode, "urgence" if mode != "normal" else None)
    return service.Reader(
        caller=caller,
        base_url="http://dmp.test/fhir",
        personas=personas,
        trace=Trace("ITI-67", "E"),
        now=utcnow(),
        page_size=20,
        max_page_size=200,
    )


def _direct(db: Database, params: Params, reader: service.Reader) -> dict[str, Any] | None:
    """The direct search on ``db``, from a test: on an event loop of its own, with the
    database's event-loop connections (PostgreSQL) open for it."""

    async def search() -> dict[str, Any] | None:
        await db.open_loop()
        try:
            return await direct.find_documents(db, params, reader)
        finally:
            await db.close_loop()

    return asyncio.run(search())


@pytest.fixture
def database(sb: Sandbox) -> Iterator[Callable[[], Database]]:
    opened: list[Database] = []

    def open_() -> Database:
        opened.append(Database(sb.topology.settings("dmp").resolved_database_url()))
        return opened[-1]

    yield open_
    for db in opened:
        db.dispose()


def test_the_direct_path_answers_the_usual_search_and_gives_back_the_others(
    sb: Sandbox, database: Callable[[], Database], personas: Personas
) -> None:
    db, token = database(), sb.psc_token("jeanne-martin")
    usual = Params([("patient.identifier", DOMINIQUE), ("status", "current")])
    fast = _reader(personas, token)
    answer = _direct(db, usual, fast)
    full = _reader(personas, token)
    reference = run_traced(
        db, full.caller, full.trace, lambda s: service.find_documents(s, usual, full), read=True
    )
    assert answer is not None and answer == reference and answer["total"] == 3
    assert fast.trace == full.trace and len(_searches(sb)) == 2
    modes: tuple[tuple[list[tuple[str, str]], AccessMode], ...] = (
        ([("patient.identifier", DOMINIQUE), ("status", "current,superseded")], "normal"),
        ([("patient.identifier", DOMINIQUE), ("status", "current"), ("type", "11488-4")], "normal"),
        ([("patient.identifier", DOMINIQUE), ("status", "current")], "bris_de_glace"),
    )
    for params, mode in modes:
        assert _direct(db, Params(params), _reader(personas, token, mode)) is None
    assert len(_searches(sb)) == 2  # given back: nothing written


@pytest.fixture
def front_and_routed(sb: Sandbox, tmp_path: Path) -> Iterator[tuple[TestClient, TestClient]]:
    """Two DMPs seeded alike on the running sandbox's issuers: ITI-67 in front of the
    router, and through the route only."""
    with (
        TestClient(_app(sb, tmp_path / "front", front=True)) as front,
        TestClient(_app(sb, tmp_path / "routed", front=False)) as routed,
    ):
        yield front, routed


def _traces(client: TestClient) -> list[dict[str, Any]]:
    rows = client.get("/_sandbox/snapshot", headers=ADMIN).json()["tables"]["audit_events"]
    return [{k: v for k, v in r.items() if k not in _OWN} for r in rows if r["subtype"] == "ITI-67"]


FRONT_CASES: list[tuple[str, Callable[[Sandbox], dict[str, str]], list[tuple[str, str]], int]] = [
    ("found", lambda sb: bearer(sb.psc_token("jeanne-martin")), [("patient.identifier", DOMINIQUE)], 200),
    (
        "paged",
        lambda sb: bearer(sb.psc_token("jeanne-martin")),
        [("patient.identifier", DOMINIQUE), ("_count", "1")],
        200,
    ),
    ("xml", lambda sb: {**bearer(sb.psc_token("jeanne-martin")), "Accept": "application/fhir+xml"}, [], 200),
    ("refused", lambda sb: bearer(sb.psc_token("elise-roux")), [("patient.identifier", DOMINIQUE)], 403),
    ("software", lambda sb: bearer(sb.psc_token(None)), [("patient.identifier", DOMINIQUE)], 403),
    ("no token", lambda sb: {}, [("patient.identifier", DOMINIQUE)], 401),
    ("forged token", lambda sb: bearer(sb.psc_token("jeanne-martin")[:-4] + "AAAA"), [], 401),
    ("bad mode", lambda sb: {**bearer(sb.psc_token("jeanne-martin")), "X-DMP-Access-Mode": "x"}, [], 400),
    (
        "emergency",
        lambda sb: {**bearer(sb.psc_token("elise-roux")), "X-DMP-Access-Mode": "bris_de_glace", **REASON},
        [("patient.identifier", DOMINIQUE)],
        200,
    ),
    (
        "bad status",
        lambda sb: bearer(sb.psc_token("jeanne-martin")),
        [("patient.identifier", DOMINIQUE), ("status", "x")],
        400,
    ),
    ("no patient", lambda sb: bearer(sb.psc_token("jeanne-martin")), [("status", "current")], 400),
]


@pytest.mark.parametrize(
    ("name", "headers", "params", "status"), FRONT_CASES, ids=[c[0] for c in FRONT_CASES]
)
def test_the_front_search_answers_and_traces_as_the_route(
    front_and_routed: tuple[TestClient, TestClient],
    sb: Sandbox,
    name: str,
    headers: Callable[[Sandbox], dict[str, str]],
    params: list[tuple[str, str]],
    status: int,
) -> None:
    sent = headers(sb)
    query = tuple(params or [("patient.identifier", DOMINIQUE), ("status", "current")])
    front, routed = (c.get("/fhir/DocumentReference", params=query, headers=sent) for c in front_and_routed)
    assert (front.status_code, front.content) == (routed.status_code, routed.content)
    assert front.status_code == status, front.text
    assert front.headers["content-type"] == routed.headers["content-type"]
    assert front.headers.get("www-authenticate") == routed.headers.get("www-authenticate")
    assert _traces(front_and_routed[0]) == _traces(front_and_routed[1])

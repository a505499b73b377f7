"""Exchanges → calls between actors: pairing, nesting, order, actors; and the exports
drawn from it (Mermaid, SVG, PNG, HAR)."""

from __future__ import annotations

import base64
import json
import re

from services.console.journeys import har, layout, mermaid, png, svg
from services.console.journeys.model import build_journey, external_actor, summarise
from tests.console.exchanges import dmp_read_with_introspection, exchange

APPS = frozenset({"app-ma-balance"})


def _jwt(claims: dict[str, object]) -> str:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'ES256', 'kid': 'k'})}.{part(claims)}.c2ln"


def test_a_call_recorded_by_both_ends_is_one_arrow_nested_under_the_request_that_made_it() -> None:
    journey = build_journey(dmp_read_with_introspection(), APPS)
    [section] = journey.sections
    [root] = section.calls
    assert (root.caller, root.target, root.path) == ("editor", "dmp", "/fhir/DocumentReference")
    # Two calls to PSC, each seen twice, become two children, in the DMP's order.
    assert [c.path.rsplit("/", 1)[-1] for c in root.children] == ["certs", "introspect"]
    assert all((c.caller, c.target) == ("dmp", "psc_auth") for c in root.children)
    introspection = root.children[1]
    assert introspection.inbound is not None and introspection.outbound is not None
    # The callee's record is the one shown: it knows the OAuth client.
    assert introspection.record["service"] == "psc_auth"
    assert introspection.record["client_id"] == "mes-sandbox-dmp"
    assert journey.actors == ["editor", "psc_auth", "dmp"]
    assert len(journey.calls) == 3


def test_an_outbound_call_without_its_inbound_record_still_shows() -> None:
    items = [e for e in dmp_read_with_introspection() if e["service"] != "psc_auth"]
    root = build_journey(items, APPS).sections[0].calls[0]
    assert [c.record["service"] for c in root.children] == ["dmp", "dmp"]
    assert all(c.inbound is None for c in root.children)


def test_refused_calls_and_their_access_notes() -> None:
    journey = build_journey(dmp_read_with_introspection(status=403), APPS)
    root = journey.sections[0].calls[0]
    assert root.refused
    assert root.notes == ["DMP: refusé — professionnel bloqué par le patient"]
    [summary] = summarise(dmp_read_with_introspection(status=403), APPS)
    assert (summary.refused, summary.notes, summary.calls) == (1, 1, 3)
    assert summary.clients == ("dpi-valmont", "mes-sandbox-dmp")
    assert not summary.console_only
    assert summary.reason == "DMP: refusé — professionnel bloqué par le patient"


def test_who_is_calling_from_outside_comes_from_the_token() -> None:
    def request(token: str | None = None, path: str = "/fhir/DocumentReference", service: str = "dmp"):
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return exchange(service, "inbound", "GET", path, at=0, span="1" * 16, request_headers=headers)

    assert external_actor(request(_jwt({"mes_actor": "app", "azp": "x"})), APPS) == "app"
    assert external_actor(request(_jwt({"azp": "app-ma-balance"})), APPS) == "app"
    assert external_actor(request(_jwt({"mes_actor": "patient"})), APPS) == "patient"
    assert external_actor(request(_jwt({"mes_actor": "aidant"})), APPS) == "patient"
    assert external_actor(request(_jwt({"azp": "dpi-valmont", "SubjectNameID": "8"})), APPS) == "editor"
    assert external_actor(request("not-a-jwt"), APPS) == "editor"
    assert external_actor(request(None, "/ecps/899700112545", "psc_auth"), APPS) == "ecps"


def test_traces_are_sections_in_the_order_asked_with_titles() -> None:
    first = dmp_read_with_introspection(trace="1" * 32)
    second = [exchange("mss", "inbound", "GET", "/api/mailboxes", at=100, span="9" * 16, trace="2" * 32)]
    journey = build_journey(
        [*second, *first], APPS, [("2" * 32, "Étape 2"), ("1" * 32, "Étape 1"), ("3" * 32, "vide")]
    )
    assert [(s.trace_id[0], s.title, len(s.calls)) for s in journey.sections] == [
        ("2", "Étape 2", 1),
        ("1", "Étape 1", 1),
        ("3", "vide", 0),
    ]
    assert [s.trace_id[0] for s in summarise([*first, *second], APPS)] == ["2", "1"]  # newest first


def test_mermaid_has_one_arrow_per_request_and_answer_and_the_notes() -> None:
    text = mermaid.render(build_journey(dmp_read_with_introspection(status=403), APPS), "Lecture refusée")
    lines = [line.strip() for line in text.splitlines()]
    assert lines[:3] == ["---", "title: Lecture refusée", "---"]
    assert "sequenceDiagram" in lines
    assert "participant editor as Logiciel de l'éditeur" in lines
    requests = [line for line in lines if "->>+" in line]
    answers = [line for line in lines if re.match(r"^\w+(--x|-->>)-\w+:", line)]
    assert [r.split(":")[0] for r in requests] == ["editor->>+dmp", "dmp->>+psc_auth", "dmp->>+psc_auth"]
    assert answers[-1] == "dmp--x-editor: 403 Forbidden"  # a refusal ends with a cross
    assert "Note over dmp: DMP: refusé — professionnel bloqué par le patient" in lines
    assert lines.index("Note over dmp: DMP: refusé — professionnel bloqué par le patient") < lines.index(
        answers[-1]
    )


def test_mermaid_escapes_what_its_grammar_reserves() -> None:
    item = exchange("dmp", "inbound", "GET", "/fhir/a;b#c", at=0, span="1" * 16, notes=["x; y <z>"])
    text = mermaid.render(build_journey([item], APPS))
    assert "GET /fhir/a#59;b#35;c" in text
    assert "Note over dmp: x#59; y #lt;z#gt;" in text


def test_svg_arrows_carry_their_ends_and_link_to_their_exchange() -> None:
    journey = build_journey(dmp_read_with_introspection(status=403), APPS)
    markup = svg.render(layout.layout(journey), link=lambda key: f"/x/{key}")
    requests = re.findall(r'<g class="request" data-key="([^"]+)" data-from="(\w+)" data-to="(\w+)"', markup)
    responses = re.findall(
        r'<g class="response" data-key="[^"]+" data-from="(\w+)" data-to="(\w+)" data-status="(\d+)"', markup
    )
    assert [(f, t) for _, f, t in requests] == [("editor", "dmp"), ("dmp", "psc_auth"), ("dmp", "psc_auth")]
    assert responses[-1] == ("dmp", "editor", "403")
    assert f'href="/x/{requests[0][0]}"' in markup
    assert markup.count('class="note"') == 1
    standalone = svg.render(layout.layout(journey), standalone=True)
    assert standalone.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    assert "href=" not in standalone


def test_png_is_a_picture_of_the_layout() -> None:
    drawing = layout.layout(build_journey(dmp_read_with_introspection(), APPS))
    picture = png.render(drawing)
    assert picture[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(picture[16:20], "big"), int.from_bytes(picture[20:24], "big")
    assert (width, height) == (int(drawing.width * 2), int(drawing.height * 2))  # crisp: twice the size
    tall = layout.layout(build_journey([e for _ in range(60) for e in dmp_read_with_introspection()], APPS))
    picture = png.render(tall)
    assert int.from_bytes(picture[20:24], "big") == int(tall.height)  # huge: drawn at size 1


def test_har_has_one_entry_per_call_with_urls_bodies_and_notes() -> None:
    items = dmp_read_with_introspection(status=403)
    items[3]["request"]["headers"] = {"content-type": "application/json"}
    items[3]["request"]["body"] = '{"a": 1}'
    items[3]["query"] = "status=current&patient.identifier=x"
    document = har.render(build_journey(items, APPS), lambda s: f"http://{s}.test")
    log = document["log"]
    assert log["version"] == "1.2"
    assert [p["id"] for p in log["pages"]] == ["a" * 32]
    first = log["entries"][0]
    assert (
        first["request"]["url"]
        == "http://dmp.test/fhir/DocumentReference?status=current&patient.identifier=x"
    )
    assert first["request"]["queryString"] == [
        {"name": "status", "value": "current"},
        {"name": "patient.identifier", "value": "x"},
    ]
    assert first["request"]["postData"] == {"mimeType": "application/json", "text": '{"a": 1}'}
    assert first["response"]["status"] == 403
    assert first["_notes"] == ["DMP: refusé — professionnel bloqué par le patient"]
    assert [(e["_caller"], e["_target"]) for e in log["entries"]] == [
        ("editor", "dmp"),
        ("dmp", "psc_auth"),
        ("dmp", "psc_auth"),
    ]
    json.dumps(document)  # plain JSON all the way down


def test_the_patients_browser_and_an_apps_authorization_request() -> None:
    space = exchange(
        "catalog", "inbound", "POST", "/espace/applications/ma-balance/revoquer", at=0, span="1" * 16
    )
    assert external_actor(space, APPS) == "patient"
    pairing = exchange("catalog", "inbound", "GET", "/oauth/authorize", at=0, span="2" * 16)
    pairing["query"] = "response_type=code&client_id=app-ma-balance&scope=mesures.write"
    assert external_actor(pairing, APPS) == "app"


def test_a_peer_the_console_does_not_know_still_gets_a_column() -> None:
    call = exchange("dmp", "outbound", "GET", "/x", at=0, span="3" * 16, target="laboratoire")
    journey = build_journey([call], APPS)
    assert journey.actors == ["dmp", "laboratoire"]
    assert "participant laboratoire as laboratoire" in mermaid.render(journey)
    assert 'data-to="laboratoire"' in svg.render(layout.layout(journey))

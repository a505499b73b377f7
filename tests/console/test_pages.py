"""The console's pages over real HTTP against the running sandbox: its guard, the home
page, the journeys of real traffic (a refused call and why), the exports, reset and
snapshot, scenarios played step by step."""

from __future__ import annotations

import html
import json
import re
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.support import ADMIN_TOKEN, Sandbox, bearer

pytestmark = pytest.mark.db

DOMINIQUE = "urn:oid:1.2.250.1.213.1.4.10|279035121518989"


def console(sb: Sandbox, **headers: str) -> httpx.Client:
    return httpx.Client(base_url=sb.url("console"), timeout=30.0, headers={**bearer(ADMIN_TOKEN), **headers})


def refused_dmp_read(sb: Sandbox, trace: str) -> None:
    """The editor's software presents an altered token to the DMP, in trace ``trace``."""
    token = sb.psc_token("jeanne-martin")
    answer = sb.client("dmp").get(
        "/fhir/Patient",
        params={"identifier": DOMINIQUE},
        headers={**bearer(token[:-6] + "AAAAAA"), "traceparent": f"00-{trace}-00f067aa0ba902b7-01"},
    )
    assert answer.status_code == 401


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Cookie": "mes_console=forged"}])
def test_the_console_asks_for_the_admin_token_when_the_sandbox_has_one(sb: Sandbox, headers) -> None:
    client = httpx.Client(base_url=sb.url("console"), timeout=30.0, headers=headers)
    for method, path in (
        ("GET", "/"),
        ("GET", "/parcours"),
        ("POST", "/reinitialiser"),
        ("GET", "/instantane"),
    ):
        answer = client.request(method, path, headers={"Accept": "application/json"})
        assert answer.status_code == 401, (method, path)
        assert answer.json()["error"] == "unauthorized"
        assert answer.headers["www-authenticate"].startswith("Bearer")
    page = client.get("/parcours?erreurs=true", headers={"Accept": "text/html"})
    assert page.status_code == 303
    assert page.headers["location"] == "/connexion?suite=/parcours%3Ferreurs%3Dtrue"


def test_signing_in_with_the_admin_token_sets_a_cookie(sb: Sandbox) -> None:
    client = httpx.Client(base_url=sb.url("console"), timeout=30.0)
    wrong = client.post("/connexion", data={"jeton": "nope", "suite": "/parcours"})
    assert wrong.status_code == 401
    assert "Ce n'est pas le jeton" in html.unescape(wrong.text)
    assert "mes_console" not in wrong.cookies
    escape = client.post("/connexion", data={"jeton": ADMIN_TOKEN, "suite": "//evil.example/"})
    assert escape.headers["location"] == "/"  # no open redirect
    right = client.post("/connexion", data={"jeton": ADMIN_TOKEN, "suite": "/parcours"})
    assert right.status_code == 303 and right.headers["location"] == "/parcours"
    assert "samesite=strict" in right.headers["set-cookie"].lower()
    assert client.get("/", headers={"Accept": "text/html"}).status_code == 200


def test_home_shows_each_service_and_one_click_actions_per_persona(sb: Sandbox) -> None:
    page = console(sb).get("/").text
    for name in ("psc_auth", "dmp", "mss", "catalog"):
        row = re.search(rf'<tr data-service="{name}">(.*?)</tr>', page, re.S)
        assert row is not None, name
        assert "prêt" in row.group(1)
        assert f'href="{sb.url(name)}/docs"' in row.group(1)
    assert 'href="/connexion-pro/jeanne-martin"' in page
    assert f'href="{sb.url("psc_auth")}/ecps/899700112545"' in page
    # Dr Lefèvre has no e-CPS: no e-CPS app button for her.
    lefevre = re.search(r'<tr data-persona="sophie-lefevre">(.*?)</tr>', page, re.S)
    assert lefevre is not None and "/ecps/" not in lefevre.group(1)
    assert f'href="{sb.url("catalog")}/espace/?login_hint=279035121518989"' in page
    assert "Réinitialiser le bac à sable" in page


def test_the_journey_of_a_refused_call_shows_the_arrows_the_token_and_why(sb: Sandbox) -> None:
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    refused_dmp_read(sb, trace)
    client = console(sb)
    listing = html.unescape(client.get("/parcours", params={"erreurs": "true"}).text)
    assert f'data-trace="{trace}"' in listing
    row = listing.split(f'data-trace="{trace}"')[1].split("</tr>")[0]
    assert "the access token is not valid here" in row  # why, right in the list
    page = client.get(f"/parcours/{trace}").text
    arrows = re.findall(
        r'<g class="(request|response)" data-key="([^"]+)" data-from="(\w+)" data-to="(\w+)"', page
    )
    assert arrows[0][0] == "request" and arrows[0][2:] == ("editor", "dmp")
    assert arrows[-1][0] == "response" and arrows[-1][2:] == ("dmp", "editor")
    assert 'data-status="401"' in page
    key = arrows[0][1]
    detail = html.unescape(client.get(f"/parcours/{trace}/echanges/{key}").text)
    assert "signature invalide" in detail
    assert "Pro Santé Connect" in detail
    assert '"SubjectNameID": "899700112545"' in detail  # the claims, decoded
    assert "the access token is not valid here" in detail  # the OperationOutcome, read out
    panel = client.get(f"/parcours/{trace}/echanges/{key}", params={"fragment": "1"}).text
    assert panel.lstrip().startswith('<div class="exchange"')
    assert client.get(f"/parcours/{trace}/echanges/dmp.999999").status_code == 404


def test_a_journey_exports_as_mermaid_svg_png_and_har(sb: Sandbox) -> None:
    trace = "5bf92f3577b34da6a3ce929d0e0e4736"
    refused_dmp_read(sb, trace)
    client = console(sb)
    expected = {
        "mmd": "text/vnd.mermaid",
        "svg": "image/svg+xml",
        "png": "image/png",
        "har": "application/json",
    }
    files = {}
    for fmt, media in expected.items():
        answer = client.get(f"/parcours/{trace}/export.{fmt}")
        assert answer.status_code == 200, fmt
        assert answer.headers["content-type"].startswith(media)
        assert answer.headers["content-disposition"] == f'attachment; filename="parcours-{trace[:8]}.{fmt}"'
        files[fmt] = answer.content
    assert b"editor->>+dmp: TD0.2" in files["mmd"]
    assert b"dmp--x-editor: 401 Unauthorized" in files["mmd"]
    assert files["svg"].startswith(b"<?xml") and b'data-status="401"' in files["svg"]
    assert files["png"][:8] == b"\x89PNG\r\n\x1a\n"
    har = json.loads(files["har"])
    [entry] = [e for e in har["log"]["entries"] if e["_caller"] == "editor"]
    assert entry["request"]["url"].startswith(f"{sb.url('dmp')}/fhir/Patient?identifier=")
    assert entry["response"]["status"] == 401
    assert client.get(f"/parcours/{trace}/export.pdf").json()["error"] == "invalid_request"
    assert client.get(f"/parcours/{'0' * 31}1/export.svg").status_code == 404
    assert client.get("/parcours/not-a-trace").status_code == 422


def test_the_live_state_moves_when_something_new_is_recorded(sb: Sandbox) -> None:
    client = console(sb)
    before = client.get("/parcours/etat").json()["version"]
    sb.client("dmp").get("/fhir/metadata")
    after = client.get("/parcours/etat").json()["version"]
    assert before != after
    trace = "6bf92f3577b34da6a3ce929d0e0e4736"
    empty = client.get(f"/parcours/{trace}/etat").json()["version"]
    refused_dmp_read(sb, trace)
    assert client.get(f"/parcours/{trace}/etat").json()["version"] != empty
    fragment = client.get(f"/parcours/{trace}", params={"fragment": "1"}).text
    assert "<html" not in fragment and "<svg" in fragment


def test_a_scenario_played_step_by_step_from_the_console(sb: Sandbox) -> None:
    client = console(sb)
    started = client.post("/scenarios/premiers-pas/executions")
    assert started.status_code == 303
    run_url = started.headers["location"]
    page = client.get(run_url).text
    assert 'id="next-step"' in page and 'data-status="ready"' in page
    steps = len(re.findall(r'<div class="step[^"]*"[^>]*data-step=', page))
    for played in range(1, steps + 1):
        answer = client.post(f"{run_url}/suivante")
        assert answer.status_code == 303
        page = client.get(run_url).text
        assert page.count('class="step passed"') == played, page
    assert 'data-status="passed"' in page
    assert "Étape 2 · TD0.2" in page  # one band per step in the diagram
    assert client.post(f"{run_url}/suivante").status_code == 409
    mermaid = client.get(f"{run_url}/export.mmd").text
    assert "Note over editor,mss: Étape 4 · Un jeton altéré est refusé" in mermaid
    assert client.get("/scenarios/executions/nope").status_code == 404
    assert client.post("/scenarios/nope/executions").status_code == 404


def test_reset_and_snapshot_cover_every_service_and_the_console(sb: Sandbox) -> None:
    client = console(sb)
    client.post("/scenarios/premiers-pas/executions", data={"tout": "true"})
    bundle = client.get("/instantane")
    assert bundle.headers["content-disposition"].startswith("attachment")
    data = bundle.json()
    assert data["format"] == "mes-sandbox-bundle/1"
    assert sorted(data["services"]) == ["catalog", "console", "dmp", "mss", "psc_auth"]
    assert len(data["services"]["console"]["tables"]["scenario_runs"]) == 1
    assert client.post("/reinitialiser").headers["location"] == "/?message=reinitialise"
    assert 'id="runs"' not in client.get("/scenarios").text
    loaded = client.post("/instantane", files={"fichier": ("s.json", bundle.content, "application/json")})
    assert loaded.status_code == 303
    assert 'id="runs"' in client.get("/scenarios").text
    bad = client.post("/instantane", files={"fichier": ("s.json", b'{"format": "x"}', "application/json")})
    assert bad.status_code == 400 and "instantané" in bad.json()["detail"]
    garbage = client.post("/instantane", files={"fichier": ("s.json", b"\x00\x01", "application/json")})
    assert garbage.status_code == 400


def test_forgetting_the_exchanges(sb: Sandbox) -> None:
    sb.client("dmp").get("/fhir/metadata")
    answer = console(sb).post("/echanges/effacer")
    assert answer.status_code == 303
    for service in ("psc_auth", "dmp", "mss", "catalog"):
        assert sb.admin(service, "GET", "exchanges").json()["exchanges"] == []


def test_login_as_a_professional_goes_to_psc_with_pkce_and_the_login_hint(sb: Sandbox) -> None:
    answer = console(sb).get("/connexion-pro/jeanne-martin")
    assert answer.status_code == 303, answer.text
    target = urlsplit(answer.headers["location"])
    query = {k: v[0] for k, v in parse_qs(target.query).items()}
    assert query["client_id"] == "mes-sandbox-console"
    assert query["redirect_uri"] == f"{sb.url('console')}/auth/callback"
    assert query["login_hint"] == "899700112545"
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert query["acr_values"] == "eidas1"


def test_a_scenario_page_explains_each_step(sb: Sandbox) -> None:
    page = html.unescape(console(sb).get("/scenarios/bris-de-glace").text)
    assert "Urgence : le bris de glace, et le patient informé" in page
    assert "X-DMP-Access-Mode" in page  # the description
    assert page.count('<div class="step">') == 7
    assert "Jeanne Martin est informée" in page  # what each step checks
    assert 'id="missing-needs"' not in page  # every API it uses is there

"""``mes-sandbox scenario list|run``: every built-in scenario is played against the test
sandbox (what CI runs), and a failing, unreachable or unsupported scenario says so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.cli import main
from services.console.scenarios.library import discover
from services.launcher import free_port
from tests.support import Sandbox

pytestmark = pytest.mark.db

BUILTIN = sorted(discover(None)[0])


@pytest.mark.parametrize("scenario", BUILTIN)
def test_every_builtin_scenario_does_what_it_says(env: Sandbox, scenario: str, capsys) -> None:
    code = main(["scenario", "run", scenario])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.splitlines()[-2].startswith("passed:")
    assert f"{env.url('console')}/parcours/" in out.splitlines()[-1]


def test_each_step_is_one_trace_recorded_by_the_services(env: Sandbox, capsys) -> None:
    assert main(["scenario", "run", "premiers-pas", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] is True
    td02 = next(s for s in report["steps"] if s["title"].startswith("TD0.2 : Dominique"))
    recorded = env.admin("dmp", "GET", "exchanges", params={"trace_id": td02["trace_id"]}).json()
    inbound = [e for e in recorded["exchanges"] if e["direction"] == "inbound"]
    assert [(e["method"], e["path"], e["caller"]) for e in inbound] == [("GET", "/fhir/Patient", "scenario")]
    assert len({s["trace_id"] for s in report["steps"]}) == len(report["steps"])


def test_list_shows_builtin_and_user_scenarios_and_broken_files(
    env: Sandbox, tmp_path: Path, monkeypatch, capsys
) -> None:
    (tmp_path / "mine.yaml").write_text(
        (Path(__file__).parent / "scenario_files" / "failing.yaml")
        .read_text()
        .replace("id: echec", "id: mien")
    )
    (tmp_path / "broken.yaml").write_text("format: mes-sandbox-scenario/1\nid: x\n")
    monkeypatch.setenv("MES_CONSOLE_SCENARIOS_DIR", str(tmp_path))
    assert main(["scenario", "list"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0].split()[:4] == ["scenario", "steps", "checks", "source"]
    names = [line.split()[0] for line in lines[2:]]
    assert names == [*BUILTIN, "mien"]
    assert "yours" in lines[-1]
    assert "broken.yaml" in captured.err and "not loaded" in captured.err


def test_a_failing_check_is_reported_with_why_and_exit_code_1(env: Sandbox, capsys) -> None:
    path = Path(__file__).parent / "scenario_files" / "failing.yaml"
    assert main(["scenario", "run", "--file", str(path)]) == 1
    out = capsys.readouterr().out
    assert "  1/2 ✓" in out
    assert "  2/2 ✗ Le DMP refuse un jeton altéré" in out
    assert "✗ réponse 2xx (statut 401 — error login: the access token is not valid here" in out
    assert "! error login: the access token is not valid here" in out
    assert out.splitlines()[-1].startswith("FAILED at step 2/2")


def test_an_api_the_sandbox_lacks_is_named_and_exit_code_3(env: Sandbox, tmp_path: Path, capsys) -> None:
    text = (Path(__file__).parent / "scenario_files" / "failing.yaml").read_text()
    path = tmp_path / "needs.yaml"
    path.write_text(text.replace("needs: []", "needs: [dmp GET /fhir/Patient, dmp POST /fhir/Nothing]"))
    assert main(["scenario", "run", "--file", str(path)]) == 3
    assert "lacks what 'echec' needs: DMP POST /fhir/Nothing" in capsys.readouterr().err


def test_an_unreachable_sandbox_and_unknown_names(env: Sandbox, monkeypatch, capsys) -> None:
    assert main(["scenario", "run", "nope"]) == 2
    assert "no scenario 'nope'" in capsys.readouterr().err
    assert main(["scenario", "run", "--file", "/nonexistent.yaml"]) == 2
    assert "cannot read it" in capsys.readouterr().err
    monkeypatch.setenv("MES_DMP_URL", f"http://127.0.0.1:{free_port()}")
    assert main(["scenario", "run", "premiers-pas"]) == 1
    assert "cannot reach dmp at" in capsys.readouterr().err

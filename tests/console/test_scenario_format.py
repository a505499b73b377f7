"""The scenario file format: the built-in files load, a user's mistakes are reported
with the file and the field, user directories add and replace scenarios, templates."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.console.scenarios.library import BUILTIN_DIR, ScenarioFileError, discover, load_file
from services.console.scenarios.templating import TemplateProblem, evaluate, render

MINIMAL = """\
format: mes-sandbox-scenario/1
id: {id}
title: Mon scénario
summary: Un essai.
steps:
  - title: Vérifier
    actions:
      - request: {{service: dmp, path: /fhir/metadata}}
        expect:
          that:
            - {{check: "response.json.resourceType == 'CapabilityStatement'", say: le DMP répond}}
"""


def _write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def test_every_builtin_scenario_loads_and_ends_with_a_check() -> None:
    found, problems = discover(None)
    assert problems == []
    assert found, "no built-in scenario"
    for loaded in found.values():
        assert loaded.builtin and loaded.path.parent == BUILTIN_DIR
        assert any(a.expect.that for a in loaded.scenario.steps[-1].actions)
        assert all(step.explain.strip() for step in loaded.scenario.steps), loaded.id


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.replace("summary:", "sumary:"), "sumary: Extra inputs are not permitted"),
        (lambda t: t.replace("service: dmp", "service: hospital"), "unknown service 'hospital'"),
        (lambda t: t.replace("            - {check:", "            - {chek:"), "chek"),
        (lambda t: t.replace("        expect:\n          that:\n", "        expect:\n          xx:\n"), "xx"),
        (lambda t: t.replace("format: mes-sandbox-scenario/1", "format: 2"), "format"),
        (lambda t: t.replace("id: mine", "id: Mine!"), "id: String should match pattern"),
    ],
)
def test_mistakes_name_the_file_and_the_field(tmp_path: Path, change, message: str) -> None:
    path = _write(tmp_path, "mine.yaml", change(MINIMAL.format(id="mine")))
    with pytest.raises(ScenarioFileError) as caught:
        load_file(path)
    assert str(path) in str(caught.value)
    assert message in str(caught.value)


def test_a_scenario_must_end_with_a_check(tmp_path: Path) -> None:
    text = MINIMAL.format(id="mine").split("        expect:")[0]
    with pytest.raises(ScenarioFileError, match="the last step must check"):
        load_file(_write(tmp_path, "mine.yaml", text))


@pytest.mark.parametrize(
    ("action", "message"),
    [
        ("{token: {psc: {professional: jeanne-martin}}}", "needs 'save_as'"),
        ("{token: {psc: {}, mes: {patient: x}}, save_as: t}", "exactly one issuer"),
        ("{request: {service: dmp, path: /, json: {}, body: x}}", "at most one of"),
        ("{request: {service: dmp, path: /}, save: {Bad-Name: response.status}}", "invalid variable name"),
        ("{request: {service: dmp, path: /}, save: {response: response.status}}", "invalid variable name"),
        ("{set: {a: 1}, request: {service: dmp, path: /}}", "exactly one of"),
    ],
)
def test_actions_are_checked(tmp_path: Path, action: str, message: str) -> None:
    text = MINIMAL.format(id="mine").replace("    actions:\n", f"    actions:\n      - {action}\n", 1)
    with pytest.raises(ScenarioFileError, match=message):
        load_file(_write(tmp_path, "mine.yaml", text))


def test_not_yaml_or_not_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(ScenarioFileError, match="not valid YAML"):
        load_file(_write(tmp_path, "a.yaml", "steps: [\n"))
    with pytest.raises(ScenarioFileError, match="a YAML mapping"):
        load_file(_write(tmp_path, "b.yaml", "- 1\n- 2\n"))
    with pytest.raises(ScenarioFileError, match="cannot read"):
        load_file(tmp_path / "missing.yaml")


def test_a_user_directory_adds_replaces_and_reports(tmp_path: Path) -> None:
    builtin_id = next(iter(discover(None)[0]))
    _write(tmp_path, "a-mine.yaml", MINIMAL.format(id="mine"))
    _write(tmp_path, "b-override.yml", MINIMAL.format(id=builtin_id))
    _write(tmp_path, "c-twice.yaml", MINIMAL.format(id="mine"))
    _write(tmp_path, "d-broken.yaml", "format: mes-sandbox-scenario/1\n")
    _write(tmp_path, "notes.txt", "not a scenario")
    found, problems = discover(tmp_path)
    assert not found["mine"].builtin and found["mine"].path.name == "a-mine.yaml"
    assert found[builtin_id].replaces_builtin and found[builtin_id].path.name == "b-override.yml"
    assert sorted(p.path.name for p in problems) == ["c-twice.yaml", "d-broken.yaml"]
    assert "already used by" in next(p.message for p in problems if p.path.name == "c-twice.yaml")
    missing, problems = discover(tmp_path / "nowhere")
    assert "mine" not in missing and "not a directory" in problems[0].message


def test_templates_keep_native_values_and_fail_clearly() -> None:
    context = {"n": 3, "items": [{"a": 1}], "name": "Jeanne"}
    assert render("{{ n + 1 }}", context) == 4
    assert render(
        {"size": "{{ n }}", "label": "Dr {{ name }}", "{{ name }}": ["{{ items[0].a }}"]}, context
    ) == {
        "size": 3,
        "label": "Dr Jeanne",
        "Jeanne": [1],
    }
    assert evaluate("items | map(attribute='a') | list == [1]", context) is True
    with pytest.raises(TemplateProblem, match="nobody"):
        render("{{ nobody.token }}", context)
    with pytest.raises(TemplateProblem):
        evaluate("items.__class__.__mro__", context)  # the sandbox refuses internals
    with pytest.raises(TemplateProblem, match="ZeroDivisionError"):
        evaluate("1 / 0", context)

"""The README stays true: the two commands, every variable, every persona, every control."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from services.launcher import SERVICES, settings_class
from shared.personas import load_personas

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_the_quick_start_is_the_two_commands() -> None:
    quick_start = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^(make \w+)", quick_start, re.M)
    assert commands == ["make run", "make test"]


@pytest.mark.parametrize("service", SERVICES)
def test_every_environment_variable_is_documented(service: str) -> None:
    cls = settings_class(service)
    names = set()
    for name, field in cls.model_fields.items():
        alias = field.validation_alias
        names.add(alias if isinstance(alias, str) else f"MES_{name.upper()}")
    missing = sorted(n for n in names if f"`{n}`" not in README)
    assert not missing, f"document {missing} in README.md (the service's section or 'Environment')"


def test_every_persona_is_in_the_table() -> None:
    personas = load_personas()
    missing = [p.id for p in (*personas.patients, *personas.professionals) if f"`{p.id}`" not in README]
    assert not missing


def test_every_platform_control_is_documented() -> None:
    for route in (
        "POST /_sandbox/reset",
        "GET /_sandbox/snapshot",
        "PUT /_sandbox/snapshot",
        "GET /_sandbox/faults",
        "GET /_sandbox/exchanges",
        "DELETE /_sandbox/exchanges",
    ):
        assert route in README


@pytest.mark.parametrize("service", SERVICES)
def test_a_services_own_variables_carry_its_name(service: str) -> None:
    from shared.settings import ENV_NAMES, ServiceSettings

    cls = settings_class(service)
    own = {n: f for n, f in cls.model_fields.items() if n not in ServiceSettings.model_fields}
    prefix = f"MES_{ENV_NAMES[service]}_"
    badly_named = sorted(
        n
        for n, f in own.items()
        if not (isinstance(f.validation_alias, str) and f.validation_alias.startswith(prefix))
    )
    assert not badly_named, (
        f"give {badly_named} a validation_alias starting with {prefix} (the environment contract)"
    )

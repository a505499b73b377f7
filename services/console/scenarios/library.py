"""Where scenarios come from: the built-in ones (``scenarios/builtin/``) and the user's
own directory (``MES_CONSOLE_SCENARIOS_DIR``, README "Writing a scenario").

A user's scenario with the id of a built-in one replaces it. A file that does not load is
listed with the reason (file, field, problem) instead of breaking the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from services.console.scenarios.format import Scenario

BUILTIN_DIR = Path(__file__).with_name("builtin")


@dataclass(frozen=True)
class LoadedScenario:
    scenario: Scenario
    path: Path
    builtin: bool
    replaces_builtin: bool = False

    @property
    def id(self) -> str:
        return self.scenario.id

    @property
    def base_dir(self) -> Path:
        """Where ``json_file`` and ``body_file`` are found."""
        return self.path.parent


@dataclass(frozen=True)
class Problem:
    path: Path
    message: str


class ScenarioFileError(ValueError):
    """A scenario file that cannot be used; the message names the file and the problem."""


def load_file(path: Path, *, builtin: bool = False) -> LoadedScenario:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioFileError(f"{path}: cannot read it ({exc.strerror})") from exc
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ScenarioFileError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ScenarioFileError(f"{path}: a scenario is a YAML mapping (format, id, title, steps...)")
    try:
        scenario = Scenario.model_validate(raw)
    except ValidationError as exc:
        lines = []
        for error in exc.errors()[:5]:
            where = ".".join(str(p) for p in error["loc"]) or "(file)"
            lines.append(f"{where}: {error['msg']}")
        more = f" (+{exc.error_count() - 5} more)" if exc.error_count() > 5 else ""
        raise ScenarioFileError(f"{path}: " + "; ".join(lines) + more) from exc
    return LoadedScenario(scenario, path, builtin)


def _files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("*.y*ml") if p.is_file() and p.suffix in (".yaml", ".yml"))


def discover(user_dir: Path | None = None) -> tuple[dict[str, LoadedScenario], list[Problem]]:
    """Every scenario by id (built-in first, then the user's), and the files that failed."""
    found: dict[str, LoadedScenario] = {}
    problems: list[Problem] = []
    sources = [(BUILTIN_DIR, True)]
    if user_dir is not None:
        if user_dir.is_dir():
            sources.append((user_dir, False))
        else:
            problems.append(Problem(user_dir, "MES_CONSOLE_SCENARIOS_DIR is not a directory"))
    for directory, builtin in sources:
        for path in _files(directory):
            try:
                loaded = load_file(path, builtin=builtin)
            except ScenarioFileError as exc:
                problems.append(Problem(path, str(exc)))
                continue
            previous = found.get(loaded.id)
            if previous is not None and not (previous.builtin and not builtin):
                problems.append(Problem(path, f"id {loaded.id!r} is already used by {previous.path}"))
                continue
            if previous is not None:
                loaded = LoadedScenario(loaded.scenario, path, builtin, replaces_builtin=True)
            found[loaded.id] = loaded
    return found, problems

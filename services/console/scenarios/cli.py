"""``mes-sandbox scenario list|run NAME``: the scenarios from the command line (README,
"The flow console"), against the sandbox at ``MES_*_URL`` with ``MES_ADMIN_TOKEN``.

Exit codes: 0 the scenario did what it says, 1 a step failed (or the sandbox is not
reachable), 2 no such scenario or an invalid file, 3 the sandbox lacks an API the
scenario needs (its ``needs``). Heavy imports wait until a command runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

START_HINT = "Start it with 'mes-sandbox up' (or set MES_*_URL)"


def add_parser(sub: Any) -> None:
    """Add the ``scenario`` command to the ``mes-sandbox`` parser."""
    parser = sub.add_parser(
        "scenario",
        help="list the ecosystem's scenarios, or play one against the running sandbox",
        description="Play the ecosystem's journeys against the sandbox at MES_*_URL "
        "(MES_CONSOLE_SCENARIOS_DIR adds your own scenario files).",
    )
    parser.add_argument("action", choices=("list", "run"))
    parser.add_argument("name", nargs="?", help="the scenario to run (see 'mes-sandbox scenario list')")
    parser.add_argument("--file", help="run this scenario file instead of one by name")
    parser.add_argument("--explain", action="store_true", help="print what each step does and why")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.set_defaults(func=main)


def _out(text: str = "") -> None:
    print(text, flush=True)


def _err(text: str) -> None:
    print(f"mes-sandbox: {text}", file=sys.stderr, flush=True)


def main(args: argparse.Namespace) -> int:
    from services.console.scenarios.library import ScenarioFileError, discover, load_file
    from services.console.settings import ConsoleSettings

    settings = ConsoleSettings()
    found, problems = discover(settings.scenarios_dir)
    if args.action == "list":
        return _list(found, problems)
    if args.file:
        from pathlib import Path

        try:
            loaded = load_file(Path(args.file))
        except ScenarioFileError as exc:
            _err(str(exc))
            return 2
    elif args.name in found:
        loaded = found[args.name]
    else:
        names = ", ".join(sorted(found)) or "none"
        _err(f"no scenario {args.name!r} (known: {names})" if args.name else "which scenario? (run NAME)")
        for problem in problems:
            _err(f"not loaded: {problem.message}")
        return 2
    return _run(loaded, settings, explain=args.explain, as_json=args.json)


def _list(found: dict[str, Any], problems: list[Any]) -> int:
    rows = [
        (
            s.id,
            str(len(s.scenario.steps)),
            str(s.scenario.checks),
            "" if s.builtin else "yours",
            s.scenario.title,
        )
        for s in sorted(found.values(), key=lambda s: (not s.builtin, s.id))
    ]
    header = ("scenario", "steps", "checks", "source", "title")
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(4)]
    for row in (header, (*("-" * w for w in widths), "-----"), *rows):
        _out("  ".join(c.ljust(w) for c, w in zip(row[:4], widths, strict=True)) + "  " + row[4])
    for problem in problems:
        _err(f"not loaded: {problem.message}")
    return 0


def _run(loaded: Any, settings: Any, *, explain: bool, as_json: bool) -> int:
    from services.console.scenarios.engine import Player, Target, player_client
    from services.console.scenarios.preflight import missing_needs, unreachable
    from shared.personas import load_personas

    target = Target.from_settings(settings)
    scenario = loaded.scenario
    with player_client() as http:
        down = unreachable(target, http)
        if down:
            for name, url in down.items():
                _err(f"cannot reach {name} at {url}: is the sandbox running? {START_HINT}")
            return 1
        missing = missing_needs(scenario, target, http)
        if missing:
            _err(f"the sandbox lacks what '{scenario.id}' needs: {'; '.join(missing)}")
            return 3
        if not as_json:
            _out(f"scenario {scenario.id}: {scenario.title}")
        started = time.monotonic()
        player = Player(loaded, target, load_personas(settings.personas_file), http)
        total = len(scenario.steps)
        results = player.play(on_step=lambda r: None if as_json else _print_step(r, total, scenario, explain))
    elapsed = time.monotonic() - started
    passed = len(results) == total and all(r.passed for r in results)
    console = f"{settings.peer_public_url('console')}/parcours/{results[-1].trace_id}" if results else ""
    if as_json:
        _out(
            json.dumps(
                {"scenario": scenario.id, "passed": passed, "steps": [r.to_json() for r in results]},
                ensure_ascii=False,
                indent=1,
            )
        )
    elif passed:
        _out(f"passed: {total} steps, {scenario.checks} checks in {elapsed:.2f} s")
        _out(f"journeys in the console: {console}")
    else:
        _out(f"FAILED at step {len(results)}/{total} ({elapsed:.2f} s); journey: {console}")
    return 0 if passed else 1


def _print_step(result: Any, total: int, scenario: Any, explain: bool) -> None:
    mark = "✓" if result.passed else "✗"
    where = f"trace {result.trace_id[:8]}, {result.duration_ms:.0f} ms"
    _out(f"  {result.index + 1}/{total} {mark} {result.title}  ({where})")
    if explain:
        text = " ".join(scenario.steps[result.index].explain.split())
        if text:
            _out(f"        {text}")
    for action in result.actions:
        if not action.passed or explain:
            status = f" → {action.status}" if action.status else ""
            _out(f"      {action.label}{status}")
        if action.error:
            _out(f"        ✗ {action.error}")
        for problem in action.problems:  # why a service said no (expected or not)
            _out(f"        ! {problem}")
        for check in action.checks:
            detail = f" ({check.detail})" if check.detail and not check.passed else ""
            _out(f"        {'✓' if check.passed else '✗'} {check.say}{detail}")

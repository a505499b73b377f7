"""The scenario pages: the list, one scenario explained, and a run played step by step
(each step one trace, drawn together as one diagram with a band per step)."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.console import service
from services.console.dependencies import ConsoleGuard, PeersDep
from services.console.errors import UnknownScenarioError
from services.console.journeys import layout, svg
from services.console.journeys.model import Journey
from services.console.journeys.routes import export
from services.console.models import ScenarioRun
from services.console.pages import render
from services.console.scenarios.engine import Player, Target, player_client
from services.console.scenarios.library import LoadedScenario, discover
from services.console.scenarios.preflight import missing_needs
from services.console.settings import ConsoleSettings
from shared.errors import BadRequestError, ConflictError
from shared.web.deps import ReadSessionDep, RuntimeDep
from shared.web.runtime import Runtime

router = APIRouter(prefix="/scenarios", tags=["scénarios"], dependencies=[ConsoleGuard])


def _library(runtime: Runtime) -> tuple[dict[str, LoadedScenario], list[object]]:
    settings = runtime.settings
    user_dir = settings.scenarios_dir if isinstance(settings, ConsoleSettings) else None
    found, problems = discover(user_dir)
    return found, list(problems)


def _scenario(runtime: Runtime, scenario_id: str) -> LoadedScenario:
    found, _ = _library(runtime)
    if scenario_id not in found:
        raise UnknownScenarioError(f"no scenario {scenario_id!r}")
    return found[scenario_id]


@router.get("", response_class=HTMLResponse, summary="Les scénarios")
def scenarios(request: Request, runtime: RuntimeDep, session: ReadSessionDep) -> HTMLResponse:
    found, problems = _library(runtime)
    return render(
        request,
        "scenarios.html",
        section="scenarios",
        scenarios=sorted(found.values(), key=lambda s: (not s.builtin, s.id)),
        problems=problems,
        runs=service.recent_runs(session),
    )


@router.get("/{scenario_id}", response_class=HTMLResponse, summary="Un scénario expliqué")
def scenario_page(request: Request, runtime: RuntimeDep, scenario_id: str) -> HTMLResponse:
    loaded = _scenario(runtime, scenario_id)
    with player_client() as http:
        missing = missing_needs(loaded.scenario, Target.from_settings(runtime.settings), http)
    return render(
        request,
        "scenario.html",
        section="scenarios",
        loaded=loaded,
        scenario=loaded.scenario,
        missing=missing,
    )


@router.post("/{scenario_id}/executions", summary="Lancer un scénario (pas à pas, ou en entier)")
def start(runtime: RuntimeDep, scenario_id: str, tout: bool = Form(False)) -> Response:
    loaded = _scenario(runtime, scenario_id)
    with runtime.database().session(write=True) as session:
        run = service.create_run(session, loaded)
    if tout:
        _play(runtime, run.id, everything=True)
    return RedirectResponse(f"/scenarios/executions/{run.id}", status_code=303)


def _play(runtime: Runtime, run_id: str, *, everything: bool) -> None:
    """Play the next step (or all that are left), outside any database transaction: the
    steps call the other services, which must not wait on the console's database."""
    database = runtime.database()
    with database.session(write=False) as session:
        run = service.get_run(session, run_id)
        scenario_id, position, variables = run.scenario, run.position, dict(run.variables)
        traces = [s["trace_id"] for s in run.steps]
        finished = run.status in ("passed", "failed")
    if finished:
        raise ConflictError("ce scénario est terminé : relancez-le depuis la liste")
    loaded = _scenario(runtime, scenario_id)
    steps = len(loaded.scenario.steps)
    with player_client() as http:
        player = Player(loaded, Target.from_settings(runtime.settings), runtime.loaded_personas(), http)
        while position < steps:
            result = player.play_step(position, variables, traces)
            with database.session(write=True) as session:
                current = service.get_run(session, run_id)
                if current.position != position:
                    raise ConflictError("cette étape vient d'être jouée ailleurs : rechargez la page")
                service.record_step(session, run_id, result, variables, steps)
            traces.append(result.trace_id)
            position += 1
            if not everything or not result.passed:
                break


@router.post("/executions/{run_id}/suivante", summary="Jouer l'étape suivante")
def next_step(runtime: RuntimeDep, run_id: str) -> Response:
    _play(runtime, run_id, everything=False)
    return RedirectResponse(f"/scenarios/executions/{run_id}#etape-courante", status_code=303)


@router.post("/executions/{run_id}/tout", summary="Jouer toutes les étapes restantes")
def remaining_steps(runtime: RuntimeDep, run_id: str) -> Response:
    _play(runtime, run_id, everything=True)
    return RedirectResponse(f"/scenarios/executions/{run_id}", status_code=303)


async def _run_journey(run: ScenarioRun, runtime: Runtime, peers: PeersDep) -> tuple[Journey, dict[str, str]]:
    sections = [(s["trace_id"], f"Étape {s['index'] + 1} · {s['title']}") for s in run.steps]
    if not sections:
        return Journey([]), {}
    since = (run.started_at - timedelta(seconds=5)).isoformat()
    journey, gathered = await service.journey_of(peers, runtime.loaded_personas(), sections, since)
    return journey, gathered.unreachable


@router.get("/executions/{run_id}", response_class=HTMLResponse, summary="Un scénario en cours")
async def run_page(
    request: Request, runtime: RuntimeDep, session: ReadSessionDep, peers: PeersDep, run_id: str
) -> HTMLResponse:
    run = service.get_run(session, run_id)
    found, _ = _library(runtime)
    loaded = found.get(run.scenario)
    journey, unreachable = await _run_journey(run, runtime, peers)
    trace_of = {c.key: s.trace_id for s in journey.sections for c in (x for r in s.calls for x in r.walk())}
    drawing = svg.render(layout.layout(journey), link=lambda key: f"/parcours/{trace_of[key]}/echanges/{key}")
    return render(
        request,
        "run.html",
        section="scenarios",
        run=run,
        loaded=loaded,
        results=service.step_results(run),
        diagram=drawing if journey.sections else "",
        unreachable=unreachable,
    )


@router.get("/executions/{run_id}/export.{fmt}", summary="Exporter le parcours d'un scénario")
async def export_run(
    runtime: RuntimeDep, session: ReadSessionDep, peers: PeersDep, run_id: str, fmt: str
) -> Response:
    if fmt not in ("mmd", "svg", "png", "har"):
        raise BadRequestError(f"unknown export format {fmt!r} (mmd, svg, png, har)")
    run = service.get_run(session, run_id)
    journey, _ = await _run_journey(run, runtime, peers)
    return export(journey, fmt, f"scenario-{run.scenario}", run.title, runtime.settings)  # type: ignore[arg-type]


@router.get("/executions/{run_id}/etat", summary="Où en est ce scénario")
def run_state(session: ReadSessionDep, run_id: str) -> dict[str, object]:
    run = service.get_run(session, run_id)
    return {"version": f"{run.position}:{run.status}", "status": run.status, "position": run.position}

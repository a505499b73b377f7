"""The console's business logic: journeys read from the services, scenario runs kept in
its database, the sandbox-wide snapshot, and the sign-in of its own PSC client."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from services.console.clients import Gathered, Peers
from services.console.errors import UnknownScenarioError
from services.console.journeys.model import Journey, build_journey
from services.console.models import PendingLogin, ScenarioRun
from services.console.scenarios.engine import StepResult
from services.console.scenarios.library import LoadedScenario
from shared import __version__
from shared.db.snapshot import build_snapshot, check_snapshot, decode_rows
from shared.errors import BadRequestError
from shared.oauth.pkce import s256
from shared.personas import Personas
from shared.web.runtime import Runtime

#: The CLI's bundle of every service's snapshot (``mes-sandbox snapshot save|load``).
BUNDLE_FORMAT = "mes-sandbox-bundle/1"
#: A sign-in of the console's PSC client must come back within this time.
LOGIN_LIFETIME = timedelta(minutes=10)


def app_clients(personas: Personas) -> frozenset[str]:
    """The OAuth client ids of the catalogue's apps (their calls are the app's)."""
    return frozenset(a.client_id for a in personas.apps)


async def journey_of(
    peers: Peers,
    personas: Personas,
    sections: Sequence[tuple[str, str | None]],
    since: str | None = None,
) -> tuple[Journey, Gathered]:
    gathered = await peers.exchanges_of([t for t, _ in sections], since=since)
    return build_journey(gathered.exchanges, app_clients(personas), sections), gathered


# -- scenario runs -------------------------------------------------------------------------


def create_run(session: Session, loaded: LoadedScenario) -> ScenarioRun:
    run = ScenarioRun(
        id=str(uuid.uuid4()),
        scenario=loaded.id,
        title=loaded.scenario.title,
        status="ready",
        started_at=datetime.now(UTC),
        position=0,
        variables={},
        steps=[],
    )
    session.add(run)
    session.flush()
    return run


def get_run(session: Session, run_id: str) -> ScenarioRun:
    run = session.get(ScenarioRun, run_id)
    if run is None:
        raise UnknownScenarioError(f"no scenario run {run_id}")
    return run


def recent_runs(session: Session, limit: int = 20) -> list[ScenarioRun]:
    return list(session.scalars(select(ScenarioRun).order_by(ScenarioRun.started_at.desc()).limit(limit)))


def record_step(
    session: Session, run_id: str, result: StepResult, variables: dict[str, Any], steps: int
) -> None:
    """Keep a played step; the run is finished when a step fails or none is left."""
    run = get_run(session, run_id)
    run.steps = [*run.steps, result.to_json()]
    run.variables = variables
    run.position = result.index + 1
    if not result.passed:
        run.status, run.finished_at = "failed", datetime.now(UTC)
    elif run.position >= steps:
        run.status, run.finished_at = "passed", datetime.now(UTC)
    else:
        run.status = "running"
    session.flush()


def step_results(run: ScenarioRun) -> list[StepResult]:
    return [StepResult.from_json(s) for s in run.steps]


# -- the sandbox-wide snapshot -------------------------------------------------------------


async def snapshot_bundle(peers: Peers, runtime: Runtime) -> dict[str, Any]:
    services = await peers.each("GET", "snapshot")
    services["console"] = build_snapshot("console", runtime.schema, runtime.seed_manager().export())
    return {"format": BUNDLE_FORMAT, "version": __version__, "services": services}


def check_bundle(bundle: Any) -> dict[str, Any]:
    services = bundle.get("services") if isinstance(bundle, dict) else None
    if (
        not isinstance(bundle, dict)
        or bundle.get("format") != BUNDLE_FORMAT
        or not isinstance(services, dict)
    ):
        raise BadRequestError("ce fichier n'est pas un instantané mes-sandbox (mes-sandbox snapshot save)")
    missing = [n for n in ("psc_auth", "dmp", "mss", "catalog", "console") if n not in services]
    if missing:
        raise BadRequestError(f"l'instantané ne contient pas : {', '.join(missing)}")
    return services


def load_own_snapshot(runtime: Runtime, snapshot: Any) -> None:
    tables = check_snapshot(snapshot, "console", runtime.schema)
    runtime.seed_manager().load(decode_rows(runtime.spec.metadata, tables))
    runtime.after_state_change()


# -- the console's own sign-in at Pro Santé Connect (a public client with PKCE) --------------


def start_login(session: Session, professional: str) -> tuple[str, str, str]:
    """A new pending sign-in: (state, nonce, code_challenge)."""
    session.execute(delete(PendingLogin).where(PendingLogin.created_at < datetime.now(UTC) - LOGIN_LIFETIME))
    state, nonce, verifier = secrets.token_urlsafe(24), secrets.token_hex(16), secrets.token_urlsafe(48)
    session.add(
        PendingLogin(
            state=state,
            verifier=verifier,
            nonce=nonce,
            professional=professional,
            created_at=datetime.now(UTC),
        )
    )
    session.flush()
    return state, nonce, s256(verifier)


def finish_login(session: Session, state: str) -> PendingLogin:
    """The pending sign-in of ``state``, used once (RFC 6749 §10.12: state binds the answer)."""
    pending = session.get(PendingLogin, state)
    if pending is None or pending.created_at < datetime.now(UTC) - LOGIN_LIFETIME:
        raise BadRequestError("connexion inconnue ou expirée : recommencez depuis l'accueil de la console")
    session.delete(pending)
    session.flush()
    return pending

"""Playing a scenario against a running sandbox, one step at a time.

The player acts as the editor's software (or the app, or the patient: whatever its
tokens say), so it talks plain HTTP with its own ``User-Agent`` rather than through the
console's peer clients; each step is one W3C trace (``traceparent`` on every request of
the step), which is how the console shows a step as one journey. The state between steps
(saved variables) is plain JSON, so that the console can keep it in its database.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from services.console.journeys.inspect import problems_of
from services.console.scenarios import personas as persona_views
from services.console.scenarios.format import (
    Action,
    Expect,
    Request,
    TokenAction,
)
from services.console.scenarios.library import LoadedScenario
from services.console.scenarios.templating import TemplateProblem, evaluate, helpers, render, render_text
from shared import __version__
from shared.personas import Personas
from shared.settings import ServiceSettings

USER_AGENT = f"mes-sandbox-scenario/{__version__}"
LABELS = {"psc_auth": "PSC", "dmp": "DMP", "mss": "MSSanté", "catalog": "Mon espace santé"}


@dataclass(frozen=True)
class Target:
    """The sandbox a scenario plays against (``MES_*_URL``, ``MES_ADMIN_TOKEN``)."""

    urls: dict[str, str]
    admin_token: str | None = None

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> Target:
        names = ("psc_auth", "dmp", "mss", "catalog", "console")
        return cls({n: settings.peer_url(n) for n in names}, settings.admin_token)


@dataclass
class CheckResult:
    say: str
    passed: bool
    detail: str = ""


@dataclass
class ActionResult:
    kind: str
    label: str
    method: str = ""
    url: str = ""
    status: int | None = None
    duration_ms: float = 0.0
    checks: list[CheckResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def passed(self) -> bool:
        return self.error is None and all(c.passed for c in self.checks)


@dataclass
class StepResult:
    index: int
    title: str
    trace_id: str
    started_at: str
    status: str = "passed"  # passed, failed
    duration_ms: float = 0.0
    actions: list[ActionResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StepResult:
        actions = [
            ActionResult(**{**a, "checks": [CheckResult(**c) for c in a.get("checks", [])]})
            for a in data.get("actions", [])
        ]
        return cls(**{**data, "actions": actions})


class _Stop(Exception):
    """The current action failed: the step stops here."""


class ScenarioResponse:
    """What checks and ``save`` see of an answer: ``response.status``, ``.json``..."""

    def __init__(self, answer: httpx.Response) -> None:
        self.status = answer.status_code
        self.headers = {k.lower(): v for k, v in answer.headers.items()}
        self.text = answer.text
        self.location = self.headers.get("location", "")
        try:
            self.json: Any = answer.json()
        except ValueError:
            self.json = None


class Player:
    def __init__(
        self,
        loaded: LoadedScenario,
        target: Target,
        personas: Personas,
        http: httpx.Client,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.loaded = loaded
        self.scenario = loaded.scenario
        self.target = target
        self.personas = personas
        self.http = http
        self.clock = clock

    def context(self, variables: dict[str, Any], traces: list[str]) -> dict[str, Any]:
        return {
            **variables,
            **helpers(),
            **persona_views.functions(self.personas),
            "urls": dict(self.target.urls),
            "run": {"traces": list(traces)},
        }

    # -- steps ---------------------------------------------------------------------------

    def play_step(self, index: int, variables: dict[str, Any], traces: list[str]) -> StepResult:
        """Play step ``index``; ``variables`` receives what the step saves."""
        step = self.scenario.steps[index]
        result = StepResult(
            index=index,
            title=step.title,
            trace_id=secrets.token_hex(16),
            started_at=datetime.now(UTC).isoformat(),
        )
        started = self.clock()
        # A step is one visit: cookies a page sets last for the step's next requests only,
        # wherever it is played (one client per run on the command line, per click in the console).
        self.http.cookies.clear()
        for action in step.actions:
            outcome = ActionResult(kind=action.kind, label="")
            result.actions.append(outcome)
            try:
                self._action(action, outcome, variables, [*traces, result.trace_id], result.trace_id)
            except _Stop:
                break
            except TemplateProblem as exc:
                outcome.error = str(exc)
                break
        result.status = "passed" if all(a.passed for a in result.actions) else "failed"
        result.duration_ms = round((self.clock() - started) * 1000, 1)
        return result

    def play(self, on_step: Callable[[StepResult], None] = lambda _r: None) -> list[StepResult]:
        """Every step in order, stopping at the first that fails."""
        variables: dict[str, Any] = {}
        results: list[StepResult] = []
        for index in range(len(self.scenario.steps)):
            result = self.play_step(index, variables, [r.trace_id for r in results])
            results.append(result)
            on_step(result)
            if not result.passed:
                break
        return results

    # -- actions -------------------------------------------------------------------------

    def _action(
        self,
        action: Action,
        outcome: ActionResult,
        variables: dict[str, Any],
        traces: list[str],
        trace_id: str,
    ) -> None:
        context = self.context(variables, traces)
        if action.set is not None:
            outcome.label = "variables : " + ", ".join(action.set)
            for name, value in action.set.items():
                variables[name] = render(value, context)
            return
        if action.token is not None:
            request = self._token_request(action.token, context)
            outcome.label = self._token_label(action.token)
        else:
            assert action.request is not None
            request = action.request
            outcome.label = (
                f"{LABELS[request.service]} · {request.method} {render_text(request.path, context)}"
            )
        response = self._send(request, context, variables, trace_id, outcome, action)
        self._expect(action.expect, response, context, outcome)
        if action.token is not None and action.save_as:
            variables[action.save_as] = response.json
        for name, expression in action.save.items():
            try:
                variables[name] = _plain(evaluate(expression, {**context, "response": response}))
            except TemplateProblem as exc:
                outcome.checks.append(CheckResult(f"garder {name}", False, str(exc)))
                raise _Stop from exc

    def _token_request(self, token: TokenAction, context: dict[str, Any]) -> Request:
        if token.psc is not None:
            body = render(token.psc.model_dump(exclude_none=True), context)
            body.setdefault("professional", None)
            return Request(service="psc_auth", method="POST", path="tokens", sandbox=True, json_body=body)
        assert token.mes is not None
        return Request(
            service="catalog",
            method="POST",
            path="tokens",
            sandbox=True,
            json_body=render(token.mes.model_dump(exclude_none=True), context),
        )

    @staticmethod
    def _token_label(token: TokenAction) -> str:
        if token.psc is not None:
            who = token.psc.professional or f"logiciel {token.psc.client_id}"
            return f"jeton Pro Santé Connect de {who} (raccourci /_sandbox/tokens)"
        assert token.mes is not None
        who = (token.mes.app if token.mes.actor == "app" else token.mes.person) or token.mes.patient
        return f"jeton Mon espace santé ({token.mes.actor} {who}) (raccourci /_sandbox/tokens)"

    def _build(self, request: Request, context: dict[str, Any], variables: dict[str, Any]) -> dict[str, Any]:
        path = render_text(request.path, context)
        url = self.target.urls[request.service] + (
            f"/_sandbox/{path.lstrip('/')}" if request.sandbox else path
        )
        headers = {"User-Agent": USER_AGENT, **render(request.headers, context)}
        if request.sandbox and self.target.admin_token:
            headers["Authorization"] = f"Bearer {self.target.admin_token}"
        if request.auth:
            headers["Authorization"] = f"Bearer {self._bearer(request.auth, context, variables)}"
        kwargs: dict[str, Any] = {"method": request.method, "url": url, "headers": headers}
        params = render(request.params, context)
        if params:
            kwargs["params"] = params
        if request.basic:
            kwargs["auth"] = tuple(render(list(request.basic), context))
        body = self._body(request, context)
        if isinstance(body, str | bytes):
            kwargs["content"] = body
            headers.setdefault("Content-Type", request.content_type or "application/json")
        elif body is not None:
            kwargs["data"] = body
        return kwargs

    def _body(self, request: Request, context: dict[str, Any]) -> str | dict[str, Any] | None:
        if request.json_body is not None:
            return json.dumps(render(request.json_body, context), ensure_ascii=False)
        if request.json_file is not None:
            text = render_text(self._read(request.json_file), context)
            try:
                return json.dumps(json.loads(text), ensure_ascii=False)
            except ValueError as exc:
                raise TemplateProblem(f"{request.json_file} ne donne pas du JSON : {exc}") from exc
        if request.form is not None:
            return {str(k): str(v) for k, v in render(request.form, context).items()}
        if request.body is not None:
            return render_text(request.body, context)
        if request.body_file is not None:
            return render_text(self._read(request.body_file), context)
        return None

    def _read(self, name: str) -> str:
        path = (self.loaded.base_dir / name).resolve()
        if self.loaded.base_dir.resolve() not in path.parents:
            raise TemplateProblem(f"{name} : un fichier de scénario reste à côté du scénario")
        try:
            return path.read_text(encoding="utf-8")
        except OSError as exc:
            raise TemplateProblem(f"{name} : illisible ({exc.strerror})") from exc

    @staticmethod
    def _bearer(auth: str, context: dict[str, Any], variables: dict[str, Any]) -> str:
        saved = variables.get(auth)
        if isinstance(saved, dict) and isinstance(saved.get("access_token"), str):
            return str(saved["access_token"])
        value = render(auth, context)
        if isinstance(value, dict) and isinstance(value.get("access_token"), str):
            return str(value["access_token"])
        if not isinstance(value, str) or (value == auth and auth.isidentifier()):
            raise TemplateProblem(f"auth « {auth} » : aucun jeton enregistré sous ce nom")
        return value

    def _send(
        self,
        request: Request,
        context: dict[str, Any],
        variables: dict[str, Any],
        trace_id: str,
        outcome: ActionResult,
        action: Action,
    ) -> ScenarioResponse:
        kwargs = self._build(request, context, variables)
        outcome.method, outcome.url = kwargs["method"], kwargs["url"]
        deadline = self.clock() + (action.retry.timeout if action.retry else 0)
        while True:
            kwargs["headers"]["traceparent"] = f"00-{trace_id}-{secrets.token_hex(8)}-01"
            started = self.clock()
            try:
                answer = self.http.request(**kwargs, follow_redirects=request.follow_redirects)
            except httpx.HTTPError as exc:
                outcome.error = f"{request.service} injoignable ({type(exc).__name__}) : {kwargs['url']}"
                raise _Stop from exc
            outcome.duration_ms = round((self.clock() - started) * 1000, 1)
            outcome.status = answer.status_code
            response = ScenarioResponse(answer)
            if action.retry is None or self.clock() >= deadline:
                return response
            if evaluate(action.retry.until, {**context, "response": response}):
                return response
            time.sleep(action.retry.interval)

    def _expect(
        self, expect: Expect, response: ScenarioResponse, context: dict[str, Any], outcome: ActionResult
    ) -> None:
        wanted = expect.status
        ok = 200 <= response.status < 300 if wanted is None else response.status in _as_list(wanted)
        if not ok:
            outcome.problems = problems_of(response.json)
            expected = "2xx" if wanted is None else " ou ".join(str(s) for s in _as_list(wanted))
            reason = f" — {outcome.problems[0]}" if outcome.problems else ""
            outcome.checks.append(
                CheckResult(f"réponse {expected}", False, f"statut {response.status}{reason}")
            )
            raise _Stop
        if wanted is not None and response.status >= 400:
            outcome.problems = problems_of(response.json)
            outcome.checks.append(CheckResult(f"refus attendu : {response.status}", True))
        scope = {**context, "response": response}
        for check in expect.that:
            try:
                passed = bool(evaluate(check.check, scope))
                detail = "" if passed else f"faux : {check.check}"
            except TemplateProblem as exc:
                passed, detail = False, str(exc)
            outcome.checks.append(CheckResult(check.say, passed, detail))
        if not outcome.passed:
            raise _Stop


def _as_list(value: int | list[int]) -> list[int]:
    return value if isinstance(value, list) else [value]


def _plain(value: Any) -> Any:
    """A saved value as plain JSON (the console stores it between steps)."""
    try:
        return json.loads(json.dumps(value, default=str))
    except (TypeError, ValueError):
        return str(value)


def player_client() -> httpx.Client:
    return httpx.Client(timeout=30.0, headers={"User-Agent": USER_AGENT})

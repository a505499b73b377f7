"""The scenario file format, ``mes-sandbox-scenario/1`` (README, "Writing a scenario").

A scenario is a list of steps; a step is a list of actions played in one W3C trace; an
action gets a token through a sandbox shortcut (``token``), sets variables (``set``) or
sends an HTTP request to a service (``request``), then checks the answer (``expect``)
and keeps parts of it (``save``). Strings are Jinja templates (``{{ ... }}``); checks and
``save`` values are Jinja expressions. Unknown keys are errors, so that a typo in a
user's file is reported instead of ignored.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

FORMAT = "mes-sandbox-scenario/1"
SERVICES = ("psc_auth", "dmp", "mss", "catalog")
SERVICE_ALIASES = {"psc": "psc_auth", "mes": "catalog", "mssante": "mss"}
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class PscToken(_Strict):
    """``POST {MES_PSC_URL}/_sandbox/tokens`` (contract 1)."""

    professional: str | None = Field(
        None, description="persona id, idNatPS or RPPS; none: client_credentials"
    )
    client_id: str = "dpi-valmont"
    scope: str | None = None
    auth_mode: Literal["CARD", "MOBILE"] = "CARD"


class MesToken(_Strict):
    """``POST {MES_CATALOG_URL}/_sandbox/tokens`` (contract 2)."""

    patient: str
    actor: Literal["patient", "aidant", "representant_legal", "app"] = "patient"
    person: str | None = None
    app: str | None = None
    scope: str | None = None


class TokenAction(_Strict):
    psc: PscToken | None = None
    mes: MesToken | None = None

    @model_validator(mode="after")
    def _one(self) -> TokenAction:
        if (self.psc is None) == (self.mes is None):
            raise ValueError("a token action names exactly one issuer: 'psc' or 'mes'")
        return self


class Request(_Strict):
    service: str
    method: str = "GET"
    path: str
    params: dict[str, Any] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)
    #: A saved token (the name of a variable holding a token response) or a template.
    auth: str | None = None
    #: HTTP Basic client authentication: [client_id, client_secret].
    basic: tuple[str, str] | None = None
    json_body: Any = Field(None, alias="json")
    json_file: str | None = None
    form: dict[str, Any] | None = None
    body: str | None = None
    body_file: str | None = None
    content_type: str | None = None
    #: ``/_sandbox/<path>`` of the service, with the admin token (not recorded, by design).
    sandbox: bool = False
    follow_redirects: bool = False

    @field_validator("service")
    @classmethod
    def _service(cls, value: str) -> str:
        value = SERVICE_ALIASES.get(value, value)
        if value not in SERVICES:
            raise ValueError(f"unknown service {value!r} (choose from {', '.join(SERVICES)}, psc, mes)")
        return value

    @field_validator("method")
    @classmethod
    def _method(cls, value: str) -> str:
        return value.upper()

    @model_validator(mode="after")
    def _one_body(self) -> Request:
        bodies = [self.json_body, self.json_file, self.form, self.body, self.body_file]
        if sum(b is not None for b in bodies) > 1:
            raise ValueError("a request has at most one of json, json_file, form, body, body_file")
        return self


class Check(_Strict):
    #: A Jinja expression over ``response``, the saved variables and the helpers.
    check: str
    #: What it means, in a sentence shown to the trainer ("le document est publié").
    say: str


class Expect(_Strict):
    #: Expected status (or any of a list); by default any 2xx.
    status: int | list[int] | None = None
    that: list[Check] = Field(default_factory=list)


class Retry(_Strict):
    """Repeat the request until ``until`` holds (a message being delivered, for instance)."""

    until: str
    timeout: float = Field(5.0, gt=0, le=60)
    interval: float = Field(0.2, gt=0, le=5)


class Action(_Strict):
    token: TokenAction | None = None
    request: Request | None = None
    #: Variables to set (templates), before anything else.
    set: dict[str, Any] | None = None
    #: Where a token action keeps its token response.
    save_as: str | None = None
    expect: Expect = Field(default_factory=Expect)
    #: Variable name → Jinja expression over ``response``.
    save: dict[str, str] = Field(default_factory=dict)
    retry: Retry | None = None

    @model_validator(mode="after")
    def _shape(self) -> Action:
        kinds = [k for k in ("token", "request", "set") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("an action is exactly one of 'token', 'request' or 'set'")
        if self.token is not None and not self.save_as:
            raise ValueError("a token action needs 'save_as' (the name to keep the token under)")
        if self.set is not None and (self.save or self.expect.that or self.retry):
            raise ValueError("a 'set' action only sets variables")
        names = [*self.save, *(self.set or {}), *([self.save_as] if self.save_as else [])]
        bad = [n for n in names if not _NAME.match(n) or n in RESERVED]
        if bad:
            raise ValueError(
                f"invalid variable name(s) {bad}: lowercase letters, digits, '_'; not {RESERVED}"
            )
        return self

    @property
    def kind(self) -> str:
        return "token" if self.token else "request" if self.request else "set"


class Step(_Strict):
    id: str | None = None
    title: str
    #: What happens and why, for the trainer (French, shown beside the step).
    explain: str = ""
    actions: list[Action] = Field(min_length=1)


class Scenario(_Strict):
    format: Literal["mes-sandbox-scenario/1"]
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,60}$")
    title: str
    summary: str
    description: str = ""
    #: The APIs it uses, ``"<service> <METHOD> <path>"``, checked against each OpenAPI.
    needs: list[str] = Field(default_factory=list)
    steps: list[Step] = Field(min_length=1)

    @model_validator(mode="after")
    def _ends_with_a_check(self) -> Scenario:
        if not any(a.expect.that for a in self.steps[-1].actions):
            raise ValueError("the last step must check that the scenario did what it says (expect.that)")
        for need in self.needs:
            parts = need.split()
            if len(parts) != 3 or SERVICE_ALIASES.get(parts[0], parts[0]) not in SERVICES:
                raise ValueError(f"need {need!r} is not '<service> <METHOD> <path>'")
        return self

    @property
    def checks(self) -> int:
        return sum(len(a.expect.that) for s in self.steps for a in s.actions)


#: Names the engine provides in every template; variables may not take them.
RESERVED = (
    "response",
    "patient",
    "professional",
    "app",
    "organisation",
    "urls",
    "run",
    "uuid",
    "now",
    "today",
    "b64",
    "sha1_b64",
    "size",
    "oid",
    "search",
    "steps",
)

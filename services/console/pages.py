"""Rendering the console's French pages (Jinja2, autoescaped) and their small helpers."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from services.console.journeys.labels import STATUS_TEXT
from services.console.journeys.model import ACTOR_LABELS

SERVICE_LABELS = {
    "psc_auth": "Pro Santé Connect",
    "dmp": "DMP",
    "mss": "MSSanté",
    "catalog": "Mon espace santé",
    "console": "Console",
}

#: ``?message=`` codes of the redirects after an action (Post/Redirect/Get).
MESSAGES = {
    "reinitialise": ("Le bac à sable est revenu à son état initial.", ""),
    "charge": ("L'instantané est chargé dans tous les services.", ""),
    "efface": ("Les échanges enregistrés sont effacés.", ""),
    "connecte": ("Vous êtes connecté à la console.", ""),
}


def _time(value: datetime | str | None) -> str:
    if value is None:
        return ""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone().strftime("%H:%M:%S")


def _status(status: int | None) -> str:
    if status is None:
        return "—"
    return f"{status} {STATUS_TEXT.get(status, '')}".strip()


def _pretty(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2)


def _paragraphs(text: str) -> Markup:
    """Text written in a YAML block as HTML paragraphs: a blank line starts a new one."""
    blocks = [" ".join(b.split()) for b in text.strip().split("\n\n") if b.strip()]
    return Markup("").join(Markup("<p>{}</p>").format(b) for b in blocks)


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(Path(__file__).with_name("templates")),
        autoescape=select_autoescape(default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["hour"] = _time
    env.filters["status"] = _status
    env.filters["pretty"] = _pretty
    env.filters["paragraphs"] = _paragraphs
    env.globals["actor_labels"] = ACTOR_LABELS
    env.globals["labels"] = SERVICE_LABELS
    return env


def render(request: Request, template: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    env: Environment = request.app.state.templates
    message = MESSAGES.get(request.query_params.get("message", ""))
    if message and "flash" not in context:
        context["flash"], context["flash_kind"] = message
    return HTMLResponse(env.get_template(template).render(**context), status_code=status_code)


def fragment(request: Request, template: str, **context: Any) -> HTMLResponse:
    """A piece of a page (for the live refresh and the side panel)."""
    env: Environment = request.app.state.templates
    return HTMLResponse(env.get_template(template).render(**context))

"""What the French pages share: templates, the signed-in visitor, redirects, CSRF.

A signed-in browser carries the ``mes_session`` cookie (HttpOnly, SameSite=Lax), the id
of a ``login_sessions`` row. Pages that need a signed-in person raise
:class:`LoginRequired`, answered by a redirect to the sign-in page that comes back after.
Forms of a signed-in person carry the session's CSRF token.
"""

from __future__ import annotations

import hmac
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.catalog.accounts.service import Space, current_login, spaces_of
from services.catalog.models import LoginSession
from shared.errors import ForbiddenError, SandboxError
from shared.personas import Patient, Personas

COOKIE = "mes_session"
LOGIN_PATH = "/espace/connexion"
#: Paths that are pages for people: their errors are French pages too.
PAGE_PREFIXES = ("/espace", "/catalogue")
ACTOR_LABELS = {
    "patient": "titulaire",
    "aidant": "aidant",
    "representant_legal": "représentant légal",
}


class LoginRequired(Exception):
    """The page needs a signed-in person: go and sign in, then come back to ``next_url``."""

    def __init__(self, next_url: str, login_hint: str | None = None) -> None:
        super().__init__(next_url)
        self.next_url = next_url
        self.login_hint = login_hint


def safe_next(value: str | None, default: str = "/espace/") -> str:
    """Only local paths (no open redirect through ``next``)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    return value


def with_next(path: str, next_url: str) -> str:
    return f"{path}?{urlencode({'next': next_url})}"


def login_url(next_url: str, login_hint: str | None = None) -> str:
    params = {"next": next_url}
    if login_hint:
        params["login_hint"] = login_hint
    return f"{LOGIN_PATH}?{urlencode(params)}"


async def _login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    return RedirectResponse(login_url(exc.next_url, exc.login_hint), status_code=303)


Handler = Callable[[Request, Any], Response | Awaitable[Response]]


def _page_error(status: int, detail: str) -> tuple[int, str]:
    if status == 404:
        return 404, "Cette page n'existe pas."
    if status == 405:
        return 405, "Cette action n'est pas possible ici."
    return status, detail


def _pages_first(protocol: Handler) -> Callable[[Request, Exception], Awaitable[Response]]:
    """People get a French page; software (OAuth, FHIR, JSON APIs) its protocol's error."""

    async def handle(request: Request, exc: Exception) -> Response:
        if not request.url.path.startswith(PAGE_PREFIXES):
            answer = protocol(request, exc)
            return await answer if inspect.isawaitable(answer) else answer
        if isinstance(exc, SandboxError):
            status, detail = exc.status_code, exc.detail
        elif isinstance(exc, RequestValidationError):
            status, detail = 400, "Le formulaire est incomplet : vérifiez les champs demandés."
        else:
            assert isinstance(exc, StarletteHTTPException)
            status, detail = _page_error(exc.status_code, str(exc.detail))
        return render(request, "error.html", status=status, message=detail)

    return handle


def install(app: FastAPI) -> None:
    """After the platform's handlers: pages render their errors as pages."""
    app.add_exception_handler(LoginRequired, _login_required)
    for kind in (SandboxError, RequestValidationError, StarletteHTTPException):
        app.add_exception_handler(kind, _pages_first(app.exception_handlers[kind]))


def render(request: Request, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    page = request.app.state.templates.get_template(template).render(request=request, **context)
    return HTMLResponse(page, status_code=status, headers={"Cache-Control": "no-store"})


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


@dataclass(frozen=True)
class Visitor:
    """The signed-in person, and the space they have open."""

    login: LoginSession
    person: Patient
    space: Space
    spaces: tuple[Space, ...]

    @property
    def patient(self) -> Patient:
        return self.space.patient

    @property
    def actor(self) -> str:
        return self.space.actor

    @property
    def actor_label(self) -> str:
        return ACTOR_LABELS[self.actor]

    def can(self, right: str) -> bool:
        return right in self.space.rights

    def require(self, right: str, what: str) -> None:
        if not self.can(right):
            raise ForbiddenError(f"{what} : ce droit ne vous a pas été délégué", error="not_delegated")

    def require_holder(self, what: str) -> None:
        """Connecting apps, consents and caregivers: the holder, or a parent for a child."""
        if self.actor not in ("patient", "representant_legal"):
            raise ForbiddenError(f"{what} : réservé au titulaire ou à son représentant légal")


def visitor(request: Request, session: Session, personas: Personas) -> Visitor | None:
    login = current_login(session, request.cookies.get(COOKIE))
    if login is None or login.stage != "authenticated":
        return None
    spaces = tuple(spaces_of(session, personas, login.account))
    # The space opened may have ended (delegation over, child of age): back to one's own.
    space = next((s for s in spaces if s.patient.id == login.space and s.actor == login.actor), spaces[0])
    return Visitor(login, personas.patient(login.account), space, spaces)


def require_visitor(request: Request, session: Session, personas: Personas) -> Visitor:
    found = visitor(request, session, personas)
    if found is None:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(path, request.query_params.get("login_hint"))
    return found


def check_csrf(found: Visitor, token: str | None) -> None:
    if not token or not hmac.compare_digest(token, found.login.csrf):
        raise ForbiddenError("formulaire expiré : rechargez la page", error="csrf")

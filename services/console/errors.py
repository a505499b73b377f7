"""The console's errors, and how a browser meets them.

A page that needs the admin token sends a browser to the sign-in page; an API client gets
the ``{"error", "detail"}`` 401 of every other sandbox service.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from shared.errors import NotFoundError, UnauthorizedError
from shared.web.errors import render_for_request


class LoginRequired(UnauthorizedError):
    error = "unauthorized"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="mes-sandbox-console"'})


class UnknownScenarioError(NotFoundError):
    """No scenario (or no run) by that name."""


async def login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/connexion?suite={quote(target)}", status_code=303)
    return render_for_request(exc.body(), request)

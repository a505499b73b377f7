"""The console's dependencies: its peers, its templates, and its guard.

The console holds ``MES_ADMIN_TOKEN`` to read every service's exchanges and to reset the
sandbox; when that token is set, the console asks for it too (once per browser: a
``SameSite=Strict`` cookie derived from it, or ``Authorization: Bearer``), otherwise it
would be a way around the guard of ``/_sandbox``. Without the token the sandbox is open,
and so is the console.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from fastapi import Depends, Request
from jinja2 import Environment

from services.console.clients import Peers
from services.console.errors import LoginRequired
from shared.web.deps import get_runtime

COOKIE = "mes_console"


def session_key(admin_token: str) -> str:
    """The cookie value that proves the browser knew the admin token."""
    return hmac.new(admin_token.encode(), b"mes-sandbox console session", hashlib.sha256).hexdigest()


def require_console(request: Request) -> None:
    expected = get_runtime(request).settings.admin_token
    if not expected:
        return
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), expected.encode()):
        return
    cookie = request.cookies.get(COOKIE, "")
    if hmac.compare_digest(cookie.encode(), session_key(expected).encode()):
        return
    raise LoginRequired("the console needs the sandbox's admin token (MES_ADMIN_TOKEN)")


def get_peers(request: Request) -> Peers:
    peers: Peers = request.app.state.peers
    return peers


def get_templates(request: Request) -> Environment:
    templates: Environment = request.app.state.templates
    return templates


ConsoleGuard = Depends(require_console)
PeersDep = Annotated[Peers, Depends(get_peers)]
TemplatesDep = Annotated[Environment, Depends(get_templates)]

"""The token and introspection endpoints, answered in front of the router.

Every login, every software account and every DMP or MSSanté request whose token is not
kept goes through these two endpoints. :func:`front_routes` gives them to the platform's
:class:`~shared.web.front.FrontRoutes`, inside the platform's middleware (so the exchange
is still traced, faulted, recorded and logged, and PSC's revocation events still leave
before the answer): they are answered without routing, dependency solving and the
exception middleware, which cost PSC about a third of a client_credentials request
(``python -m bench.psc``, README "How fast"). The FastAPI routes of ``routes.py`` answer
through the same functions: they are the ones the OpenAPI document shows, and the ones a
request reaches if this middleware is absent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from services.psc_auth.dependencies import Psc, parse_oauth_form
from shared import jsoncodec
from shared.errors import OAuthError
from shared.oauth.client_auth import presented_client
from shared.oauth.issuers import PSC_OIDC_PATH
from shared.web.front import Handler

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}

#: An endpoint's answer from the request's Content-Type, Authorization and body.
Answer = Callable[[Psc, str | None, str | None, bytes], Awaitable[dict[str, Any]]]


def json_response(body: dict[str, Any], status: int = 200) -> Response:
    """RFC 6749 §5.1: token responses are JSON and never cached."""
    return Response(
        jsoncodec.dumps(body),
        status_code=status,
        media_type="application/json",
        headers=NO_STORE,
    )


async def token(psc: Psc, content_type: str | None, authorization: str | None, body: bytes) -> dict[str, Any]:
    """The token endpoint (RFC 6749 §3.2)."""
    form = parse_oauth_form(content_type, body)
    grant_type = form.get("grant_type")
    if not grant_type:
        raise OAuthError("invalid_request", "grant_type is required")
    presented = presented_client(authorization, form)
    fast = (
        grant_type == "client_credentials"
        and not psc.clients.needs_database(presented)
        and psc.tokens.keys.ready
        and psc.registry.ready
    )
    if fast:
        # The software-account path touches no table: served on the event loop.
        return psc.oidc.client_credentials(psc.clients.authenticate_secret(presented), form.get("scope"))
    return await psc.write(psc.oidc.token, presented, {**form, "grant_type": grant_type})


async def introspect(
    psc: Psc, content_type: str | None, authorization: str | None, body: bytes
) -> dict[str, Any]:
    """Token introspection (RFC 7662), for confidential clients."""
    form = parse_oauth_form(content_type, body)
    presented = presented_client(authorization, form)
    token = form.get("token", "")

    def inner(session: Session) -> dict[str, Any]:
        psc.clients.require_confidential(psc.clients.authenticate(session, presented))
        return psc.tokens.introspect(session, token) if token else {"active": False}

    write = psc.clients.needs_database(presented)
    return await run_in_threadpool(psc.tokens.run, inner, write=write)


async def respond(answer: Answer, request: Request) -> Response:
    """``answer`` for a Starlette request (errors raised: the caller renders them)."""
    psc: Psc = request.app.state.psc
    headers = request.headers
    return json_response(
        await answer(psc, headers.get("content-type"), headers.get("authorization"), await request.body())
    )


def front_routes(realm_path: str) -> dict[tuple[str, str], Handler]:
    """``POST`` to the token and introspection endpoints, for :class:`FrontRoutes`."""
    return {
        ("POST", f"{realm_path}{PSC_OIDC_PATH}/token"): partial(respond, token),
        ("POST", f"{realm_path}{PSC_OIDC_PATH}/token/introspect"): partial(respond, introspect),
    }

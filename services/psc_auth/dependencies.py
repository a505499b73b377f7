"""What Pro Santé Connect's endpoints share, built once in the lifespan (``app.state.psc``)."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qsl

from fastapi import Depends, Request
from jinja2 import Environment
from starlette.concurrency import run_in_threadpool

from services.psc_auth.clock import Clock
from services.psc_auth.mfa.service import Factors
from services.psc_auth.oidc.client_auth import ClientAuthenticator
from services.psc_auth.oidc.service import OidcService
from services.psc_auth.registry import Registry
from services.psc_auth.service import TokenService
from services.psc_auth.settings import PscSettings
from shared.errors import OAuthError

T = TypeVar("T")

#: The single sign-on cookie of the login pages (Keycloak's is ``KEYCLOAK_SESSION``).
SESSION_COOKIE = "PSC_SESSION"


@dataclass
class Psc:
    settings: PscSettings
    clock: Clock
    registry: Registry
    tokens: TokenService
    factors: Factors
    clients: ClientAuthenticator
    oidc: OidcService
    pages: Environment
    #: On SQLite, where one writer runs at a time, the token endpoint's writes go to one
    #: thread of their own: queued there, they do not wake a pool of threads that would
    #: only fight for the write lock and the GIL. ``None``: the shared thread pool.
    writer: ThreadPoolExecutor | None = None

    def page(self, template: str, **context: Any) -> str:
        return self.pages.get_template(template).render(**context)

    async def write(self, work: Callable[..., T], *args: Any) -> T:
        """``work(*args)`` off the event loop, in the writer thread (or the pool)."""
        if self.writer is None:
            return await run_in_threadpool(work, *args)
        context = contextvars.copy_context()  # trace ids and exchange notes follow
        return await asyncio.get_running_loop().run_in_executor(self.writer, context.run, work, *args)


async def get_psc(request: Request) -> Psc:
    # async: FastAPI runs a sync dependency in the thread pool, a costly hop for a getter.
    psc: Psc = request.app.state.psc
    return psc


async def get_tokens(request: Request) -> TokenService:
    psc: Psc = request.app.state.psc
    return psc.tokens


PscDep = Annotated[Psc, Depends(get_psc)]
TokensDep = Annotated[TokenService, Depends(get_tokens)]


async def oauth_form(request: Request) -> dict[str, str]:
    return parse_oauth_form(request.headers.get("content-type"), await request.body())


def parse_oauth_form(content_type: str | None, body: bytes) -> dict[str, str]:
    """An OAuth request body: ``application/x-www-form-urlencoded``, each parameter once,
    empty values treated as absent (RFC 6749 §3.1, §3.2)."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        raise OAuthError("invalid_request", "the body must be application/x-www-form-urlencoded")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    except (UnicodeDecodeError, ValueError) as exc:
        raise OAuthError("invalid_request", "the body is not valid form data") from exc
    form: dict[str, str] = {}
    for key, value in pairs:
        if key in form:
            raise OAuthError("invalid_request", f"parameter '{key}' sent more than once")
        form[key] = value
    return {k: v for k, v in form.items() if v != ""}


FormDep = Annotated[dict[str, str], Depends(oauth_form)]

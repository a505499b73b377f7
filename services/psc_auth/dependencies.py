"""What Pro Santé Connect's endpoints share, built once in the lifespan (``app.state.psc``)."""

from __future__ import annotations

from collections.abc import Callable
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
    #: SQLite: the token endpoint's transactions run on the event loop (see :meth:`write`).
    inline_writes: bool = False

    def page(self, template: str, **context: Any) -> str:
        return self.pages.get_template(template).render(**context)

    async def write(self, work: Callable[..., T], *args: Any) -> T:
        """``work(*args)``: a token endpoint's transaction.

        On SQLite it runs right here, on the event loop. The database is a local file and
        the transaction short (a code exchange ~0.4 ms, the ORM grants 1-2 ms), shorter
        than the hand-off to a thread and back when the loop and that thread share a core:
        the hand-off was a quarter of a code exchange's CPU (``bench.psc``, README "How
        fast"). The process's writers still queue on the database's writer lock, which
        releases the GIL while it waits, and none of them waits on the loop. On PostgreSQL
        (network round trips) it goes to the thread pool."""
        if self.inline_writes:
            return work(*args)
        return await run_in_threadpool(work, *args)


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

"""``create_app(settings)``: Pro Santé Connect as a FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware

from services.psc_auth import sandbox_routes
from services.psc_auth.clock import Clock
from services.psc_auth.dependencies import Psc
from services.psc_auth.errors import PageError
from services.psc_auth.events import EventsMiddleware, Transmitter, mark, watch
from services.psc_auth.keys import KeyRing
from services.psc_auth.login import routes as login_routes
from services.psc_auth.mfa import routes as ecps_routes
from services.psc_auth.mfa.service import Factors
from services.psc_auth.models import Base, SigningKey
from services.psc_auth.oidc import routes as oidc_routes
from services.psc_auth.oidc.client_auth import ClientAuthenticator
from services.psc_auth.oidc.hot import front_routes
from services.psc_auth.oidc.service import OidcService
from services.psc_auth.registry import Registry
from services.psc_auth.seed import seed
from services.psc_auth.service import TokenService
from services.psc_auth.settings import PscSettings
from shared.oauth.issuers import PSC_OIDC_PATH, psc_internal_base
from shared.oauth.keystore import KeyStore
from shared.web.app import build_app
from shared.web.errors import ErrorFormat, ErrorFormats
from shared.web.front import FrontRoutes
from shared.web.runtime import Runtime, ServiceSpec


def _pages() -> Environment:
    return Environment(
        loader=PackageLoader("services.psc_auth", "templates"),
        autoescape=select_autoescape(["html"]),
        auto_reload=False,
    )


@asynccontextmanager
async def _lifespan(app: FastAPI, runtime: Runtime) -> AsyncIterator[None]:
    settings = runtime.settings
    assert isinstance(settings, PscSettings)
    clock = Clock()
    personas = runtime.loaded_personas()
    db = runtime.database()
    registry = Registry(settings, personas, db)
    db_transaction = db.session
    store = KeyStore(SigningKey, settings.signing_alg, settings.access_token_lifetime)
    keys = KeyRing(store, settings.signing_alg, clock, db_transaction)
    tokens = TokenService(settings, keys, personas, registry, clock, db)
    factors = Factors(clock, settings.push_lifetime)
    issuer = settings.psc_issuer_url
    audiences = [
        issuer,
        f"{issuer}{PSC_OIDC_PATH}/token",
        f"{psc_internal_base(settings)}{PSC_OIDC_PATH}/token",
    ]
    clients = ClientAuthenticator(registry, clock, audiences)
    pages = _pages()
    app.state.psc = Psc(
        settings=settings,
        clock=clock,
        registry=registry,
        tokens=tokens,
        factors=factors,
        clients=clients,
        oidc=OidcService(tokens, clients, factors),
        pages=pages,
        inline_writes=db.is_sqlite,
    )
    app.state.tokens = tokens
    await run_in_threadpool(keys.warm)
    await run_in_threadpool(registry.warm)
    app.state.events = Transmitter(
        tokens.issuer,
        keys,
        {
            name: (personas.service_client(name).client_id, runtime.async_peer_client(name))
            for name in settings.event_receivers
        },
        settings.admin_token,
    )
    watch(db.engine)
    clock.on_change.append(lambda: mark("clock"))
    # Caches are reloaded at once (start, reset, snapshot load), so that the event loop
    # never waits on the database for them.
    runtime.reset_hooks.extend([clock.reset, keys.warm, registry.warm, lambda: mark("reset")])
    try:
        yield
    finally:
        await app.state.events.aclose()


async def _page_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageError)
    psc: Psc = request.app.state.psc
    return HTMLResponse(
        psc.page("error.html", title=exc.title, detail=exc.detail), status_code=exc.status_code
    )


def create_app(
    settings: PscSettings | None = None, *, peer_transport: httpx.MockTransport | None = None
) -> FastAPI:
    settings = settings or PscSettings()
    realm = urlsplit(settings.psc_issuer_url).path.rstrip("/")
    spec = ServiceSpec(
        name="psc_auth",
        title="mes-sandbox · Pro Santé Connect",
        description="Pro Santé Connect : fournisseur OpenID Connect des professionnels de santé.",
        metadata=Base.metadata,
        migrations="services.psc_auth:migrations",
        seed=seed,
        routers=(
            # The token and introspection endpoints first: routing tries routes in order.
            oidc_routes.build_hot_router(realm),
            oidc_routes.build_router(realm),
            login_routes.build_router(settings.wallet_url),
            ecps_routes.router,
        ),
        sandbox_routers=(sandbox_routes.router,),
        error_formats=ErrorFormats(((f"{realm}{PSC_OIDC_PATH}", ErrorFormat.OAUTH),)),
        # Inside the platform's middleware: the events of a request leave before its
        # answer, and the token and introspection endpoints are answered before routing.
        middleware=(
            Middleware(EventsMiddleware),
            Middleware(FrontRoutes, routes=front_routes(realm), error_format=ErrorFormat.OAUTH),
        ),
    )
    app = build_app(spec, settings, lifespan=_lifespan, peer_transport=peer_transport)
    app.add_exception_handler(PageError, _page_error)
    return app

"""``create_app(settings)``: the flow console as a FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI

from services.console.clients import SERVICES, Peers
from services.console.errors import LoginRequired, login_required
from services.console.journeys.routes import router as journeys_router
from services.console.models import Base
from services.console.pages import environment
from services.console.routes import public, router
from services.console.scenarios.routes import router as scenarios_router
from services.console.seed import seed
from services.console.settings import ConsoleSettings
from services.console.views.routes import router as views_router
from shared.web.app import build_app
from shared.web.runtime import Runtime, ServiceSpec

SPEC = ServiceSpec(
    name="console",
    title="mes-sandbox · console des flux",
    description="La console des flux : les échanges entre services en parcours, et les scénarios.",
    metadata=Base.metadata,
    migrations="services.console:migrations",
    seed=seed,
    routers=(public, router, journeys_router, scenarios_router, views_router),
    static_dir=Path(__file__).with_name("static"),
)


@asynccontextmanager
async def _lifespan(app: FastAPI, runtime: Runtime) -> AsyncIterator[None]:
    app.state.templates = environment()
    clients = {name: runtime.async_peer_client(name) for name in SERVICES}
    app.state.peers = Peers(clients, runtime.settings)
    try:
        yield
    finally:
        for client in clients.values():
            await client.aclose()


def create_app(
    settings: ConsoleSettings | None = None, *, peer_transport: httpx.MockTransport | None = None
) -> FastAPI:
    app = build_app(SPEC, settings or ConsoleSettings(), lifespan=_lifespan, peer_transport=peer_transport)
    app.add_exception_handler(LoginRequired, login_required)
    return app

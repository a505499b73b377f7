"""``create_app(settings)``: the DMP as a FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from starlette.middleware import Middleware

from services.dmp.clients import resource_server
from services.dmp.documents.routes import front_routes as front_reads
from services.dmp.models import Base
from services.dmp.notifications import Notifier
from services.dmp.publication.routes import front_routes as front_writes
from services.dmp.routes import ROUTERS
from services.dmp.sandbox_routes import router as sandbox_router
from services.dmp.seed import seed
from services.dmp.settings import DmpSettings
from shared.web.app import build_app
from shared.web.errors import ErrorFormat, ErrorFormats
from shared.web.front import FrontRoutes
from shared.web.runtime import Runtime, ServiceSpec

SPEC = ServiceSpec(
    name="dmp",
    title="mes-sandbox · DMP",
    description="Le DMP : partage de documents de santé en FHIR R4 (PDSm / IHE MHD).",
    metadata=Base.metadata,
    migrations="services.dmp:migrations",
    seed=seed,
    routers=ROUTERS,
    sandbox_routers=(sandbox_router,),
    error_formats=ErrorFormats((("/fhir", ErrorFormat.FHIR), ("/api", ErrorFormat.JSON))),
    middleware=(
        Middleware(FrontRoutes, routes={**front_writes(), **front_reads()}, error_format=ErrorFormat.FHIR),
    ),
    # ITI-65's and ITI-67's usual cases (services/dmp/publication/direct.py,
    # services/dmp/documents/direct.py).
    loop_database=True,
)


@asynccontextmanager
async def _lifespan(app: FastAPI, runtime: Runtime) -> AsyncIterator[None]:
    settings = runtime.settings
    assert isinstance(settings, DmpSettings)
    auth = resource_server(runtime, settings.audience, introspect=settings.introspect)
    app.state.auth = auth
    runtime.reset_hooks.append(auth.forget_keys)
    psc, mss = runtime.peer_client("psc_auth"), runtime.peer_client("mss")
    app.state.notifier = Notifier(
        settings, runtime.loaded_personas(), runtime.database(), psc, mss, settings.notify
    )
    try:
        yield
    finally:
        await auth.aclose()
        psc.close()
        mss.close()


def create_app(
    settings: DmpSettings | None = None, *, peer_transport: httpx.MockTransport | None = None
) -> FastAPI:
    return build_app(SPEC, settings or DmpSettings(), lifespan=_lifespan, peer_transport=peer_transport)

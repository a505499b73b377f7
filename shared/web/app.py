"""``build_app``: the shape every service's ``create_app(settings)`` shares.

The service contributes its routers, models, migrations and seed (a :class:`ServiceSpec`)
and, optionally, a lifespan of its own for its peers' clients and caches; the platform
adds ``/health``, OpenAPI at ``/docs``, ``/_sandbox/``, the error handlers and the
middleware that traces, faults and records every exchange.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles

from shared import __version__
from shared.faults import FaultBook
from shared.observability.exchanges import ExchangeLog
from shared.settings import ServiceSettings
from shared.web import health, sandbox
from shared.web.deps import require_admin
from shared.web.errors import install_error_handlers
from shared.web.middleware import SandboxMiddleware
from shared.web.runtime import Runtime, ServiceSpec

ExtraLifespan = Callable[[FastAPI, Runtime], AbstractAsyncContextManager[None]]


def build_app(
    spec: ServiceSpec,
    settings: ServiceSettings,
    *,
    lifespan: ExtraLifespan | None = None,
    peer_transport: httpx.MockTransport | None = None,
) -> FastAPI:
    runtime = Runtime(
        spec=spec,
        settings=settings,
        exchanges=ExchangeLog(spec.name, settings.exchange_capacity),
        faults=FaultBook(),
        peer_transport=peer_transport,
    )

    @asynccontextmanager
    async def app_lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime.open()
        try:
            if spec.loop_database:
                await runtime.database().open_loop()
            if lifespan is None:
                _freeze_startup_objects()
                yield
            else:
                async with lifespan(app, runtime):
                    _freeze_startup_objects()
                    yield
        finally:
            await runtime.database().close_loop()
            runtime.close()

    app = FastAPI(
        title=spec.title,
        description=spec.description,
        version=__version__,
        lifespan=app_lifespan,
        # The sandbox traces requests itself (W3C traceparent, the recorded exchanges):
        # FastAPI's native OpenTelemetry would only look for global providers per request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.runtime = runtime
    install_error_handlers(app, spec.error_formats)
    # Each add_middleware wraps the ones added before it: the service's go in first.
    for middleware in reversed(spec.middleware):
        app.add_middleware(middleware.cls, *middleware.args, **middleware.kwargs)
    app.add_middleware(
        SandboxMiddleware,
        service=spec.name,
        exchanges=runtime.exchanges,
        faults=runtime.faults,
        body_limit=settings.exchange_body_limit,
    )
    # The service's own routes first: routing tries routes in order, and the APIs users
    # load-test should not walk the platform's routes before their own. No service route
    # is a root-level catch-all, so nothing hides /health or /_sandbox/ (the sandbox API
    # tests call both on every service).
    for router in spec.routers:
        app.include_router(router)
    app.include_router(health.router)
    app.include_router(sandbox.router)
    for router in spec.sandbox_routers:
        app.include_router(router, prefix="/_sandbox", dependencies=[Depends(require_admin)])
    if spec.static_dir is not None:
        app.mount("/static", StaticFiles(directory=spec.static_dir), name="static")
    return app


def _freeze_startup_objects() -> None:
    """What start-up built (models, personas, routes: ~150,000 objects in the DMP) lives as
    long as the process: out of the collector's sight, a full collection no longer walks it
    (each took ~30 ms and made the DMP search's p99). Freezing, unlike collecting, writes to
    no object: a forked child keeps sharing its parent's pages."""
    gc.freeze()

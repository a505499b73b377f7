"""``create_app(settings)``: MSSanté as a FastAPI application, with its SMTP and IMAP
listeners started in the lifespan on the same event loop (README, "MSSanté")."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any

import httpx
from fastapi import FastAPI

from services.mss.clients import DmpClient, resource_server
from services.mss.mail import delivery
from services.mss.models import Base
from services.mss.ordonnance.routes import router as ordonnance_router
from services.mss.routes import directory_router, router
from services.mss.seed import seed
from services.mss.settings import MssSettings
from services.mss.tls import ListenerTls
from services.mss.writer import DeliveryWriter
from shared.web.app import build_app
from shared.web.errors import ErrorFormat, ErrorFormats
from shared.web.runtime import Runtime, ServiceSpec

if TYPE_CHECKING:
    from services.mss.smtp import LiveSessions

SPEC = ServiceSpec(
    name="mss",
    title="mes-sandbox · MSSanté",
    description="Messagerie sécurisée de santé (MSSanté) et ordonnance numérique.",
    metadata=Base.metadata,
    migrations="services.mss:migrations",
    seed=seed,
    routers=(router, ordonnance_router, directory_router),
    error_formats=ErrorFormats(prefixes=(("/fhir", ErrorFormat.FHIR),)),
)


@asynccontextmanager
async def _lifespan(app: FastAPI, runtime: Runtime) -> AsyncIterator[None]:
    settings = runtime.settings
    assert isinstance(settings, MssSettings)
    auth = resource_server(runtime, settings.audience)
    app.state.auth = auth
    runtime.reset_hooks.append(auth.forget_keys)
    async with AsyncExitStack() as stack:
        stack.push_async_callback(auth.aclose)
        app.state.dmp = DmpClient(runtime.peer_client("dmp"))
        stack.callback(app.state.dmp.close)
        # The copies of the plain messages of a batch are written together, before its commit.
        sessions = _smtp_sessions(settings)
        writer = app.state.writer = DeliveryWriter(
            runtime.database,
            before_commit=delivery.write_deferred,
            expected=sessions.in_transaction if sessions is not None else None,
        )
        stack.callback(writer.close)  # after the listeners (the stack unwinds in reverse)
        listener_tls = ListenerTls(lambda: _tls_context(runtime))
        runtime.reset_hooks.append(listener_tls.reload)
        if sessions is not None:
            from services.mss import smtp

            await smtp.start(runtime, auth, settings, writer, listener_tls, sessions, stack)
        if settings.imap_port:
            imap_server = await _lazy_imap(runtime, auth, settings, listener_tls)
            stack.push_async_callback(_close_server, imap_server)
        yield


def _tls_context(runtime: Runtime) -> ssl.SSLContext:
    from services.mss import tls
    from services.mss.models import TlsMaterial

    with runtime.database().session(write=False) as session:
        material = session.get(TlsMaterial, "listeners")
        if material is None:
            raise RuntimeError("the MSSanté seed has no TLS certificate: reset the service")
        return tls.server_context(material.certificate_pem, material.key_pem)


async def _lazy_imap(
    runtime: Runtime, auth: Any, settings: MssSettings, listener_tls: ListenerTls
) -> asyncio.Server:
    """Listen now; import pymap (half a second) when the first IMAP client connects."""
    handler: list[Any] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not handler:
            from services.mss import imap

            handler.append(imap.connection_handler(runtime, auth, settings, listener_tls))
        await handler[0](reader, writer)

    return await asyncio.start_server(accept, host=settings.host, port=settings.imap_port)


def _smtp_sessions(settings: MssSettings) -> LiveSessions | None:
    if not settings.smtp_port:
        return None
    from services.mss.smtp import LiveSessions

    return LiveSessions()


async def _close_server(server: asyncio.Server) -> None:
    server.close()
    await server.wait_closed()


def create_app(
    settings: MssSettings | None = None, *, peer_transport: httpx.MockTransport | None = None
) -> FastAPI:
    return build_app(SPEC, settings or MssSettings(), lifespan=_lifespan, peer_transport=peer_transport)

"""``create_app(settings)``: Mon espace santé as a FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI
from jinja2 import Environment, FileSystemLoader, select_autoescape

from services.catalog import sandbox_routes, web
from services.catalog.clients import DmpClient
from services.catalog.mesures.service import Searches
from services.catalog.models import Base, SigningKey
from services.catalog.oauth.local import LocalVerifier
from services.catalog.oauth.service import TokenService
from services.catalog.rawsql import RawReader
from services.catalog.routes import ROUTERS
from services.catalog.seed import seed
from services.catalog.settings import CatalogSettings
from shared.oauth.issuers import CATALOG_OAUTH_PATH
from shared.oauth.keystore import KeyStore
from shared.web.app import build_app
from shared.web.errors import ErrorFormat, ErrorFormats
from shared.web.runtime import Runtime, ServiceSpec

SPEC = ServiceSpec(
    name="catalog",
    title="mes-sandbox · Mon espace santé",
    description="Mon espace santé : comptes patients, catalogue de services, consentement.",
    metadata=Base.metadata,
    migrations="services.catalog:migrations",
    seed=seed,
    routers=ROUTERS,
    sandbox_routers=(sandbox_routes.router,),
    error_formats=ErrorFormats(((CATALOG_OAUTH_PATH, ErrorFormat.OAUTH), ("/fhir", ErrorFormat.FHIR))),
)


@asynccontextmanager
async def _lifespan(app: FastAPI, runtime: Runtime) -> AsyncIterator[None]:
    settings = runtime.settings
    assert isinstance(settings, CatalogSettings)
    keys = KeyStore(SigningKey, settings.signing_alg, settings.refresh_token_lifetime)
    tokens = TokenService(settings, keys, runtime.loaded_personas())
    app.state.tokens = tokens
    app.state.verifier = verifier = LocalVerifier(tokens, settings.audience)
    app.state.templates = Environment(
        loader=FileSystemLoader(Path(__file__).with_name("templates")), autoescape=select_autoescape()
    )
    app.state.dmp = DmpClient(runtime.peer_client("dmp"))
    raw = RawReader(runtime.database().engine)
    app.state.searches = Searches(raw)
    runtime.reset_hooks.extend((keys.forget, verifier.forget))
    try:
        yield
    finally:
        app.state.dmp.http.close()
        raw.close()


def create_app(
    settings: CatalogSettings | None = None, *, peer_transport: httpx.MockTransport | None = None
) -> FastAPI:
    app = build_app(SPEC, settings or CatalogSettings(), lifespan=_lifespan, peer_transport=peer_transport)
    web.install(app)
    return app

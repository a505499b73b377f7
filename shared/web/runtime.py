"""What one running service holds: settings, storage, seed, exchanges, faults.

Built by :func:`shared.web.app.build_app`; the storage parts are opened in the lifespan
(never at import time), so several services with different settings share a process.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from fastapi import APIRouter
from sqlalchemy import MetaData
from starlette.middleware import Middleware

from shared.db import migrate
from shared.db.engine import Database
from shared.db.seed import SeedFunction, SeedManager
from shared.faults import FaultBook
from shared.http import make_async_client, make_client
from shared.observability.exchanges import ExchangeLog
from shared.personas import Personas, load_personas
from shared.settings import ServiceSettings
from shared.web.errors import ErrorFormats

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServiceSpec:
    """What makes a service different from the others, for :func:`build_app`."""

    name: str
    title: str
    description: str
    metadata: MetaData
    #: Alembic script location as a package resource, e.g. ``services.dmp:migrations``.
    migrations: str
    seed: SeedFunction
    routers: Sequence[APIRouter] = ()
    #: Service-specific test controls, mounted under ``/_sandbox`` behind the admin token.
    sandbox_routers: Sequence[APIRouter] = ()
    error_formats: ErrorFormats = field(default_factory=ErrorFormats)
    static_dir: Path | None = None
    #: The service's own pure-ASGI middleware, outermost first. They run inside the
    #: platform's (``SandboxMiddleware``): what they answer is traced, faulted, recorded
    #: and logged like any route's answer.
    middleware: Sequence[Middleware] = ()
    #: Whether its hot paths run statements on the event loop (:mod:`shared.db.steps`): the
    #: lifespan then opens PostgreSQL connections for the loop (:mod:`shared.db.loop`).
    loop_database: bool = False


@dataclass
class Runtime:
    spec: ServiceSpec
    settings: ServiceSettings
    exchanges: ExchangeLog
    faults: FaultBook
    #: Replaces the network for peer calls in tests (``httpx.MockTransport``).
    peer_transport: httpx.MockTransport | None = None
    personas: Personas | None = None
    db: Database | None = None
    seeds: SeedManager | None = None
    schema: str | None = None
    started_at: float = field(default_factory=time.time)
    #: Called after a reset or a snapshot load: drop in-memory caches derived from data.
    reset_hooks: list[Callable[[], None]] = field(default_factory=list)

    def open(self) -> None:
        """Personas, database, migrations, seed: everything a request will need."""
        self.personas = load_personas(self.settings.personas_file)
        self.db = Database(self.settings.resolved_database_url())
        try:
            self.schema = migrate.upgrade(self.db.engine, self.spec.migrations)
        except Exception as exc:
            if type(exc).__module__.startswith("alembic"):
                message = (
                    f"{self.spec.name}: its database ({self.db.engine.url.render_as_string()}) has a schema "
                    f"this version cannot migrate ({exc}); start from an empty one (mes-sandbox up --fresh, "
                    "or another MES_DATA_DIR / database URL)"
                )
                log.error(message)
                raise RuntimeError(message) from exc
            raise
        self.seeds = SeedManager(self.db, self.spec.metadata, self.spec.seed, self.personas, self.schema)
        status = self.seeds.ensure()
        log.info("%s ready: schema %s, seeded at %s", self.spec.name, self.schema, status.seeded_at)

    def close(self) -> None:
        if self.db is not None:
            self.db.dispose()

    def database(self) -> Database:
        if self.db is None:
            raise RuntimeError(f"{self.spec.name} is not started (no database yet)")
        return self.db

    def seed_manager(self) -> SeedManager:
        if self.seeds is None:
            raise RuntimeError(f"{self.spec.name} is not started (no seed yet)")
        return self.seeds

    def loaded_personas(self) -> Personas:
        if self.personas is None:
            raise RuntimeError(f"{self.spec.name} is not started (no personas yet)")
        return self.personas

    def after_state_change(self) -> None:
        for hook in self.reset_hooks:
            hook()

    def reset(self) -> None:
        self.seed_manager().reset()
        self.faults.clear()
        self.after_state_change()

    def peer_client(self, peer: str) -> httpx.Client:
        """A synchronous client to ``peer`` (close it in the lifespan)."""
        return make_client(
            service=self.spec.name,
            peer=peer,
            base_url=self.settings.peer_url(peer),
            exchanges=self.exchanges,
            timeout=self.settings.peer_timeout,
            body_limit=self.settings.exchange_body_limit,
            transport=self.peer_transport,
        )

    def async_peer_client(self, peer: str) -> httpx.AsyncClient:
        return make_async_client(
            service=self.spec.name,
            peer=peer,
            base_url=self.settings.peer_url(peer),
            exchanges=self.exchanges,
            timeout=self.settings.peer_timeout,
            body_limit=self.settings.exchange_body_limit,
            transport=self.peer_transport,
        )

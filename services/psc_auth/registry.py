"""Who can log in and which software may ask: professionals and clients, from the database.

The seed copies the personas' professionals and PSC clients (and the sandbox services'
own credentials, as software accounts) into the database; ``/_sandbox/`` adds more at
runtime. Both are read on nearly every request, so they are cached in memory and the
cache is dropped after a commit that changed them, a reset or a snapshot load.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from services.psc_auth.models import ClientRecord, ProfessionalRecord
from services.psc_auth.settings import PscSettings
from shared.db.engine import Database
from shared.personas import Personas, Professional, PscClient

SECRET_METHODS = ("client_secret_basic", "client_secret_post")


@dataclass(frozen=True)
class Client:
    """A registered client, with its URIs expanded for this sandbox (``{console_url}``)."""

    client_id: str
    name: str
    secret: str | None
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...]
    grant_types: tuple[str, ...]
    auth_method: str
    userinfo_format: str
    jwks: dict[str, Any] | None = field(default=None, hash=False, compare=False)

    @property
    def public(self) -> bool:
        return self.auth_method == "none"


def client_data(client: PscClient, jwks: dict[str, Any] | None = None) -> dict[str, Any]:
    data = client.model_dump(mode="json")
    data["jwks"] = jwks
    return data


def service_clients(personas: Personas) -> list[PscClient]:
    """The sandbox services' credentials, as confidential software accounts."""
    return [
        PscClient(
            client_id=creds.client_id,
            name=f"Service {name} du bac à sable",
            secret=creds.client_secret,
            grant_types=("client_credentials",),
            token_endpoint_auth_method="client_secret_basic",
            description="Compte logiciel d'un service du bac à sable (introspection, client_credentials).",
        )
        for name, creds in personas.data.services.items()
    ]


class Registry:
    def __init__(self, settings: PscSettings, personas: Personas, db: Database) -> None:
        self.settings = settings
        self.personas = personas
        self.db = db
        self._lock = threading.Lock()
        self._generation = 0
        self._professionals: dict[str, Professional] | None = None
        self._by_idnat: dict[str, str] = {}
        self._clients: dict[str, Client] | None = None

    # -- cache -------------------------------------------------------------------------

    def forget(self) -> None:
        with self._lock:
            self._generation += 1
            self._professionals = None
            self._clients = None

    def warm(self) -> None:
        self.forget()
        self._load()

    def forget_after_commit(self, session: Session) -> None:
        """Drop the cache once ``session`` commits (not before: others would reload the
        old rows and keep them)."""
        event.listen(session, "after_commit", lambda _s: self.forget(), once=True)

    def _load(self) -> None:
        generation = self._generation
        with self.db.session(write=False) as session:
            pros = {
                r.id: Professional.model_validate(r.data) for r in session.scalars(select(ProfessionalRecord))
            }
            clients = {r.client_id: self._client(r.data) for r in session.scalars(select(ClientRecord))}
        with self._lock:
            if generation == self._generation:
                self._professionals = pros
                self._by_idnat = {p.idnat: p.id for p in pros.values()}
                self._clients = clients

    def _client(self, data: dict[str, Any]) -> Client:
        console = self.settings.peer_public_url("console")

        def expand(uris: list[str]) -> tuple[str, ...]:
            return tuple(u.replace("{console_url}", console) for u in uris)

        return Client(
            client_id=data["client_id"],
            name=data["name"],
            secret=data.get("secret"),
            redirect_uris=expand(data.get("redirect_uris", [])),
            post_logout_redirect_uris=expand(data.get("post_logout_redirect_uris", [])),
            grant_types=tuple(data.get("grant_types", [])),
            auth_method=data.get("token_endpoint_auth_method", "client_secret_basic"),
            userinfo_format=data.get("userinfo_format", "json"),
            jwks=data.get("jwks"),
        )

    @property
    def ready(self) -> bool:
        """Both caches are loaded (the event loop may then read them without the database)."""
        return self._professionals is not None and self._clients is not None

    def professionals(self) -> dict[str, Professional]:
        pros = self._professionals
        if pros is None:
            self._load()
            pros = self._professionals
        return pros or {}

    def clients(self) -> dict[str, Client]:
        clients = self._clients
        if clients is None:
            self._load()
            clients = self._clients
        return clients or {}

    # -- lookups -----------------------------------------------------------------------

    def professional(self, reference: str) -> Professional | None:
        """By persona id, idNatPS (``8`` + RPPS) or bare RPPS."""
        pros = self.professionals()
        reference = reference.strip()
        pro_id = reference if reference in pros else self._by_idnat.get(reference)
        pro_id = pro_id or self._by_idnat.get("8" + reference)
        return pros.get(pro_id) if pro_id else None

    def client(self, client_id: str) -> Client | None:
        return self.clients().get(client_id)

    # -- runtime additions (flush only; the cache follows the commit) -----------------------

    def add_professional(self, session: Session, pro: Professional, now: Any) -> None:
        session.add(
            ProfessionalRecord(id=pro.id, idnat=pro.idnat, data=pro.model_dump(mode="json"), added_at=now)
        )
        session.flush()
        self.forget_after_commit(session)

    def register_client(self, session: Session, data: dict[str, Any], now: Any) -> Client:
        existing = session.get(ClientRecord, data["client_id"])
        if existing is None:
            session.add(ClientRecord(client_id=data["client_id"], data=data, added_at=now))
        else:
            existing.data, existing.added_at = data, now
        session.flush()
        self.forget_after_commit(session)
        return self._client(data)

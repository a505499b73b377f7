"""The console's peers, over HTTP only: each service's health, recorded exchanges and
test controls (``/_sandbox``, with ``MES_ADMIN_TOKEN`` when it is set), and the keys of
the two authorization servers (to say which key signed a token).

The console's calls to ``/_sandbox`` and ``/health`` are not recorded (shared/http.py),
so that the journeys show the services' own traffic.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from shared.oauth.issuers import CATALOG_OAUTH_PATH, PSC_OIDC_PATH, psc_internal_base
from shared.settings import ServiceSettings

SERVICES = ("psc_auth", "dmp", "mss", "catalog")
Exchange = dict[str, Any]
#: Seconds the JWKS are kept (an unknown kid fetches them again).
KEYSET_TTL = 30.0


@dataclass
class Gathered:
    """Exchanges read from every service, and the services that could not be read."""

    exchanges: list[Exchange] = field(default_factory=list)
    unreachable: dict[str, str] = field(default_factory=dict)
    newest: dict[str, int] = field(default_factory=dict)


def _reason(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class Peers:
    """Typed access to the four services, through the platform's peer clients."""

    def __init__(self, clients: Mapping[str, httpx.AsyncClient], settings: ServiceSettings) -> None:
        self.clients = clients
        self.settings = settings
        self._keysets: tuple[float, dict[str, dict[str, Any]]] = (0.0, {})

    @property
    def _admin(self) -> dict[str, str]:
        token = self.settings.admin_token
        return {"Authorization": f"Bearer {token}"} if token else {}

    async def sandbox(self, service: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """``/_sandbox/<path>`` of ``service`` with the admin token."""
        headers = {**self._admin, **kwargs.pop("headers", {})}
        return await self.clients[service].request(method, f"/_sandbox/{path}", headers=headers, **kwargs)

    async def health(self) -> dict[str, dict[str, Any]]:
        """Each service's ``/health`` (or why it could not be read)."""

        async def one(name: str) -> tuple[str, dict[str, Any]]:
            try:
                answer = await self.clients[name].get("/health")
                return name, answer.json()
            except (httpx.HTTPError, ValueError) as exc:
                return name, {"status": "unreachable", "reason": _reason(exc)}

        return dict(await asyncio.gather(*(one(name) for name in SERVICES)))

    async def exchanges(
        self,
        *,
        trace_id: str | None = None,
        since: str | None = None,
        after: Mapping[str, int] | None = None,
        limit: int = 500,
    ) -> Gathered:
        """The recorded exchanges of every service matching the filters, concatenated."""

        async def one(name: str) -> tuple[str, list[Exchange] | str]:
            params: dict[str, Any] = {"limit": limit}
            if trace_id:
                params["trace_id"] = trace_id
            if since:
                params["since"] = since
            if after and name in after:
                params["after"] = after[name]
            try:
                answer = await self.sandbox(name, "GET", "exchanges", params=params)
                answer.raise_for_status()
                return name, list(answer.json()["exchanges"])
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                return name, _reason(exc)

        gathered = Gathered()
        for name, result in await asyncio.gather(*(one(n) for n in SERVICES)):
            if isinstance(result, str):
                gathered.unreachable[name] = result
                continue
            gathered.exchanges.extend(result)
            gathered.newest[name] = max((e["id"] for e in result), default=(after or {}).get(name, 0))
        return gathered

    async def session(self, reference: str) -> Gathered:
        """The one exchange ``<service>-<id>`` (a session recorded without a trace)."""
        service, _, number = reference.rpartition("-")
        gathered = Gathered()
        try:
            answer = await self.sandbox(
                service, "GET", "exchanges", params={"after": int(number) - 1, "limit": 10_000}
            )
            answer.raise_for_status()
            found = answer.json()["exchanges"]
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            gathered.unreachable[service] = _reason(exc)
            return gathered
        gathered.exchanges = [e for e in found if e["id"] == int(number)][:1]
        return gathered

    async def exchanges_of(self, traces: Iterable[str], since: str | None = None) -> Gathered:
        """The exchanges of several traces (a scenario run: one trace per step)."""
        wanted = set(traces)
        if len(wanted) == 1 and "-" in next(iter(wanted)):
            return await self.session(next(iter(wanted)))
        if len(wanted) == 1:
            return await self.exchanges(trace_id=next(iter(wanted)), limit=10_000)
        gathered = await self.exchanges(since=since, limit=10_000)
        gathered.exchanges = [e for e in gathered.exchanges if e.get("trace_id") in wanted]
        return gathered

    async def each(self, method: str, path: str, bodies: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``/_sandbox/<path>`` on every service at once; raises on the first failure."""

        async def one(name: str) -> tuple[str, Any]:
            kwargs = {"json": bodies[name]} if bodies is not None else {}
            answer = await self.sandbox(name, method, path, timeout=60.0, **kwargs)
            answer.raise_for_status()
            return name, answer.json()

        return dict(await asyncio.gather(*(one(n) for n in SERVICES)))

    async def keysets(self, *, fresh: bool = False) -> dict[str, dict[str, Any]]:
        """The JWKS of Pro Santé Connect and Mon espace santé (empty when unreachable),
        kept a little while: every exchange page needs them, and each fetch is traffic."""
        cached_at, cached = self._keysets
        if not fresh and cached and time.monotonic() - cached_at < KEYSET_TTL:
            return cached
        sources = {
            "Pro Santé Connect": ("psc_auth", f"{psc_internal_base(self.settings)}{PSC_OIDC_PATH}/certs"),
            "Mon espace santé": ("catalog", f"{self.settings.peer_url('catalog')}{CATALOG_OAUTH_PATH}/jwks"),
        }

        async def one(label: str, service: str, url: str) -> tuple[str, dict[str, Any]]:
            try:
                answer = await self.clients[service].get(url)
                data = answer.json() if answer.status_code == 200 else {}
            except (httpx.HTTPError, ValueError):
                data = {}
            return label, data if isinstance(data, dict) else {}

        keysets = dict(await asyncio.gather(*(one(label, s, u) for label, (s, u) in sources.items())))
        self._keysets = (time.monotonic(), keysets)
        return keysets

    async def token(self, service: str, body: Mapping[str, Any]) -> str:
        """An access token through the sandbox shortcut of ``service`` (``psc_auth`` or
        ``catalog``: contracts 1 and 2); raises :class:`httpx.HTTPError` when refused."""
        answer = await self.sandbox(service, "POST", "tokens", json=dict(body))
        answer.raise_for_status()
        return str(answer.json()["access_token"])

    async def api(self, service: str, method: str, path: str, token: str, **kwargs: Any) -> httpx.Response:
        """A call to a service's public API with a bearer token (recorded, like any call)."""
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        return await self.clients[service].request(method, path, headers=headers, **kwargs)

    async def psc_discovery(self) -> dict[str, Any]:
        url = f"{psc_internal_base(self.settings)}/.well-known/openid-configuration"
        try:
            answer = await self.clients["psc_auth"].get(url)
            data = answer.json() if answer.status_code == 200 else {}
        except (httpx.HTTPError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

"""What tests use to drive a running sandbox (started by conftest.py).

``Sandbox`` wraps a :class:`services.launcher.Topology`: URLs, admin-authenticated
clients, reset, and the token shortcuts of Pro Santé Connect and Mon espace santé.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import httpx

from services.launcher import SERVICES, Topology

#: Every test sandbox protects /_sandbox with this token (the guard is tested too).
ADMIN_TOKEN = "test-admin-token"


@dataclass
class Sandbox:
    topology: Topology
    mode: str
    _clients: dict[str, httpx.Client] = field(default_factory=dict)

    def url(self, service: str) -> str:
        return self.topology.url(service)

    @property
    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    def client(self, service: str) -> httpx.Client:
        """A plain client to ``service`` (no credentials), kept for the session."""
        if service not in self._clients:
            self._clients[service] = httpx.Client(base_url=self.url(service), timeout=30.0)
        return self._clients[service]

    def admin(self, service: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Call ``/_sandbox/<path>`` of ``service`` with the admin token."""
        headers = {**self.admin_headers, **kwargs.pop("headers", {})}
        return self.client(service).request(
            method, f"/_sandbox/{path.lstrip('/')}", headers=headers, **kwargs
        )

    def reset(self) -> None:
        for service in SERVICES:
            answer = self.admin(service, "POST", "reset")
            assert answer.status_code == 200, (service, answer.text)

    def psc_tokens(self, professional: str | None = "jeanne-martin", **body: Any) -> dict[str, Any]:
        """Tokens of a professional persona (``None``: a client_credentials token)."""
        answer = self.admin("psc_auth", "POST", "tokens", json={"professional": professional, **body})
        assert answer.status_code == 200, answer.text
        tokens: dict[str, Any] = answer.json()
        return tokens

    def psc_token(self, professional: str | None = "jeanne-martin", **body: Any) -> str:
        return str(self.psc_tokens(professional, **body)["access_token"])

    def mes_token(self, patient: str = "dominique-pat-trois", **body: Any) -> str:
        """A Mon espace santé access token (patient, or ``actor``/``person`` acting)."""
        answer = self.admin("catalog", "POST", "tokens", json={"patient": patient, **body})
        assert answer.status_code == 200, answer.text
        return str(answer.json()["access_token"])

    def close(self) -> None:
        for client in self._clients.values():
            client.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def postgres_admin_url() -> str | None:
    """The PostgreSQL server of the PostgreSQL leg (``.ci/run`` sets it), or None."""
    return os.environ.get("MES_TEST_POSTGRES_URL") or None

"""Fixtures of the DMP's tests: personas, and clients acting as professionals and patients."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from services.dmp.app import create_app
from services.dmp.settings import DmpSettings
from shared.personas import DEFAULT_FILE, Personas, load_personas
from tests.support import Sandbox, bearer

FHIR_JSON = "application/fhir+json"


@pytest.fixture(scope="session")
def personas() -> Personas:
    return load_personas(DEFAULT_FILE)


@pytest.fixture
def tokens(sb: Sandbox) -> Callable[..., str]:
    """A token per (kind, who, options), minted once per test (a reset forgets the tokens
    the authorization servers issued: introspection then says they are inactive)."""
    cache: dict[tuple[Any, ...], str] = {}

    def get(kind: str, who: str | None, **options: Any) -> str:
        key = (kind, who, tuple(sorted(options.items())))
        if key not in cache:
            cache[key] = sb.psc_token(who, **options) if kind == "psc" else sb.mes_token(who or "", **options)
        return cache[key]

    return get


@pytest.fixture
def dmp(sb: Sandbox) -> httpx.Client:
    return sb.client("dmp")


def pro_headers(token: str, **extra: str) -> dict[str, str]:
    return {**bearer(token), "Content-Type": FHIR_JSON, "Accept": FHIR_JSON, **extra}


@pytest.fixture
def dmp_with(sb: Sandbox, tmp_path: Path) -> Iterator[Callable[..., TestClient]]:
    """A second DMP, in this process, with other settings (its own SQLite database), using
    the running sandbox's Pro Santé Connect and Mon espace santé; ``peer_transport`` puts an
    ``httpx.MockTransport`` at its edge."""
    clients: list[TestClient] = []

    def start(peer_transport: httpx.MockTransport | None = None, **settings: Any) -> TestClient:
        base = sb.topology.settings("dmp")
        assert isinstance(base, DmpSettings)
        values = {
            "data_dir": tmp_path / f"dmp-{len(clients)}",
            "database_url": None,
            "admin_token": None,
            **settings,
        }
        client = TestClient(create_app(base.model_copy(update=values), peer_transport=peer_transport))
        client.__enter__()
        clients.append(client)
        return client

    yield start
    for client in clients:
        client.__exit__(None, None, None)


def forwarding(
    sb: Sandbox, intercept: Callable[[httpx.Request], httpx.Response | None]
) -> httpx.MockTransport:
    """A MockTransport that answers what ``intercept`` answers, and sends everything else on
    to the real sandbox (token verification keeps talking to the real issuers)."""
    real = httpx.Client(timeout=30.0)

    def handle(request: httpx.Request) -> httpx.Response:
        answer = intercept(request)
        if answer is not None:
            return answer
        upstream = real.send(
            httpx.Request(request.method, request.url, headers=request.headers, content=request.read())
        )
        headers = {
            k: v
            for k, v in upstream.headers.items()
            if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
        }
        return httpx.Response(upstream.status_code, headers=headers, content=upstream.content)

    return httpx.MockTransport(handle)

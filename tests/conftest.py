"""Fixtures: one sandbox per test session, reset to the seed before each test that uses it.

``MES_TEST_LAUNCH=thread`` (default) runs the services in threads of the test process;
``MES_TEST_LAUNCH=process`` runs each as its own process (``python -m services run``), as
in production: the same tests pass both ways. ``MES_TEST_POSTGRES_URL`` (set by
``.ci/run``) puts every service on its own fresh PostgreSQL database.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from services.launcher import SERVICES, ProcessSandbox, ThreadSandbox, Topology
from shared.db.engine import normalise_url
from tests.support import ADMIN_TOKEN, Sandbox, postgres_admin_url


def _create_databases(admin_url: str, tag: str) -> tuple[dict[str, str], list[str]]:
    engine = create_engine(normalise_url(admin_url), isolation_level="AUTOCOMMIT")
    urls, names = {}, []
    base = admin_url.rsplit("/", 1)[0]
    with engine.connect() as connection:
        for service in SERVICES:
            name = f"mes_test_{tag}_{service}"
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
            urls[service] = f"{base}/{name}"
            names.append(name)
    engine.dispose()
    return urls, names


def _drop_databases(admin_url: str, names: list[str]) -> None:
    engine = create_engine(normalise_url(admin_url), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        for name in names:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """The whole sandbox, started once for the session (threads or processes)."""
    mode = os.environ.get("MES_TEST_LAUNCH", "thread")
    data_dir: Path = tmp_path_factory.mktemp("mes-data")
    admin_url = postgres_admin_url()
    database_urls: dict[str, str] = {}
    created: list[str] = []
    if admin_url:
        database_urls, created = _create_databases(admin_url, uuid.uuid4().hex[:8])
    topology = Topology.free(data_dir, admin_token=ADMIN_TOKEN, database_urls=database_urls)
    runner = ProcessSandbox(topology, start_method="spawn") if mode == "process" else ThreadSandbox(topology)
    runner.start()
    handle = Sandbox(topology, mode)
    try:
        yield handle
    finally:
        handle.close()
        runner.stop()
        if admin_url:
            _drop_databases(admin_url, created)


@pytest.fixture
def sb(sandbox: Sandbox) -> Sandbox:
    """The sandbox, back to its seeded state (data and fault rules) for this test."""
    sandbox.reset()
    return sandbox

"""The environment contract (README, "Environment")."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.launcher import SERVICES, Topology, settings_class
from shared.settings import DEFAULT_PORTS, ENV_NAMES


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SERVICES:
        monkeypatch.delenv(f"MES_{ENV_NAMES[name]}_PORT", raising=False)
    dmp = settings_class("dmp")()
    assert dmp.port == 8402
    assert dmp.public_url == "http://127.0.0.1:8402"
    assert dmp.psc_issuer_url == "http://127.0.0.1:8401/auth/realms/esante-wallet"
    assert dmp.catalog_issuer_url == "http://127.0.0.1:8404"
    assert dmp.resolved_database_url() == "sqlite:///.mes-sandbox/dmp.db"
    assert {n: settings_class(n)().port for n in SERVICES} == DEFAULT_PORTS


def test_every_variable_of_the_contract(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MES_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("MES_DMP_PORT", "9402")
    monkeypatch.setenv("MES_DMP_URL", "http://dmp:9402/")
    monkeypatch.setenv("MES_PSC_URL", "http://psc_auth:8401")
    monkeypatch.setenv("MES_PSC_ISSUER", "https://auth.bas.psc.esante.gouv.fr/auth/realms/esante-wallet/")
    monkeypatch.setenv("MES_DMP_DATABASE_URL", "postgresql://u@db/dmp")
    monkeypatch.setenv("MES_ADMIN_TOKEN", "s3cret")
    monkeypatch.setenv("MES_PERSONAS_FILE", str(tmp_path / "p.yaml"))
    monkeypatch.setenv("MES_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("MES_EXCHANGE_BODY_LIMIT", "100")
    dmp = settings_class("dmp")()
    assert dmp.port == 9402
    assert dmp.public_url == "http://dmp:9402"
    assert dmp.peer_url("psc_auth") == "http://psc_auth:8401"
    assert dmp.psc_issuer_url == "https://auth.bas.psc.esante.gouv.fr/auth/realms/esante-wallet"
    assert dmp.resolved_database_url() == "postgresql://u@db/dmp"
    assert dmp.admin_token == "s3cret"
    assert dmp.personas_file == tmp_path / "p.yaml"
    assert dmp.exchange_body_limit == 100
    assert dmp.data_dir == tmp_path
    # Another service does not read the DMP's own variables.
    mss = settings_class("mss")()
    assert mss.port == 8403
    assert mss.resolved_database_url() == f"sqlite:///{tmp_path.as_posix()}/mss.db"


def test_bad_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    monkeypatch.setenv("MES_DMP_PORT", "not-a-port")
    with pytest.raises(ValidationError, match="MES_DMP_PORT"):
        settings_class("dmp")()


def test_topology_env_round_trips_through_settings(tmp_path: Path) -> None:
    topology = Topology.free(tmp_path, admin_token="t", database_urls={"dmp": "sqlite:///x.db"})
    env = topology.env()
    assert env["MES_DMP_URL"] == topology.url("dmp")
    assert env["MES_ADMIN_TOKEN"] == "t"
    assert env["MES_DMP_DATABASE_URL"] == "sqlite:///x.db"
    for name in SERVICES:
        explicit = topology.settings(name)
        assert explicit.port == topology.ports[name]
        assert explicit.peer_url("dmp") == topology.url("dmp")
        assert explicit.admin_token == "t"

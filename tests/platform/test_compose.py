"""docker-compose.yml and the Dockerfile, checked without a Docker engine (issue #2, item 5).

The structure is parsed and compared with the CLI and the environment contract; then what
the containers invoke is run for real: the same ``mes-sandbox run NAME --host 0.0.0.0``
commands with the same environment (hostnames mapped to local ports), the same health
checks, and the package installed from a wheel as the image installs it.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from services.cli import build_parser, cmd_run
from services.launcher import SERVICES, canonical, free_port, settings_class
from shared.settings import DEFAULT_PORTS, ENV_NAMES
from tests.support import postgres_admin_url

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def _known_variables(service: str) -> set[str]:
    cls = settings_class(service)
    names = set()
    for name, field in cls.model_fields.items():
        alias = field.validation_alias
        names.add(alias if isinstance(alias, str) else f"MES_{name.upper()}")
    return names


def test_one_container_per_service_plus_postgres(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {*SERVICES, "postgres"}
    assert set(compose["volumes"]) == {"data", "pgdata"}


@pytest.mark.parametrize("service", SERVICES)
def test_command_port_environment_and_healthcheck_match_the_cli(
    compose: dict[str, Any], service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = compose["services"][service]
    port = DEFAULT_PORTS[service]
    args = build_parser().parse_args(spec["command"])
    assert args.func is cmd_run
    assert (canonical(args.name), args.host, args.port) == (service, "0.0.0.0", port)
    assert f"{port}:{port}" in spec["ports"]
    assert "data:/data" in spec["volumes"]
    environment = spec["environment"]
    # Every variable is one the service reads, and the contract's URLs point at the others.
    unknown = set(environment) - _known_variables(service)
    assert not unknown, f"{service} does not read {unknown}"
    for other in SERVICES:
        assert environment[f"MES_{ENV_NAMES[other]}_URL"] == f"http://{other}:{DEFAULT_PORTS[other]}"
        assert environment[f"MES_{ENV_NAMES[other]}_PUBLIC_URL"] == f"http://localhost:{DEFAULT_PORTS[other]}"
    database = environment[f"MES_{ENV_NAMES[service]}_DATABASE_URL"]
    assert re.fullmatch(r"postgresql://mes:mes@postgres:5432/mes_\w+", database)
    assert (
        f"CREATE DATABASE {database.rsplit('/', 1)[1]};"
        in (ROOT / "docker" / "postgres-init.sql").read_text()
    )
    assert environment["MES_DATA_DIR"] == "/data"
    check = " ".join(spec["healthcheck"]["test"])
    assert f"http://127.0.0.1:{port}/health" in check
    assert spec["depends_on"]["postgres"]["condition"] == "service_healthy"
    for key in [k for k in os.environ if k.startswith("MES_")]:
        monkeypatch.delenv(key)
    for key, value in environment.items():
        monkeypatch.setenv(key, str(value))
    settings = settings_class(service)()
    assert settings.public_url == f"http://localhost:{port}"
    assert settings.peer_url("psc_auth") == "http://psc_auth:8401"


def test_mss_publishes_its_mail_ports(compose: dict[str, Any]) -> None:
    mss = compose["services"]["mss"]
    assert {"2525:2525", "1143:1143"} <= set(mss["ports"])
    assert (mss["environment"]["MES_MSS_SMTP_PORT"], mss["environment"]["MES_MSS_IMAP_PORT"]) == (
        "2525",
        "1143",
    )


def test_dependencies_follow_the_start_order(compose: dict[str, Any]) -> None:
    for service in SERVICES:
        for dependency in compose["services"][service]["depends_on"]:
            assert dependency == "postgres" or SERVICES.index(dependency) < SERVICES.index(service)


def test_the_dockerfile_installs_the_runtime_lock_and_runs_the_cli() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["mes-sandbox"]' in dockerfile
    assert "requirements-runtime.lock" in dockerfile
    exposed = set(re.search(r"^EXPOSE (.+)$", dockerfile, re.M).group(1).split())  # type: ignore[union-attr]
    assert exposed == {str(p) for p in (*DEFAULT_PORTS.values(), 2525, 1143)}


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-\[\]]+)==(\S+)", line)
        if match:
            pins[match.group(1).lower()] = match.group(2)
    return pins


def test_the_runtime_lock_agrees_with_the_development_lock() -> None:
    runtime, development = _pins(ROOT / "requirements-runtime.lock"), _pins(ROOT / "requirements.lock")
    assert runtime, "empty runtime lock"
    disagreeing = {
        name: (v, development.get(name)) for name, v in runtime.items() if development.get(name) != v
    }
    assert not disagreeing, f"run 'make lock': {disagreeing}"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # What the Dockerfile copies, into a clean directory: a stale build/ of the source tree
    # must not leak old files into the wheel.
    source = tmp_path_factory.mktemp("source")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "build", "*.egg-info")
    for name in ("services", "shared"):
        shutil.copytree(ROOT / name, source / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    uv = Path(sys.executable).with_name("uv")
    subprocess.run(
        [str(uv), "build", "--quiet", "--wheel", "-o", str(out), str(source)], check=True, capture_output=True
    )
    return next(out.glob("mes_sandbox-*.whl"))


@pytest.mark.process
def test_the_wheel_carries_migrations_personas_and_templates(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    for service in SERVICES:
        assert any(
            n.startswith(f"services/{service}/migrations/versions/") and n.endswith(".py") for n in names
        )
        assert f"services/{service}/migrations/env.py" in names
        assert f"services/{service}/migrations/script.py.mako" in names
    assert "shared/personas/personas.yaml" in names
    assert any(n.startswith("services/console/templates/") for n in names)


def _compose_env(compose: dict[str, Any], service: str, ports: dict[str, int], data: Path) -> dict[str, str]:
    """The container's environment, with service hostnames mapped to local ports."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MES_")}
    for key, value in compose["services"][service]["environment"].items():
        value = str(value)
        for other in SERVICES:
            value = value.replace(
                f"http://{other}:{DEFAULT_PORTS[other]}", f"http://127.0.0.1:{ports[other]}"
            )
            value = value.replace(
                f"http://localhost:{DEFAULT_PORTS[other]}", f"http://127.0.0.1:{ports[other]}"
            )
        env[key] = value
    env["MES_DATA_DIR"] = str(data)
    env.pop("MES_ADMIN_TOKEN", None)
    database_key = f"MES_{ENV_NAMES[service]}_DATABASE_URL"
    admin = postgres_admin_url()
    if admin is None:
        env.pop(database_key)  # SQLite under MES_DATA_DIR: no PostgreSQL outside the PostgreSQL leg
    else:
        env[database_key] = f"{admin.rsplit('/', 1)[0]}/{env[database_key].rsplit('/', 1)[1]}_{os.getpid()}"
    if service == "mss":
        env["MES_MSS_SMTP_PORT"], env["MES_MSS_IMAP_PORT"] = str(free_port()), str(free_port())
    return env


@pytest.mark.process
@pytest.mark.db
def test_the_containers_commands_run_from_the_wheel_and_pass_their_healthchecks(
    compose: dict[str, Any], wheel: Path, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), str(wheel)],
        check=True,
    )
    ports = {name: free_port() for name in SERVICES}
    admin = postgres_admin_url()
    created = _create_compose_databases(compose, admin) if admin else []
    processes = []
    try:
        for service in SERVICES:
            env = _compose_env(compose, service, ports, tmp_path / "data")
            env["PYTHONPATH"] = str(site)  # the installed package, not the source tree
            command = [str(a) for a in compose["services"][service]["command"]]
            command[command.index("--port") + 1] = str(ports[service])
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "services", *command],
                    env=env,
                    cwd=tmp_path,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        for service in SERVICES:
            check = compose["services"][service]["healthcheck"]["test"][1:]
            check = [a.replace(f":{DEFAULT_PORTS[service]}/", f":{ports[service]}/") for a in check]
            check[0] = sys.executable
            deadline = time.monotonic() + 60
            while subprocess.run(check, capture_output=True).returncode != 0:
                assert time.monotonic() < deadline, (
                    f"{service}'s healthcheck never passed: {shlex.join(check)}"
                )
                time.sleep(0.2)
            health = httpx.get(f"http://127.0.0.1:{ports[service]}/health").json()
            assert health["status"] == "ok"
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            assert process.wait(timeout=20) == 0
        if admin:
            _drop_compose_databases(admin, created)


def _create_compose_databases(compose: dict[str, Any], admin: str) -> list[str]:
    from sqlalchemy import create_engine, text

    from shared.db.engine import normalise_url

    urls = [compose["services"][s]["environment"][f"MES_{ENV_NAMES[s]}_DATABASE_URL"] for s in SERVICES]
    names = [f"{url.rsplit('/', 1)[1]}_{os.getpid()}" for url in urls]
    engine = create_engine(normalise_url(admin), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        for name in names:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return names


def _drop_compose_databases(admin: str, names: list[str]) -> None:
    from sqlalchemy import create_engine, text

    from shared.db.engine import normalise_url

    engine = create_engine(normalise_url(admin), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        for name in names:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()

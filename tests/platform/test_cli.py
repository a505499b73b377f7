"""The mes-sandbox command as real processes (issue #2, items 4 and 6)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services.launcher import SERVICES, free_port
from shared.settings import ENV_NAMES

pytestmark = [pytest.mark.process, pytest.mark.db]

CLI = [sys.executable, "-m", "services"]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MES_")}
    env["MES_DATA_DIR"] = str(tmp_path / "data")
    env.update(extra)
    return env


def _ports_env(tmp_path: Path) -> dict[str, str]:
    env = _env(tmp_path, MES_MSS_SMTP_PORT=str(free_port()), MES_MSS_IMAP_PORT=str(free_port()))
    for name in SERVICES:
        env[f"MES_{ENV_NAMES[name]}_PORT"] = str(free_port())
    return env


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_for(process: subprocess.Popen[str], text: str, timeout: float = 60) -> str:
    assert process.stdout is not None
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        seen.append(line)
        if text in line:
            return "".join(seen)
    raise AssertionError(f"'{text}' never came; output:\n{''.join(seen)}")


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], dict[str, str]]]:
    env = _ports_env(tmp_path)
    process = subprocess.Popen(
        [*CLI, "up"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        _wait_for(process, "Ctrl-C stops all")
        yield process, env
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _url(env: dict[str, str], name: str) -> str:
    return f"http://127.0.0.1:{env[f'MES_{ENV_NAMES[name]}_PORT']}"


def test_up_serves_every_service_and_ctrl_c_leaves_nothing_behind(running) -> None:  # type: ignore[no-untyped-def]
    process, env = running
    for name in SERVICES:
        health = httpx.get(f"{_url(env, name)}/health")
        assert health.status_code == 200, name
        assert health.json()["seeded"] is True
    children = _children(process.pid)
    assert len(children) == len(SERVICES)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=20) == 0
    assert "mes-sandbox stopped" in process.stdout.read()  # type: ignore[union-attr]
    assert not any(_alive(pid) for pid in children)


def test_reset_and_snapshots_from_the_command_line(running, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _process, env = running
    env = {**env, **{f"MES_{ENV_NAMES[n]}_URL": _url(env, n) for n in SERVICES}}
    snapshot = tmp_path / "state.json"
    saved = subprocess.run([*CLI, "snapshot", "save", str(snapshot)], env=env, capture_output=True, text=True)
    assert saved.returncode == 0, saved.stderr
    bundle = json.loads(snapshot.read_text())
    assert set(bundle["services"]) == set(SERVICES)
    loaded = subprocess.run(
        [*CLI, "snapshot", "load", str(snapshot)], env=env, capture_output=True, text=True
    )
    assert loaded.returncode == 0, loaded.stderr
    reset = subprocess.run([*CLI, "reset"], env=env, capture_output=True, text=True)
    assert reset.returncode == 0, reset.stderr
    assert "reset to the seed" in reset.stdout
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "other"}')
    refused = subprocess.run([*CLI, "snapshot", "load", str(bad)], env=env, capture_output=True, text=True)
    assert refused.returncode == 1
    assert "not a mes-sandbox snapshot" in refused.stderr


def test_commands_say_clearly_when_no_sandbox_runs(tmp_path: Path) -> None:
    env = _ports_env(tmp_path)
    answer = subprocess.run([*CLI, "reset"], env=env, capture_output=True, text=True)
    assert answer.returncode == 1
    assert "is the sandbox running?" in answer.stderr


def test_a_taken_port_is_a_clear_error(tmp_path: Path) -> None:
    env = _ports_env(tmp_path)
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", int(env["MES_DMP_PORT"])))
        blocker.listen()
        answer = subprocess.run([*CLI, "up"], env=env, capture_output=True, text=True, timeout=60)
    assert answer.returncode == 1
    assert f"port {env['MES_DMP_PORT']} (dmp) is already in use" in answer.stderr
    assert "--dmp-port" in answer.stderr


def test_a_service_that_cannot_start_stops_the_others_and_shows_its_log(tmp_path: Path) -> None:
    broken = tmp_path / "personas.yaml"
    broken.write_text("patients: []\n")
    env = _ports_env(tmp_path)
    env["MES_PERSONAS_FILE"] = str(broken)
    answer = subprocess.run([*CLI, "up"], env=env, capture_output=True, text=True, timeout=60)
    assert answer.returncode == 1
    assert "stopped while starting" in answer.stderr
    assert "personas.yaml" in answer.stderr  # the end of the log says what is wrong
    assert not any(_port_open(int(env[f"MES_{ENV_NAMES[n]}_PORT"])) for n in SERVICES), (
        "a service was left running"
    )


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_exec_runs_the_command_against_a_fresh_sandbox_and_returns_its_code(tmp_path: Path) -> None:
    script = (
        "import os, sys, httpx\n"
        "urls = [os.environ[k] for k in ('MES_PSC_URL', 'MES_DMP_URL', 'MES_MSS_URL', 'MES_CATALOG_URL')]\n"
        "assert all(httpx.get(u + '/health').status_code == 200 for u in urls)\n"
        "token = os.environ['MES_ADMIN_TOKEN']\n"
        "assert httpx.post(urls[1] + '/_sandbox/reset').status_code == 401\n"
        "admin = {'Authorization': 'Bearer ' + token}\n"
        "assert httpx.post(urls[1] + '/_sandbox/reset', headers=admin).status_code == 200\n"
        "print(os.environ['MES_DATA_DIR'])\n"
        "sys.exit(3)\n"
    )
    answer = subprocess.run(
        [*CLI, "exec", "--", sys.executable, "-c", script],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert answer.returncode == 3, answer.stderr
    scratch = Path(answer.stdout.strip().splitlines()[-1])
    assert scratch.name.startswith("mes-sandbox-exec-")
    assert not scratch.exists()


def test_exec_starts_from_a_copy_of_the_data_dir_unless_fresh(tmp_path: Path) -> None:
    # A first exec writes nothing back; --fresh and the default both start healthy.
    for flags in ([], ["--fresh"]):
        answer = subprocess.run(
            [*CLI, "exec", *flags, "--", sys.executable, "-c", "print('ok')"],
            env=_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert (answer.returncode, answer.stdout.strip()) == (0, "ok"), answer.stderr
    missing = subprocess.run([*CLI, "exec"], env=_env(tmp_path), capture_output=True, text=True)
    assert missing.returncode == 1
    assert "exec needs a command" in missing.stderr


def test_run_serves_one_service_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [*CLI, "run", "psc", "--port", str(port)],
        env=_env(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        else:
            raise AssertionError("psc_auth never became healthy")
        trace = "5e1a7c3b9d2f4a6b8c0d1e2f3a4b5c6d"
        answer = httpx.get(
            f"http://127.0.0.1:{port}/auth/realms/esante-wallet/.well-known/openid-configuration",
            headers={"traceparent": f"00-{trace}-1a2b3c4d5e6f7a8b-01"},
        )
        assert answer.status_code == 200
        assert answer.headers["traceresponse"].startswith(f"00-{trace}-")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
        log_lines = [json.loads(line) for line in process.stderr.read().splitlines() if line.startswith("{")]  # type: ignore[union-attr]
        assert log_lines and all(line["service"] == "psc_auth" for line in log_lines)
        assert all("trace_id" in line for line in log_lines)
        request_lines = [line for line in log_lines if line.get("path", "").endswith("openid-configuration")]
        assert [line["trace_id"] for line in request_lines] == [trace]
        assert request_lines[0]["status"] == 200
    finally:
        if process.poll() is None:
            process.kill()


def test_personas_and_migrate(tmp_path: Path) -> None:
    listing = subprocess.run([*CLI, "personas"], env=_env(tmp_path), capture_output=True, text=True)
    assert listing.returncode == 0
    assert "PAT-TROIS" in listing.stdout and "899700112545" in listing.stdout
    as_json = json.loads(
        subprocess.run(
            [*CLI, "personas", "--json"], env=_env(tmp_path), capture_output=True, text=True
        ).stdout
    )
    martin = next(p for p in as_json["professionals"] if p["id"] == "jeanne-martin")
    assert martin["idnat"] == "899700112545"
    assert next(p for p in as_json["patients"] if p["id"] == "dominique-pat-trois")["mailbox"] == (
        "279035121518989@patient.mssante.fr"
    )
    migrated = subprocess.run([*CLI, "migrate"], env=_env(tmp_path), capture_output=True, text=True)
    assert migrated.returncode == 0, migrated.stderr
    assert all(f"{name}: at " in migrated.stdout for name in SERVICES)
    assert (tmp_path / "data" / "dmp.db").exists()


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_a_killed_launcher_takes_its_services_with_it(tmp_path: Path, start_method: str) -> None:
    env = _ports_env(tmp_path)
    env["MES_START_METHOD"] = start_method
    process = subprocess.Popen(
        [*CLI, "up"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        _wait_for(process, "Ctrl-C stops all")
        children = _children(process.pid)
        assert len(children) == len(SERVICES)
    finally:
        process.kill()  # SIGKILL: no chance to stop its children itself
        process.wait()
    deadline = time.monotonic() + 20
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in children)


def test_a_database_from_an_unknown_schema_is_a_clear_error(tmp_path: Path) -> None:
    import sqlite3

    data = tmp_path / "data"
    data.mkdir()
    with sqlite3.connect(data / "dmp.db") as db:
        db.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        db.execute("INSERT INTO alembic_version VALUES ('deadbeef0000')")
    answer = subprocess.run(
        [*CLI, "up"], env=_ports_env(tmp_path), capture_output=True, text=True, timeout=60
    )
    assert answer.returncode == 1
    assert "dmp stopped while starting" in answer.stderr
    assert "has a schema this version cannot migrate" in answer.stderr
    assert "--fresh" in answer.stderr

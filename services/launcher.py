"""Starting the sandbox: one launcher for people (``mes-sandbox up``/``exec``) and tests.

A :class:`Topology` says where everything listens and gives the environment contract
(``MES_*``) that wires the services to each other. Two ways to run it:

* :class:`ProcessSandbox`: each service in its own process, as compose does. By default
  the launcher imports every service once and then forks one child per service (the
  imports are most of a Python service's start-up, so four children cost about one);
  ``start_method="spawn"`` runs ``python -m services run NAME`` instead (the only way on
  systems without ``fork``, and what tests use, since pytest's process has threads).
* :class:`ThreadSandbox`: every service in a thread of the current process, each with its
  own uvicorn server and event loop: what the test suite uses for speed.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from shared.settings import DEFAULT_PORTS, ENV_NAMES, ServiceSettings

if TYPE_CHECKING:
    from fastapi import FastAPI

#: Start order (the authorization servers first: the others verify tokens with them).
SERVICES: tuple[str, ...] = ("psc_auth", "catalog", "dmp", "mss", "console")
ALIASES = {"psc": "psc_auth", "mes": "catalog"}
LABELS = {
    "psc_auth": "Pro Santé Connect",
    "dmp": "DMP",
    "mss": "MSSanté",
    "catalog": "Mon espace santé",
    "console": "Console des flux",
}


class LaunchError(RuntimeError):
    """Something a person can act on; the message says what and how, in one line."""

    def __init__(self, message: str, *, service: str | None = None, log_tail: str = "") -> None:
        super().__init__(message)
        self.service = service
        self.log_tail = log_tail


def canonical(name: str) -> str:
    name = ALIASES.get(name, name)
    if name not in SERVICES:
        raise LaunchError(f"unknown service '{name}' (choose from {', '.join(SERVICES)}, or 'psc')")
    return name


def settings_class(name: str) -> type[ServiceSettings]:
    if name == "psc_auth":
        from services.psc_auth.settings import PscSettings

        return PscSettings
    if name == "dmp":
        from services.dmp.settings import DmpSettings

        return DmpSettings
    if name == "mss":
        from services.mss.settings import MssSettings

        return MssSettings
    if name == "catalog":
        from services.catalog.settings import CatalogSettings

        return CatalogSettings
    from services.console.settings import ConsoleSettings

    return ConsoleSettings


def app_factory(name: str) -> Callable[..., FastAPI]:
    if name == "psc_auth":
        from services.psc_auth.app import create_app as psc

        return psc
    if name == "dmp":
        from services.dmp.app import create_app as dmp

        return dmp
    if name == "mss":
        from services.mss.app import create_app as mss

        return mss
    if name == "catalog":
        from services.catalog.app import create_app as catalog

        return catalog
    from services.console.app import create_app as console

    return console


def preload() -> None:
    """Import every service (what a forked child then inherits for free)."""
    for name in SERVICES:
        app_factory(name)
        settings_class(name)
    # Collected once here, then frozen: the children's collections never walk (and so never
    # write to, and copy) the pages of what they inherited.
    gc.collect()
    gc.freeze()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


@dataclass
class Topology:
    """Where each service listens, where data goes, and the environment that says so."""

    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    host: str = "127.0.0.1"
    data_dir: Path = Path(".mes-sandbox")
    admin_token: str | None = None
    database_urls: dict[str, str] = field(default_factory=dict)
    smtp_port: int = 2525
    imap_port: int = 1143
    services: tuple[str, ...] = SERVICES
    extra_env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str], **overrides: Any) -> Topology:
        """The topology ``mes-sandbox up`` uses: defaults, then ``MES_*``, then flags."""
        ports = {
            name: int(env.get(f"MES_{ENV_NAMES[name]}_PORT", port)) for name, port in DEFAULT_PORTS.items()
        }
        topology = cls(
            ports=ports,
            host=env.get("MES_HOST", "127.0.0.1"),
            data_dir=Path(env.get("MES_DATA_DIR", ".mes-sandbox")),
            admin_token=env.get("MES_ADMIN_TOKEN") or None,
            database_urls={
                name: env[f"MES_{ENV_NAMES[name]}_DATABASE_URL"]
                for name in SERVICES
                if env.get(f"MES_{ENV_NAMES[name]}_DATABASE_URL")
            },
            smtp_port=int(env.get("MES_MSS_SMTP_PORT", 2525)),
            imap_port=int(env.get("MES_MSS_IMAP_PORT", 1143)),
            extra_env={k: v for k, v in env.items() if k.startswith("MES_")},
        )
        return replace(topology, **overrides)

    @classmethod
    def free(cls, data_dir: Path, **overrides: Any) -> Topology:
        """Every port chosen free by the system (``exec`` and tests)."""
        ports = {name: free_port() for name in SERVICES}
        return cls(ports=ports, data_dir=data_dir, smtp_port=free_port(), imap_port=free_port(), **overrides)

    def url(self, name: str) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.ports[name]}"

    def env(self) -> dict[str, str]:
        """The environment contract (README, "Environment") for every service."""
        env = dict(self.extra_env)
        env["MES_DATA_DIR"] = str(self.data_dir)
        env["MES_HOST"] = self.host
        for name in SERVICES:
            key = ENV_NAMES[name]
            env[f"MES_{key}_URL"] = self.url(name)
            env[f"MES_{key}_PORT"] = str(self.ports[name])
            if name in self.database_urls:
                env[f"MES_{key}_DATABASE_URL"] = self.database_urls[name]
        env["MES_MSS_SMTP_PORT"] = str(self.smtp_port)
        env["MES_MSS_IMAP_PORT"] = str(self.imap_port)
        if self.admin_token:
            env["MES_ADMIN_TOKEN"] = self.admin_token
        return env

    def settings(self, name: str) -> ServiceSettings:
        """Explicit settings for ``name`` (thread mode: no environment involved)."""
        values: dict[str, Any] = {
            "host": self.host,
            "port": self.ports[name],
            "data_dir": self.data_dir,
            "admin_token": self.admin_token,
            "psc_url": self.url("psc_auth"),
            "dmp_url": self.url("dmp"),
            "mss_url": self.url("mss"),
            "catalog_url": self.url("catalog"),
            "console_url": self.url("console"),
            "database_url": self.database_urls.get(name),
        }
        if name == "mss":
            values.update(smtp_port=self.smtp_port, imap_port=self.imap_port)
        return settings_class(name)(**values)

    def check_ports(self) -> None:
        """A clear error, before anything starts, for a port that is already taken."""
        wanted = [(name, self.ports[name]) for name in self.services]
        if "mss" in self.services:
            wanted += [("mss SMTP", self.smtp_port), ("mss IMAP", self.imap_port)]
        for name, port in wanted:
            if port and not port_is_free(self.host, port):
                flag = name.split()[0].replace("_auth", "")
                raise LaunchError(
                    f"port {port} ({name}) is already in use on {self.host}: stop what listens there, "
                    f"or choose another port (--{flag}-port, or MES_{ENV_NAMES[canonical(flag)]}_PORT)"
                )


def wait_healthy(
    topology: Topology,
    names: Iterable[str],
    *,
    timeout: float,
    alive: Callable[[str], bool] = lambda _name: True,
    on_ready: Callable[[str], None] = lambda _name: None,
) -> None:
    """Poll every ``/health`` until all answer 200; fail fast if a service dies."""
    pending = list(names)
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=1.0) as client:
        while pending:
            for name in list(pending):
                if not alive(name):
                    raise LaunchError(f"{name} stopped while starting", service=name)
                try:
                    answer = client.get(f"{topology.url(name)}/health")
                except httpx.HTTPError:
                    continue
                if answer.status_code == 200:
                    pending.remove(name)
                    on_ready(name)
            if pending:
                if time.monotonic() > deadline:
                    raise LaunchError(
                        f"{', '.join(pending)} not healthy after {timeout:.0f} s", service=pending[0]
                    )
                time.sleep(0.01)


def tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


#: Set for ``run`` children of a launcher: they stop when that process dies.
PARENT_PID = "MES_PARENT_PID"


def die_with_parent(parent: int) -> None:
    """Linux: this process gets SIGTERM when its parent dies (even by SIGKILL), so that a
    killed ``mes-sandbox up`` or ``exec`` never leaves services running behind it."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def run_service(name: str, settings: ServiceSettings, *, log_level: str | None = None) -> None:
    """Serve one service in the foreground (``mes-sandbox run NAME``, and forked children)."""
    import uvicorn

    from shared.observability.logging import configure_logging

    configure_logging(name, log_level or settings.log_level, settings.log_format)
    app = app_factory(name)(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    if threading.current_thread() is threading.main_thread():
        # uvicorn shuts down gracefully on these signals, then re-raises them to the
        # handlers it found: ours make that a clean exit (status 0), as compose expects.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, _exit_cleanly)
    server.run()
    if not server.started:
        raise SystemExit(3)


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


class ProcessSandbox:
    """Each service in its own process; :meth:`stop` leaves none behind."""

    def __init__(self, topology: Topology, *, start_method: str | None = None, timeout: float = 60.0) -> None:
        self.topology = topology
        default = "fork" if hasattr(os, "fork") and sys.platform.startswith("linux") else "spawn"
        self.start_method = start_method or os.environ.get("MES_START_METHOD", default)
        self.timeout = timeout
        self.children: dict[str, int | subprocess.Popen[bytes]] = {}
        self.log_dir = topology.data_dir / "logs"
        self._exit_codes: dict[str, int] = {}

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def start(self, on_ready: Callable[[str], None] = lambda _name: None) -> None:
        self.topology.check_ports()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.topology.env()}
        if self.start_method == "fork":
            preload()
        try:
            for name in self.topology.services:
                self.children[name] = (
                    self._fork(name, env) if self.start_method == "fork" else self._spawn(name, env)
                )
            wait_healthy(
                self.topology,
                self.topology.services,
                timeout=self.timeout,
                alive=self.alive,
                on_ready=on_ready,
            )
        except LaunchError as exc:
            self.stop()
            if exc.service:
                exc.log_tail = tail(self.log_path(exc.service))
            raise
        except BaseException:
            self.stop()
            raise

    def _spawn(self, name: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
        with self.log_path(name).open("ab") as log:
            return subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", "services", "run", name],
                env={**env, PARENT_PID: str(os.getpid())},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def _fork(self, name: str, env: dict[str, str]) -> int:
        log_fd = os.open(self.log_path(name), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        parent = os.getpid()
        pid = os.fork()
        if pid:
            os.close(log_fd)
            return pid
        # The child: its own stdout/stderr, the contract's environment, default signals.
        code = 0
        try:
            die_with_parent(parent)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.dup2(log_fd, 1)
            os.dup2(log_fd, 2)
            devnull = os.open(os.devnull, os.O_RDONLY)
            os.dup2(devnull, 0)
            sys.stdout = os.fdopen(1, "w", buffering=1)
            sys.stderr = os.fdopen(2, "w", buffering=1)
            os.environ.clear()
            os.environ.update(env)
            run_service(name, settings_class(name)())
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            import traceback

            traceback.print_exc()
            code = 1
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)

    def alive(self, name: str) -> bool:
        return self._poll(name) is None

    def _poll(self, name: str) -> int | None:
        if name in self._exit_codes:
            return self._exit_codes[name]
        child = self.children.get(name)
        if child is None:
            return 0
        if isinstance(child, subprocess.Popen):
            code = child.poll()
        else:
            pid, status = os.waitpid(child, os.WNOHANG)
            code = None if pid == 0 else os.waitstatus_to_exitcode(status)
        if code is not None:
            self._exit_codes[name] = code
        return code

    def pid(self, name: str) -> int:
        child = self.children[name]
        return child.pid if isinstance(child, subprocess.Popen) else child

    def first_exited(self) -> str | None:
        """A service that stopped on its own, if any (polled by ``up`` while it runs)."""
        return next((name for name in self.children if not self.alive(name)), None)

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM every child, wait for them, SIGKILL what is left."""
        for name in self.children:
            if self.alive(name):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid(name), signal.SIGTERM)
        deadline = time.monotonic() + grace
        while any(self.alive(n) for n in self.children) and time.monotonic() < deadline:
            time.sleep(0.02)
        for name in self.children:
            if self.alive(name):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid(name), signal.SIGKILL)
                while self.alive(name):
                    time.sleep(0.01)


class ThreadSandbox:
    """Every service in a thread of this process (tests); same apps, same HTTP."""

    def __init__(self, topology: Topology, *, timeout: float = 60.0) -> None:
        self.topology = topology
        self.timeout = timeout
        self.servers: dict[str, Any] = {}
        self.threads: dict[str, threading.Thread] = {}
        self.apps: dict[str, FastAPI] = {}

    def start(self) -> None:
        import uvicorn

        self.topology.check_ports()
        for name in self.topology.services:
            app = app_factory(name)(self.topology.settings(name))
            config = uvicorn.Config(
                app,
                host=self.topology.host,
                port=self.topology.ports[name],
                log_config=None,
                access_log=False,
                lifespan="on",
                timeout_graceful_shutdown=2,
            )
            server = uvicorn.Server(config)
            thread = threading.Thread(target=server.run, name=f"mes-{name}", daemon=True)
            self.apps[name], self.servers[name], self.threads[name] = app, server, thread
            thread.start()
        try:
            wait_healthy(
                self.topology,
                self.topology.services,
                timeout=self.timeout,
                alive=lambda n: self.threads[n].is_alive(),
            )
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for server in self.servers.values():
            server.should_exit = True
        for thread in self.threads.values():
            thread.join(timeout=10)

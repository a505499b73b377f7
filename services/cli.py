"""The ``mes-sandbox`` command (README, "The mes-sandbox command")."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import httpx

from services import launcher
from services.launcher import LABELS, SERVICES, LaunchError, ProcessSandbox, Topology
from shared import __version__
from shared.settings import ENV_NAMES


def _print(text: str = "") -> None:
    print(text, flush=True)


def _fail(message: str, detail: str = "") -> int:
    print(f"mes-sandbox: {message}", file=sys.stderr, flush=True)
    if detail:
        print(detail, file=sys.stderr, flush=True)
    return 1


def _table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def _topology(args: argparse.Namespace, env: dict[str, str]) -> Topology:
    topology = Topology.from_env(env)
    if getattr(args, "host", None):
        topology.host = args.host
    for name in SERVICES:
        port = getattr(args, f"{name.replace('_auth', '')}_port", None)
        if port is not None:
            topology.ports[name] = port
    if getattr(args, "smtp_port", None) is not None:
        topology.smtp_port = args.smtp_port
    if getattr(args, "imap_port", None) is not None:
        topology.imap_port = args.imap_port
    return topology


def _empty_data_dir(path: Path) -> None:
    resolved = path.resolve()
    if resolved in (Path("/").resolve(), Path.home().resolve(), Path.cwd().resolve()):
        raise LaunchError(f"refusing to empty {resolved}: point MES_DATA_DIR at a folder of its own")
    if resolved.exists():
        shutil.rmtree(resolved)


def banner(topology: Topology, elapsed: float) -> str:
    from shared.personas import load_personas

    rows = [[LABELS[n], topology.url(n), f"{topology.url(n)}/docs"] for n in topology.services]
    parts = [
        f"mes-sandbox {__version__}: {len(topology.services)} services healthy in {elapsed:.2f} s "
        f"(data in {topology.data_dir}/)",
        "",
        _table(rows, ["service", "URL", "OpenAPI"]),
        "",
        f"MSSanté SMTP  {topology.host}:{topology.smtp_port}    IMAP  {topology.host}:{topology.imap_port}",
        f"Pro Santé Connect issuer  {topology.url('psc_auth')}/auth/realms/esante-wallet",
    ]
    personas = load_personas(
        Path(os.environ["MES_PERSONAS_FILE"]) if os.environ.get("MES_PERSONAS_FILE") else None
    )
    pros = [
        [p.display_name, p.profession_label, p.idnat, p.card.pin, "oui" if p.ecps.enrolled else "non"]
        for p in personas.professionals
    ]
    patients = [
        [p.display_name, p.ins, p.mes.password if p.mes.activated else f"activation {p.mes.activation_code}"]
        for p in personas.patients
        if not p.ins_key_exempt
    ]
    parts += [
        "",
        "Log in as a professional (Pro Santé Connect: identifier, then CPS PIN or e-CPS):",
        _table(pros, ["professional", "profession", "idNatPS", "PIN", "e-CPS"]),
        "",
        "Log in as a patient (Mon espace santé: INS, password, then the one-time code):",
        _table(patients, ["patient", "INS", "password"]),
        "",
        f"Logs: {topology.data_dir}/logs/  ·  all personas: mes-sandbox personas  ·  Ctrl-C stops all",
    ]
    return "\n".join(parts)


class _Stop:
    def __init__(self) -> None:
        self.requested = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True


def _progress(topology: Topology) -> Any:
    started = time.monotonic()
    interactive = sys.stdout.isatty()
    ready: list[str] = []

    def on_ready(name: str) -> None:
        ready.append(name)
        waiting = [n for n in topology.services if n not in ready]
        if interactive:
            state = "  ".join([*(f"✓ {n}" for n in ready), *(f"… {n}" for n in waiting)])
            print(f"\rstarting  {state}  ({time.monotonic() - started:.1f} s)", end="", flush=True)
            if not waiting:
                print(flush=True)
        else:
            _print(f"{name} healthy after {time.monotonic() - started:.2f} s")

    return on_ready


def cmd_up(args: argparse.Namespace) -> int:
    topology = _topology(args, dict(os.environ))
    if args.fresh:
        _empty_data_dir(topology.data_dir)
    stop = _Stop()
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    sandbox = ProcessSandbox(topology, timeout=args.timeout)
    started = time.monotonic()
    if sys.stdout.isatty():
        print("starting mes-sandbox…", end="", flush=True)
    try:
        sandbox.start(on_ready=_progress(topology))
    except LaunchError as exc:
        return _fail(str(exc), f"--- end of {exc.service}'s log ---\n{exc.log_tail}" if exc.log_tail else "")
    _print(banner(topology, time.monotonic() - started))
    try:
        while not stop.requested:
            exited = sandbox.first_exited()
            if exited:
                sandbox.stop()
                return _fail(
                    f"{exited} stopped unexpectedly; the others were stopped",
                    f"--- end of {exited}'s log ---\n{launcher.tail(sandbox.log_path(exited))}",
                )
            time.sleep(0.2)
    finally:
        sandbox.stop()
    _print("mes-sandbox stopped")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    name = launcher.canonical(args.name)
    if os.environ.get(launcher.PARENT_PID, "").isdigit():
        launcher.die_with_parent(int(os.environ[launcher.PARENT_PID]))
    overrides: dict[str, Any] = {}
    if args.host:
        overrides["host"] = args.host
    if args.port is not None:
        overrides["port"] = args.port
    settings = launcher.settings_class(name)(**overrides)
    launcher.run_service(name, settings)
    return 0


def _copy_databases(source: Path, target: Path) -> None:
    """A consistent copy of each SQLite database, even while a sandbox uses them."""
    target.mkdir(parents=True, exist_ok=True)
    for db in sorted(source.glob("*.db")):
        with sqlite3.connect(db) as src, sqlite3.connect(target / db.name) as dst:
            src.backup(dst)


def cmd_exec(args: argparse.Namespace) -> int:
    command = [c for c in args.command if c != "--"] if args.command else []
    if not command:
        return _fail("exec needs a command: mes-sandbox exec -- pytest tests/")
    base = Topology.from_env(dict(os.environ))
    scratch = Path(tempfile.mkdtemp(prefix="mes-sandbox-exec-"))
    try:
        if not args.fresh and base.data_dir.exists():
            _copy_databases(base.data_dir, scratch)
        topology = Topology.free(
            scratch,
            admin_token=base.admin_token or secrets.token_urlsafe(16),
            extra_env={k: v for k, v in base.extra_env.items() if not k.endswith("_DATABASE_URL")},
        )
        sandbox = ProcessSandbox(topology, timeout=args.timeout)
        try:
            sandbox.start()
        except LaunchError as exc:
            return _fail(
                str(exc), f"--- end of {exc.service}'s log ---\n{exc.log_tail}" if exc.log_tail else ""
            )
        try:
            env = {**os.environ, **topology.env()}
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the command
            try:
                return subprocess.call(command, env=env)  # noqa: S603 - the user's own command
            finally:
                signal.signal(signal.SIGINT, previous)
        except FileNotFoundError:
            return _fail(f"command not found: {command[0]}")
        finally:
            sandbox.stop()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _admin_client(topology: Topology) -> httpx.Client:
    headers = {"Authorization": f"Bearer {topology.admin_token}"} if topology.admin_token else {}
    return httpx.Client(headers=headers, timeout=60.0)


def _unreachable(name: str, topology: Topology, exc: Exception) -> str:
    return (
        f"cannot reach {name} at {topology.url(name)} ({type(exc).__name__}): is the sandbox running? "
        "Start it with 'mes-sandbox up' (or set MES_*_URL)"
    )


def _control(
    topology: Topology, method: str, path: str, bodies: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Call ``/_sandbox/<path>`` on every service; raises LaunchError on the first failure."""
    results: dict[str, Any] = {}
    with _admin_client(topology) as client:
        for name in topology.services:
            url = f"{os.environ.get(f'MES_{ENV_NAMES[name]}_URL', topology.url(name))}/_sandbox/{path}"
            try:
                answer = client.request(method, url, json=bodies[name] if bodies else None)
            except httpx.HTTPError as exc:
                raise LaunchError(_unreachable(name, topology, exc)) from exc
            if answer.status_code >= 400:
                raise LaunchError(
                    f"{name} refused {method} /_sandbox/{path}: {answer.status_code} {answer.text[:300]}"
                )
            results[name] = answer.json()
    return results


def cmd_reset(args: argparse.Namespace) -> int:
    topology = Topology.from_env(dict(os.environ))
    started = time.perf_counter()
    results = _control(topology, "POST", "reset")
    total = (time.perf_counter() - started) * 1000
    detail = ", ".join(f"{n} {r['duration_ms']:.1f} ms" for n, r in results.items())
    _print(f"reset to the seed in {total:.0f} ms ({detail})")
    return 0


SNAPSHOT_FORMAT = "mes-sandbox-bundle/1"


def cmd_snapshot(args: argparse.Namespace) -> int:
    topology = Topology.from_env(dict(os.environ))
    path = Path(args.file)
    if args.action == "save":
        snapshots = _control(topology, "GET", "snapshot")
        bundle = {"format": SNAPSHOT_FORMAT, "version": __version__, "services": snapshots}
        path.write_text(json.dumps(bundle, ensure_ascii=False, indent=1))
        rows = sum(len(t) for s in snapshots.values() for t in s["tables"].values())
        _print(f"saved {len(snapshots)} services ({rows} rows) to {path}")
        return 0
    try:
        bundle = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        return _fail(f"cannot read snapshot {path}: {exc}")
    services = bundle.get("services") if isinstance(bundle, dict) else None
    if bundle.get("format") != SNAPSHOT_FORMAT or not isinstance(services, dict):
        return _fail(f"{path} is not a mes-sandbox snapshot (made by 'mes-sandbox snapshot save')")
    missing = [n for n in topology.services if n not in services]
    if missing:
        return _fail(f"{path} has no snapshot of {', '.join(missing)}")
    _control(topology, "PUT", "snapshot", services)
    _print(f"loaded {path} into {len(services)} services")
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from shared.db import migrate
    from shared.db.engine import Database

    for name in SERVICES:
        settings = launcher.settings_class(name)()
        db = Database(settings.resolved_database_url())
        try:
            revision = migrate.upgrade(db.engine, f"services.{name}:migrations")
        finally:
            db.dispose()
        _print(f"{name}: at {revision}")
    return 0


def cmd_personas(args: argparse.Namespace) -> int:
    from shared.personas import load_personas

    env_file = os.environ.get("MES_PERSONAS_FILE")
    personas = load_personas(Path(env_file) if env_file else None)
    if args.json:
        data = personas.data.model_dump(mode="json")
        for pro, raw in zip(personas.professionals, data["professionals"], strict=True):
            raw.update(idnat=pro.idnat, sub=pro.sub)
        for patient, raw in zip(personas.patients, data["patients"], strict=True):
            raw.update(mailbox=patient.mailbox)
        _print(json.dumps(data, ensure_ascii=False, indent=2))
        return 0
    _print(
        _table(
            [
                [
                    p.id,
                    p.display_name,
                    p.profession_label,
                    p.rpps,
                    p.idnat,
                    p.card.pin,
                    ", ".join(m.address for m in p.mailboxes),
                ]
                for p in personas.professionals
            ],
            ["professional", "name", "profession", "RPPS", "idNatPS", "PIN", "MSSanté"],
        )
    )
    _print()
    _print(
        _table(
            [[p.id, p.display_name, p.ins, p.dmp, p.description] for p in personas.patients],
            ["patient", "name", "INS", "DMP", "who"],
        )
    )
    _print()
    _print(
        _table(
            [[o.id, o.name, o.finess or "-", o.siret or "-", o.technical_id] for o in personas.organisations],
            ["organisation", "name", "FINESS", "SIRET", "PSC id"],
        )
    )
    _print()
    _print(
        _table(
            [
                [
                    c.client_id,
                    "public (PKCE)" if c.secret is None else c.token_endpoint_auth_method,
                    c.userinfo_format,
                    c.name,
                ]
                for c in personas.psc_clients
            ],
            ["PSC client", "authentication", "userinfo", "software"],
        )
    )
    _print()
    _print(
        _table(
            [[a.id, a.name, a.track, a.status, str(a.expires_on)] for a in personas.apps],
            ["app", "name", "track", "status", "referenced until"],
        )
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mes-sandbox", description="A local sandbox of the French e-health ecosystem."
    )
    parser.add_argument("--version", action="version", version=f"mes-sandbox {__version__}")
    sub = parser.add_subparsers(dest="command_name", required=True)

    up = sub.add_parser("up", help="start every service, wait until healthy, keep running")
    up.add_argument("--fresh", action="store_true", help="start from an empty data directory")
    up.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    for name in SERVICES:
        flag = name.replace("_auth", "")
        up.add_argument(f"--{flag}-port", type=int, dest=f"{flag}_port", help=f"port of {LABELS[name]}")
    up.add_argument("--smtp-port", type=int, help="MSSanté SMTP port (default 2525)")
    up.add_argument("--imap-port", type=int, help="MSSanté IMAP port (default 1143)")
    up.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for health")
    up.set_defaults(func=cmd_up)

    run = sub.add_parser("run", help="run one service in the foreground (what compose runs)")
    run.add_argument("name", help=f"one of {', '.join(SERVICES)} (or psc)")
    run.add_argument("--host")
    run.add_argument("--port", type=int)
    run.set_defaults(func=cmd_run)

    exe = sub.add_parser("exec", help="run a command against a throw-away sandbox, return its exit code")
    exe.add_argument(
        "--fresh", action="store_true", help="start empty instead of from a copy of MES_DATA_DIR"
    )
    exe.add_argument("--timeout", type=float, default=60.0)
    exe.add_argument("command", nargs=argparse.REMAINDER, help="-- CMD ...")
    exe.set_defaults(func=cmd_exec)

    sub.add_parser("reset", help="put every running service back to the seed").set_defaults(func=cmd_reset)

    snap = sub.add_parser("snapshot", help="save or load the state of every running service")
    snap.add_argument("action", choices=["save", "load"])
    snap.add_argument("file")
    snap.set_defaults(func=cmd_snapshot)

    sub.add_parser("migrate", help="bring every service's database to the latest schema").set_defaults(
        func=cmd_migrate
    )

    personas = sub.add_parser("personas", help="list the personas")
    personas.add_argument("--json", action="store_true")
    personas.set_defaults(func=cmd_personas)

    from services.console.scenarios.cli import add_parser as add_scenario_parser

    add_scenario_parser(sub)  # mes-sandbox scenario list|run NAME (the flow console's scenarios)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except LaunchError as exc:
        return _fail(str(exc), exc.log_tail)
    except KeyboardInterrupt:
        return 130
    return code

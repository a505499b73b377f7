"""MSSanté ingest: SMTP messages/s beside MailDev and a bare aiosmtpd sink; the HTTP API
beside a bare FastAPI endpoint (issue #5, item 7).

    .venv/bin/python -m bench.mss [--setup] [--messages 1000] [--kept 5000] [--reps 3]

SMTP, as ../shared/reference/performance.md measured its peers: postfix's ``smtp-source``
(Debian's postfix package unpacked with ``dpkg -x`` under ``bench/.peers/``, never
installed or started) sends 1,024-byte messages with 8 sessions, first with a new
connection per message, then over kept-open connections (``-d``). Each server is pinned
to CPU 1 (``taskset``), the load to CPU 0. The servers, visited in rotated order for
each repetition (medians are printed):

* MSSanté: the ``mss`` service alone (``python -m services run mss``), its SMTP listener
  with ``MES_MSS_SMTP_AUTH=optional`` (smtp-source cannot authenticate), each message
  parsed, checked and stored (sender's Sent + recipient's INBOX) in SQLite;
* MailDev 3 (npm, ``bench/.peers/maildev``), with a ``--require`` preload that answers its
  per-connection ``dns.reverse`` of 127.0.0.1 locally;
* a bare aiosmtpd sink that keeps the raw bytes in memory.

HTTP: ``wrk`` (1 thread, 8 connections, ``--seconds``) posts the same small JSON message
to ``POST /api/messages`` of a whole sandbox (``mes-sandbox up``, every service pinned to
CPU 1: the token's signature is checked on every request and its introspection answer
kept until Pro Santé Connect's next revocation event, as MSSanté does, README "Revocation
events") and to a bare FastAPI endpoint that parses the same body.

Beside each rate, the CPU microseconds the server spent per message or request (from
/proc: user + system time of its process, threads included; for the HTTP sandbox, MSSanté
and Pro Santé Connect (its introspection endpoint, called once per token), and the whole
sandbox): steadier than rates when other work shares the machine.

``--setup`` downloads the peers (apt-get download postfix, npm install maildev@3).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx

from bench.common import (
    PYTHON,
    ROOT,
    cpu_seconds,
    descendants,
    free_port,
    machine,
    median,
    pinned,
    stop,
    table,
    wait_healthy,
)

PEERS = ROOT / "bench" / ".peers"
POSTFIX = PEERS / "postfix"
SMTP_SOURCE = POSTFIX / "usr" / "sbin" / "smtp-source"
MAILDEV = PEERS / "maildev" / "node_modules" / "maildev" / "dist" / "bin" / "maildev.js"
DNS_PRELOAD = PEERS / "dns-reverse-preload.cjs"
SENDER = "jeanne.martin@medecin.mssante.fr"
RECIPIENT = "karim.benali@ch-valmont.mssante.fr"
ADMIN = "bench-admin-token"

SINK = textwrap.dedent(
    """
    import asyncio, sys
    from aiosmtpd.smtp import SMTP

    class Sink:
        def __init__(self):
            self.kept = []

        async def handle_DATA(self, server, session, envelope):
            self.kept.append(envelope.original_content)
            return "250 OK"

    async def main():
        loop = asyncio.get_running_loop()
        handler = Sink()
        server = await loop.create_server(
            lambda: SMTP(handler, hostname="sink.localhost", decode_data=False), "127.0.0.1", int(sys.argv[1])
        )
        await server.serve_forever()

    asyncio.run(main())
    """
)

PRELOAD = """// MailDev reverse-resolves every SMTP client; answer for loopback without a DNS query.
const dns = require("dns");
const answer = (ip, cb) => process.nextTick(cb, null, ["localhost"]);
dns.reverse = answer;
dns.promises.reverse = async () => ["localhost"];
"""

HELLO_POST = textwrap.dedent(
    """
    import sys, uvicorn
    from fastapi import FastAPI
    from pydantic import BaseModel, Field

    class MessageIn(BaseModel):
        sender: str = Field(..., alias="from")
        to: list[str] = []
        subject: str = ""
        body: str = ""

    app = FastAPI()

    @app.get("/health")
    def health():
        return {"status": "ok"}

    @app.post("/api/messages", status_code=201)
    def post(message: MessageIn):
        return {"id": "1", "message_id": "<1@bench>", "recipients": message.to}

    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
    """
)


def setup() -> None:
    """Fetch the peers into bench/.peers (not committed)."""
    PEERS.mkdir(parents=True, exist_ok=True)
    if not SMTP_SOURCE.exists():
        with tempfile.TemporaryDirectory() as folder:
            subprocess.run(["apt-get", "download", "postfix"], cwd=folder, check=True)
            deb = next(Path(folder).glob("postfix_*.deb"))
            subprocess.run(["dpkg", "-x", str(deb), str(POSTFIX)], check=True)
    if not MAILDEV.exists():
        subprocess.run(
            ["npm", "install", "--prefix", str(PEERS / "maildev"), "maildev@3", "--no-audit", "--no-fund"],
            check=True,
        )
    DNS_PRELOAD.write_text(PRELOAD)


def wait_smtp(port: int, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"SMTP server on {port} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                if sock.recv(64).startswith(b"220"):
                    return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"no SMTP greeting on {port} after {timeout} s")


def listening_pid(port: int) -> int | None:
    """The process listening on 127.0.0.1:``port`` (from /proc/net/tcp and the fds)."""
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and int(fields[1].split(":")[1], 16) == port:
            inode = fields[9]
    if inode is None:
        return None
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if any(os.readlink(fd) == f"socket:[{inode}]" for fd in (entry / "fd").iterdir()):
                    return int(entry.name)
            except OSError:
                continue
    return None


def smtp_source(port: int, messages: int, sessions: int, kept: bool, pid: int) -> tuple[float, float]:
    """Messages per second for one smtp-source run (1,024-byte bodies), and the server's
    CPU microseconds per message (steadier than the rate on a shared machine)."""
    env = {**os.environ, "LD_LIBRARY_PATH": str(POSTFIX / "usr" / "lib" / "postfix")}
    config = Path(tempfile.mkdtemp(prefix="postfix-conf-"))
    (config / "main.cf").write_text("compatibility_level = 3.6\n")
    env["MAIL_CONFIG"] = str(config)
    command = [
        str(SMTP_SOURCE),
        "-s",
        str(sessions),
        "-m",
        str(messages),
        "-l",
        "1024",
        "-f",
        SENDER,
        "-t",
        RECIPIENT,
        "-M",
        "bench.localhost",
    ]
    if kept:
        command.append("-d")
    command.append(f"127.0.0.1:{port}")
    cpu = cpu_seconds(pid)
    started = time.perf_counter()
    result = subprocess.run(pinned(0, command), env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    spent = cpu_seconds(pid) - cpu
    if result.returncode != 0:
        raise RuntimeError(f"smtp-source failed on {port}: {result.stderr.decode()[-500:]}")
    return messages / elapsed, spent * 1e6 / messages


def start_mss(folder: Path) -> tuple[subprocess.Popen[bytes], int, str]:
    http, smtp = free_port(), free_port()
    env = {
        **os.environ,
        "MES_DATA_DIR": str(folder),
        "MES_MSS_PORT": str(http),
        "MES_MSS_SMTP_PORT": str(smtp),
        "MES_MSS_IMAP_PORT": "0",
        "MES_MSS_SMTP_AUTH": "optional",
        "MES_LOG_LEVEL": "WARNING",
        "MES_EXCHANGE_CAPACITY": "10",
    }
    process = subprocess.Popen(
        pinned(1, [PYTHON, "-m", "services", "run", "mss"]),
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_healthy([f"http://127.0.0.1:{http}/health"], process=process)
    wait_smtp(smtp, process)
    return process, smtp, f"http://127.0.0.1:{http}"


def start_sink() -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    process = subprocess.Popen(pinned(1, [PYTHON, "-c", SINK, str(port)]))
    wait_smtp(port, process)
    return process, port


def start_maildev() -> tuple[subprocess.Popen[bytes], int]:
    port, web = free_port(), free_port()
    command = [
        "node",
        "--require",
        str(DNS_PRELOAD),
        str(MAILDEV),
        "--smtp",
        str(port),
        "--ip",
        "127.0.0.1",
        "--web",
        str(web),
        "--web-ip",
        "127.0.0.1",
        "--silent",
    ]
    process = subprocess.Popen(pinned(1, command), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_smtp(port, process)
    return process, port


def stored_messages(base: str) -> int:
    snapshot = httpx.get(f"{base}/_sandbox/snapshot", timeout=60).json()
    return len(snapshot["tables"]["messages"])


def bench_smtp(args: argparse.Namespace) -> list[list[str]]:
    with tempfile.TemporaryDirectory(prefix="mss-bench-") as folder:
        mss, mss_port, mss_base = start_mss(Path(folder))
        sink, sink_port = start_sink()
        maildev, maildev_port = start_maildev()
        servers = {
            "MSSanté (mes-sandbox)": (mss_port, mss.pid),
            "MailDev 3": (maildev_port, maildev.pid),
            "bare aiosmtpd sink": (sink_port, sink.pid),
        }
        results: dict[tuple[str, bool], list[float]] = {}
        cpu: dict[tuple[str, bool], list[float]] = {}
        try:
            names = list(servers)
            for rep in range(args.reps):
                for name in names[rep % len(names) :] + names[: rep % len(names)]:
                    for kept in (False, True):
                        count = args.kept if kept else args.messages
                        port, pid = servers[name]
                        rate, micros = smtp_source(port, count, args.sessions, kept, pid)
                        results.setdefault((name, kept), []).append(rate)
                        cpu.setdefault((name, kept), []).append(micros)
            stored = stored_messages(mss_base)
            expected = 2 * args.reps * (args.messages + args.kept)  # Sent + INBOX copies
            if stored != expected:
                raise RuntimeError(f"MSSanté stored {stored} message copies, expected {expected}")
        finally:
            for process in (mss, sink, maildev):
                stop(process)
    maildev_new = median(results[("MailDev 3", False)])
    maildev_kept = median(results[("MailDev 3", True)])
    rows = []
    for name in servers:
        new_rate, kept_rate = median(results[(name, False)]), median(results[(name, True)])
        rows.append(
            [
                name,
                f"{new_rate:,.0f}",
                f"{new_rate / maildev_new:.1f}x",
                f"{median(cpu[(name, False)]):,.0f}",
                f"{kept_rate:,.0f}",
                f"{kept_rate / maildev_kept:.2f}x",
                f"{median(cpu[(name, True)]):,.0f}",
            ]
        )
    return rows


def wrk_post(url: str, token: str | None, seconds: int, pids: list[list[int]]) -> tuple[float, list[float]]:
    """wrk's rate, and the CPU microseconds per request of each group of ``pids``."""
    body = json.dumps({"from": SENDER, "to": [RECIPIENT], "subject": "Bench", "body": "Texte du message."})
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    lines = ['wrk.method = "POST"', f"wrk.body = {json.dumps(body)}"]
    lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write("\n".join(lines) + "\n")
    before = [cpu_seconds(*group) for group in pids]
    result = subprocess.run(
        pinned(0, ["wrk", "-t1", "-c8", f"-d{seconds}s", "-s", script.name, url]),
        capture_output=True,
        text=True,
        check=True,
    )
    spent = [cpu_seconds(*group) - start for group, start in zip(pids, before, strict=True)]
    os.unlink(script.name)
    if "Non-2xx" in result.stdout:
        raise RuntimeError(f"non-2xx answers from {url}:\n{result.stdout}")
    lines = result.stdout.splitlines()
    rate = next(line for line in lines if line.startswith("Requests/sec"))
    count = int(next(line for line in lines if "requests in" in line).split()[0])
    return float(rate.split(":")[1]), [seconds * 1e6 / max(count, 1) for seconds in spent]


def bench_http(args: argparse.Namespace) -> list[list[str]]:
    with tempfile.TemporaryDirectory(prefix="mss-bench-http-") as folder:
        ports = {name: free_port() for name in ("CONSOLE", "PSC", "DMP", "MSS", "CATALOG")}
        env = {
            **os.environ,
            "MES_DATA_DIR": folder,
            "MES_ADMIN_TOKEN": ADMIN,
            "MES_LOG_LEVEL": "WARNING",
            "MES_EXCHANGE_CAPACITY": "10",
            **{f"MES_{k}_PORT": str(v) for k, v in ports.items()},
            "MES_MSS_SMTP_PORT": str(free_port()),
            "MES_MSS_IMAP_PORT": str(free_port()),
        }
        sandbox = subprocess.Popen(
            pinned(1, [PYTHON, "-m", "services", "up"]),
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        hello_port = free_port()
        hello = subprocess.Popen(pinned(1, [PYTHON, "-c", HELLO_POST, str(hello_port)]))
        try:
            mss = f"http://127.0.0.1:{ports['MSS']}"
            wait_healthy([f"http://127.0.0.1:{p}/health" for p in ports.values()], process=sandbox)
            wait_healthy([f"http://127.0.0.1:{hello_port}/health"], process=hello)
            answer = httpx.post(
                f"http://127.0.0.1:{ports['PSC']}/_sandbox/tokens",
                json={"professional": "jeanne-martin"},
                headers={"Authorization": f"Bearer {ADMIN}"},
            )
            token = answer.json()["access_token"]
            mss_pid, psc_pid = listening_pid(ports["MSS"]), listening_pid(ports["PSC"])
            groups = [[mss_pid] if mss_pid else [], [psc_pid] if psc_pid else [], descendants(sandbox.pid)]
            rates: dict[str, list[float]] = {"mss": [], "hello": []}
            cpu: dict[str, list[list[float]]] = {"mss": [], "hello": []}
            for _ in range(args.reps):
                rate, micros = wrk_post(f"{mss}/api/messages", token, args.seconds, groups)
                rates["mss"].append(rate)
                cpu["mss"].append(micros)
                rate, micros = wrk_post(
                    f"http://127.0.0.1:{hello_port}/api/messages", None, args.seconds, [[hello.pid]]
                )
                rates["hello"].append(rate)
                cpu["hello"].append(micros)
        finally:
            stop(sandbox)
            stop(hello)
    ours, bare = median(rates["mss"]), median(rates["hello"])
    mss_cpu, psc_cpu, all_cpu = (median([m[i] for m in cpu["mss"]]) for i in range(3))
    bare_cpu = median([m[0] for m in cpu["hello"]])
    return [
        [
            "MSSanté POST /api/messages (PSC token verified, answer kept, stored)",
            f"{ours:,.0f}",
            f"{ours / bare:.2f}x",
            f"{all_cpu:,.0f} (MSS {mss_cpu:,.0f}, PSC {psc_cpu:,.0f})",
            f"{bare_cpu / all_cpu:.2f}x",
        ],
        ["bare FastAPI POST (same JSON body parsed)", f"{bare:,.0f}", "1.00x", f"{bare_cpu:,.0f}", "1.00x"],
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--setup", action="store_true", help="download the peers first")
    parser.add_argument("--messages", type=int, default=1000, help="messages per run, new connection each")
    parser.add_argument("--kept", type=int, default=5000, help="messages per run over kept-open connections")
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5, help="duration of each HTTP load")
    parser.add_argument("--skip-http", action="store_true")
    args = parser.parse_args()
    if args.setup or not (SMTP_SOURCE.exists() and MAILDEV.exists()):
        setup()
    DNS_PRELOAD.write_text(PRELOAD)
    print(f"machine: {machine()}; servers pinned to CPU 1, load to CPU 0; medians of {args.reps}")
    print(
        f"\nSMTP ingest, smtp-source, 1,024-byte messages, {args.sessions} sessions "
        f"({args.messages} messages a run with a new connection each, {args.kept} over kept-open ones)\n"
    )
    header = [
        "server",
        "new conn. msgs/s",
        "vs MailDev",
        "CPU µs/msg",
        "kept-open msgs/s",
        "vs MailDev",
        "CPU µs/msg",
    ]
    print(table(bench_smtp(args), header))
    if not args.skip_http:
        print(f"\nHTTP, wrk -t1 -c8 -d{args.seconds}s, one small JSON message per request\n")
        header = ["endpoint", "req/s", "vs bare FastAPI", "CPU µs/req (sandbox)", "per CPU-s vs bare"]
        print(table(bench_http(args), header))
    return 0


if __name__ == "__main__":
    sys.exit(main())

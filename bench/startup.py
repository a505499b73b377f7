"""Start-up, reset and memory of the whole sandbox, against a bare FastAPI app (issue #2).

    .venv/bin/python -m bench.startup [--runs 5]

Measures, each with the same figure for a bare FastAPI "hello" app started the same way
(one uvicorn process, spawned, polled until its /health answers 200) in the same run:

* cold start of ``mes-sandbox up`` until every service's /health answers 200, with the
  data directory already seeded (a restart) and empty (``--fresh``: migrations and seed);
* ``POST /_sandbox/reset`` on every service (what a test suite calls before each test);
* resident memory after start (RSS, and PSS, which counts shared pages once).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import (
    HELLO_APP,
    PYTHON,
    ROOT,
    free_port,
    machine,
    median,
    memory_mb,
    stop,
    table,
    wait_healthy,
)
from services.launcher import SERVICES
from shared.settings import ENV_NAMES


def hello_start() -> tuple[float, float, float, float]:
    """(cold start s, RSS MB, PSS MB, request ms) of the bare FastAPI app."""
    port = free_port()
    started = time.perf_counter()
    process = subprocess.Popen(
        [PYTHON, "-c", HELLO_APP, str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_healthy([f"http://127.0.0.1:{port}/health"], process=process)
        elapsed = time.perf_counter() - started
        rss, pss = memory_mb(process.pid)
        with httpx.Client() as client:
            client.get(f"http://127.0.0.1:{port}/")
            times = []
            for _ in range(50):
                t = time.perf_counter()
                client.get(f"http://127.0.0.1:{port}/")
                times.append((time.perf_counter() - t) * 1000)
        return elapsed, rss, pss, median(times)
    finally:
        stop(process)


def sandbox_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MES_")}
    env["MES_DATA_DIR"] = str(data_dir)
    for name in SERVICES:
        env[f"MES_{ENV_NAMES[name]}_PORT"] = str(free_port())
    env["MES_MSS_SMTP_PORT"], env["MES_MSS_IMAP_PORT"] = str(free_port()), str(free_port())
    return env


def sandbox_start(data_dir: Path, fresh: bool, measure_reset: bool) -> dict[str, float]:
    env = sandbox_env(data_dir)
    urls = {name: f"http://127.0.0.1:{env[f'MES_{ENV_NAMES[name]}_PORT']}" for name in SERVICES}
    command = [PYTHON, "-m", "services", "up", *(["--fresh"] if fresh else [])]
    started = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_healthy([f"{u}/health" for u in urls.values()], process=process)
        result = {"start": time.perf_counter() - started}
        time.sleep(0.5)  # let the services settle before reading memory
        result["rss"], result["pss"] = memory_mb(process.pid)
        if measure_reset:
            with httpx.Client() as client:
                for name in SERVICES:  # warm the seed caches once
                    client.post(f"{urls[name]}/_sandbox/reset")
                durations = []
                for _ in range(20):
                    t = time.perf_counter()
                    for name in SERVICES:
                        assert client.post(f"{urls[name]}/_sandbox/reset").status_code == 200
                    durations.append((time.perf_counter() - t) * 1000)
            result["reset_ms"] = median(durations)
        return result
    finally:
        stop(process)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="mes-bench-"))
    try:
        hello = [hello_start() for _ in range(args.runs)]
        fresh = [
            sandbox_start(scratch / f"fresh{i}", fresh=True, measure_reset=False) for i in range(args.runs)
        ]
        warm_dir = scratch / "warm"
        sandbox_start(warm_dir, fresh=True, measure_reset=False)  # seed once
        warm = [sandbox_start(warm_dir, fresh=False, measure_reset=(i == 0)) for i in range(args.runs)]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    hello_start_s = median([h[0] for h in hello])
    hello_rss, hello_pss = median([h[1] for h in hello]), median([h[2] for h in hello])
    hello_request = median([h[3] for h in hello])
    warm_s, fresh_s = median([w["start"] for w in warm]), median([f["start"] for f in fresh])
    rss, pss = median([w["rss"] for w in warm]), median([w["pss"] for w in warm])
    reset_ms = warm[0]["reset_ms"]
    n = len(SERVICES)
    print(f"mes-sandbox start-up benchmark · {machine()} · medians of {args.runs} runs")
    print(f"({n} services: {', '.join(SERVICES)}; baseline: one bare FastAPI app, same spawn and polling)\n")
    rows = [
        [
            "cold start, data dir seeded (s)",
            f"{warm_s:.2f}",
            f"{hello_start_s:.2f}",
            f"{warm_s / hello_start_s:.2f}×",
        ],
        [
            "cold start, --fresh: migrate + seed (s)",
            f"{fresh_s:.2f}",
            f"{hello_start_s:.2f}",
            f"{fresh_s / hello_start_s:.2f}×",
        ],
        [
            f"reset of all {n} services (ms)",
            f"{reset_ms:.1f}",
            f"{n * hello_request:.1f}",
            f"{reset_ms / (n * hello_request):.2f}×",
        ],
        ["resident memory, RSS (MB)", f"{rss:.0f}", f"{hello_rss:.0f}", f"{rss / hello_rss:.2f}×"],
        ["resident memory, PSS (MB)", f"{pss:.0f}", f"{hello_pss:.0f}", f"{pss / hello_pss:.2f}×"],
    ]
    print(table(rows, ["measure", "mes-sandbox", "FastAPI hello", "ratio"]))
    print(
        f"\nreset baseline: {n} hello requests ({hello_request:.2f} ms each). Goals (issue #2): all healthy "
        "< 1.5 s, total memory < 300 MB, reset of the four < 100 ms."
    )


if __name__ == "__main__":
    main()

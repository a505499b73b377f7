"""The flow console: how long the journeys take to draw, beside what reading the data costs.

    .venv/bin/python -m bench.console [--calls 400] [--reps 20]

1. In process, on synthetic exchanges shaped like the services' (a professional's DMP read,
   the DMP fetching PSC's keys and introspecting the token: five records per journey):
   grouping ``--calls`` journeys into the journeys list (``summarise``), and one journey of
   150 calls (50 reads) laid out and drawn as SVG and PNG, each beside the baseline every
   reader pays anyway: ``json.loads`` of the same exchanges as ``/_sandbox/exchanges``
   returns them.
2. Over HTTP, against a whole sandbox (``ProcessSandbox``, each service its own process):
   after ``--calls`` real TD0.2 reads of the DMP, the latency (p50, p99 over ``--reps``)
   of the journeys page, of one journey, and of its PNG export, beside reading the raw
   exchanges of the four services (``GET /_sandbox/exchanges``, what the page needs first).
"""

from __future__ import annotations

import argparse
import json
import secrets
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from bench.common import machine, median, percentile, table
from services.console.journeys import layout, png, svg
from services.console.journeys.model import build_journey, summarise
from tests.console.exchanges import dmp_read_with_introspection

ADMIN = "bench-admin-token"
APPS = frozenset({"app-ma-balance"})


def timed(fn: Callable[[], object], reps: int) -> list[float]:
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return times


def in_process(calls: int, reps: int) -> list[list[str]]:
    journeys = [e for _ in range(calls) for e in dmp_read_with_introspection(trace=secrets.token_hex(16))]
    payload = json.dumps({"service": "dmp", "exchanges": journeys})
    one_trace = [e for _ in range(50) for e in dmp_read_with_introspection()]
    one_payload = json.dumps({"exchanges": one_trace})
    baseline = median(timed(lambda: json.loads(payload), reps))
    one_baseline = median(timed(lambda: json.loads(one_payload), reps))
    journey = build_journey(one_trace, APPS)
    drawing = layout.layout(journey)
    rows = []
    for label, fn, base in (
        (f"journeys list of {calls} traces", lambda: summarise(journeys, APPS), baseline),
        ("one journey of 150 calls: model", lambda: build_journey(one_trace, APPS), one_baseline),
        ("  + layout + SVG", lambda: svg.render(layout.layout(build_journey(one_trace, APPS))), one_baseline),
        ("  PNG of the same layout", lambda: png.render(drawing), one_baseline),
    ):
        took = median(timed(fn, reps))
        rows.append([label, f"{took:.1f}", f"{base:.1f}", f"{took / base:.1f}×"])
    return rows


def over_http(calls: int, reps: int) -> list[list[str]]:
    from services.launcher import ProcessSandbox, Topology

    with tempfile.TemporaryDirectory() as data:
        topology = Topology.free(Path(data), admin_token=ADMIN)
        sandbox = ProcessSandbox(topology)
        sandbox.start()
        try:
            return _measure(topology, calls, reps)
        finally:
            sandbox.stop()


def _measure(topology: object, calls: int, reps: int) -> list[list[str]]:
    url = topology.url  # type: ignore[attr-defined]
    admin = {"Authorization": f"Bearer {ADMIN}"}
    with httpx.Client(timeout=60.0) as client:
        token = client.post(
            f"{url('psc_auth')}/_sandbox/tokens", headers=admin, json={"professional": "jeanne-martin"}
        ).json()["access_token"]
        trace = secrets.token_hex(16)
        for i in range(calls):
            client.get(
                f"{url('dmp')}/fhir/Patient",
                params={"identifier": "urn:oid:1.2.250.1.213.1.4.10|279035121518989"},
                headers={
                    "Authorization": f"Bearer {token}",
                    **({"traceparent": f"00-{trace}-{secrets.token_hex(8)}-01"} if i < 50 else {}),
                },
            )

        def raw() -> None:
            for name in ("psc_auth", "dmp", "mss", "catalog"):
                client.get(f"{url(name)}/_sandbox/exchanges", params={"limit": 500}, headers=admin)

        console = url("console")
        rows = []
        base = timed(raw, reps)
        for label, path in (
            ("journeys page (/parcours)", "/parcours"),
            ("one journey of 50 reads", f"/parcours/{trace}"),
            ("  its PNG export", f"/parcours/{trace}/export.png"),
        ):
            times = timed(lambda p=path: client.get(f"{console}{p}", headers=admin).raise_for_status(), reps)  # type: ignore[misc]
            rows.append(
                [
                    label,
                    f"{median(times):.1f}",
                    f"{percentile(times, 99):.1f}",
                    f"{median(base):.1f}",
                    f"{median(times) / median(base):.1f}×",
                ]
            )
        return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--reps", type=int, default=20)
    args = parser.parse_args()
    print(f"mes-sandbox console benchmark — {machine()}")
    print()
    print("In process (ms, median):")
    print(table(in_process(args.calls, args.reps), ["what", "took", "json.loads baseline", "ratio"]))
    print()
    print(f"Over HTTP, after {args.calls} DMP reads (ms):")
    print(
        table(
            over_http(args.calls, args.reps),
            ["page", "p50", "p99", "raw /_sandbox/exchanges ×4 (p50)", "ratio"],
        )
    )


if __name__ == "__main__":
    main()

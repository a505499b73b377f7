"""Mon espace santé: consent-checked reads per second (an app reading a patient's
measurements through the mesures API) beside a bare FastAPI endpoint measured in the same
run (issue #6, item 8; goal: at least 0.3x the bare endpoint).

    .venv/bin/python -m bench.catalog [--seconds 5] [--reps 3] [--measures 500]

As ../shared/reference/performance.md measured its peers: each server pinned to CPU 1
(``taskset``), ``wrk`` on CPU 0, keep-alive, no TLS, medians of ``--reps`` repetitions
(the two servers visited in rotated order):

* **Mon espace santé**: the catalog service alone (``python -m services run catalog``,
  SQLite in a temporary ``MES_DATA_DIR``), after an app (Ma Balance) was given a token by
  the sandbox shortcut of the consent page and wrote ``--measures`` weights. Each read is
  ``GET /fhir/Observation`` in the guide's "last" mode (``_sort=-date&_count=1``) and in
  its "all" mode (a page of 10 over a period): the bearer token is verified (signature,
  issuer, audience, expiry), its row, the consent and the app are read from the database
  (so that a revocation applies at once), then the measurements are searched and returned
  as a FHIR searchset. The platform's middleware records every exchange, as always.
* **bare FastAPI**: one uvicorn process whose ``GET /fhir/Observation`` answers a small
  constant JSON: the floor of the framework, without FHIR, token, consent or database.
* **the platform's floor**, for reading the figures: the catalog's ``GET /fhir/metadata``
  (a constant CapabilityStatement: no token, no database) goes through everything every
  request of the sandbox goes through (tracing, fault rules, the recording of the exchange
  for ``/_sandbox/exchanges``, FHIR content negotiation): what no endpoint of it can beat.

Two rates are printed: requests per wall-clock second (wrk), and requests per CPU-second
the server spent (from ``/proc``): on a shared, busy machine a server pinned to a core does
not always get it, while the CPU it spends per request holds.

At the end, the consent is revoked and the same read is checked to be refused (403).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import httpx

from bench.common import (
    PYTHON,
    ROOT,
    cpu_seconds,
    free_port,
    machine,
    median,
    pinned,
    stop,
    table,
    wait_healthy,
)

ADMIN = "bench-admin-token"
BARE = """
import sys, uvicorn
from fastapi import FastAPI
app = FastAPI()

@app.get("/health")
def health():
    return {"status": "ok"}

@app.get("/fhir/Observation")
async def observations():
    return {"resourceType": "Bundle", "type": "searchset", "total": 0}

uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
"""


def wrk(url: str, connections: int, seconds: int, pid: int, token: str | None = None) -> dict[str, float]:
    """wrk's rate and latency, and the requests per CPU-second the server spent: on a shared,
    busy machine the server does not always get its core, the CPU cost per request holds."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if token:
        command += ["-H", f"Authorization: Bearer {token}"]
    before = cpu_seconds(pid)
    result = subprocess.run(pinned(0, [*command, url]), capture_output=True, text=True, check=True)
    spent = cpu_seconds(pid) - before
    if "Non-2xx" in result.stdout:
        raise RuntimeError(f"non-2xx answers from {url}:\n{result.stdout}")
    found = re.search(r"Requests/sec:\s+([\d.]+)", result.stdout)
    if found is None:
        raise RuntimeError(f"no rate in wrk's output:\n{result.stdout}")
    figures = {"rate": float(found[1])}
    count = re.search(r"(\d+) requests in", result.stdout)
    figures["per_cpu_second"] = int(count[1]) / spent if count and spent > 0 else 0.0
    for label, key in (("50%", "p50"), ("99%", "p99")):
        latency = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s|m)\s*$", result.stdout, re.M)
        if latency is None:
            raise RuntimeError(f"no {label} latency in wrk's output:\n{result.stdout}")
        figures[key] = float(latency[1]) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[latency[2]]
    return figures


def start_catalog(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MES_")},
        "MES_DATA_DIR": str(folder),
        "MES_ADMIN_TOKEN": ADMIN,
        "MES_LOG_LEVEL": "WARNING",
        "MES_EXCHANGE_CAPACITY": "10",
        "MES_CATALOG_PORT": str(port),
        "MES_CATALOG_URL": f"http://127.0.0.1:{port}",
        "MES_CATALOG_ACCESS_TOKEN_LIFETIME": "7200",
    }
    process = subprocess.Popen(
        pinned(1, [PYTHON, "-m", "services", "run", "catalog"]),
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    wait_healthy([f"{url}/health"], process=process, timeout=120)
    return process, url


def weight(idpe: str, value: float, when: dt.datetime) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": {
                    "resourceType": "Observation",
                    "meta": {
                        "profile": [
                            "http://esante.gouv.fr/ci-sis/fhir/StructureDefinition/MesFrObservationBodyWeight"
                        ]
                    },
                    "status": "final",
                    "category": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                    "code": "vital-signs",
                                }
                            ]
                        }
                    ],
                    "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
                    "subject": {"identifier": {"system": "urn:oid:1.2.250.1.999.1.1", "value": idpe}},
                    "effectiveDateTime": when.isoformat(),
                    "valueQuantity": {
                        "value": value,
                        "unit": "kg",
                        "system": "http://unitsofmeasure.org",
                        "code": "kg",
                    },
                },
                "request": {"method": "POST", "url": "Observation"},
            }
        ],
    }


def prepare(url: str, measures: int) -> tuple[str, str, str]:
    """An app token with the patient's consent, and ``measures`` weights: (token, last, all)."""
    admin = {"Authorization": f"Bearer {ADMIN}"}
    with httpx.Client(base_url=url, timeout=30) as client:
        body = {
            "patient": "dominique-pat-trois",
            "actor": "app",
            "app": "ma-balance",
            "scope": "mesures.read mesures.write",
        }
        answer = client.post("/_sandbox/tokens", json=body, headers=admin)
        answer.raise_for_status()
        token, idpe = answer.json()["access_token"], answer.json()["idpe"]
        start = dt.datetime(2026, 1, 1, 7, 0, tzinfo=dt.UTC)
        for index in range(measures):
            written = client.post(
                "/fhir",
                json=weight(idpe, 70 + index % 10 / 10, start + dt.timedelta(hours=6 * index)),
                headers={"Authorization": f"Bearer {token}"},
            )
            written.raise_for_status()
    subject = f"subject.identifier=urn:oid:1.2.250.1.999.1.1%7C{idpe}&code=29463-7"
    last = f"{url}/fhir/Observation?{subject}&_sort=-date&_count=1"
    every = f"{url}/fhir/Observation?{subject}&date=ge2026-02-01&date=le2026-02-28&_count=10"
    with httpx.Client(timeout=30) as client:
        for target, expected in ((last, 1), (every, 112)):
            check = client.get(target, headers={"Authorization": f"Bearer {token}"})
            check.raise_for_status()
            if measures >= 500 and check.json()["total"] != expected:
                raise RuntimeError(f"unexpected total {check.json()['total']} for {target}")
    return token, last, every


def revoked_is_refused(url: str, token: str, last: str) -> bool:
    with httpx.Client(timeout=30) as client:
        client.post(
            f"{url}/_sandbox/consents/revoke",
            json={"patient": "dominique-pat-trois", "app": "ma-balance"},
            headers={"Authorization": f"Bearer {ADMIN}"},
        ).raise_for_status()
        answer = client.get(last, headers={"Authorization": f"Bearer {token}"})
        return answer.status_code == 403 and "Consent not given" in answer.text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--measures", type=int, default=500)
    args = parser.parse_args()
    print(
        f"{machine()}; servers on CPU 1, wrk on CPU 0; medians of {args.reps} x {args.seconds} s\n",
        flush=True,
    )
    bare_port = free_port()
    bare = subprocess.Popen(pinned(1, [PYTHON, "-c", BARE, str(bare_port)]))
    results: dict[str, list[dict[str, float]]] = {
        k: [] for k in ("last8", "last1", "all8", "all1", "meta8", "meta1", "bare8", "bare1")
    }
    with tempfile.TemporaryDirectory() as folder:
        catalog, url = start_catalog(Path(folder))
        try:
            wait_healthy([f"http://127.0.0.1:{bare_port}/health"], process=bare)
            token, last, every = prepare(url, args.measures)
            bare_url = f"http://127.0.0.1:{bare_port}/fhir/Observation"
            wrk(last, 4, 2, catalog.pid, token)  # warm-up: caches, pools, page cache
            wrk(bare_url, 4, 2, bare.pid)
            for rep in range(args.reps):
                runs = [
                    ("last8", lambda: wrk(last, 8, args.seconds, catalog.pid, token)),
                    ("all8", lambda: wrk(every, 8, args.seconds, catalog.pid, token)),
                    ("bare8", lambda: wrk(bare_url, 8, args.seconds, bare.pid)),
                    ("meta8", lambda: wrk(f"{url}/fhir/metadata", 8, args.seconds, catalog.pid)),
                    ("last1", lambda: wrk(last, 1, args.seconds, catalog.pid, token)),
                    ("bare1", lambda: wrk(bare_url, 1, args.seconds, bare.pid)),
                ]
                for name, run in runs[rep % len(runs) :] + runs[: rep % len(runs)]:
                    results[name].append(run())
                print(f"repetition {rep + 1}/{args.reps} done", flush=True)
            refused = revoked_is_refused(url, token, last)
        finally:
            stop(catalog)
            stop(bare)

    def m(name: str, key: str) -> float:
        return median([r[key] for r in results[name]])

    bare_rate, bare_cpu = m("bare8", "rate"), m("bare8", "per_cpu_second")
    rows = []
    for name, label in (
        ("last8", "mesures 'last' read (consent-checked)"),
        ("all8", "mesures 'all' page of 10 (consent-checked)"),
        ("meta8", "platform floor: GET /fhir/metadata (no token, no DB)"),
        ("bare8", "bare FastAPI endpoint"),
    ):
        latency = name.replace("8", "1")
        rows.append(
            [
                label,
                f"{m(name, 'rate'):,.0f}",
                f"{m(name, 'rate') / bare_rate:.2f}x",
                f"{m(name, 'per_cpu_second'):,.0f}",
                f"{m(name, 'per_cpu_second') / bare_cpu:.2f}x",
                f"{m(latency, 'p50'):.2f}" if results.get(latency) else "",
                f"{m(latency, 'p99'):.2f}" if results.get(latency) else "",
                f"{m(name, 'p99'):.2f}",
            ]
        )
    print()
    header = [
        "",
        "reads/s (wrk -c8)",
        "vs bare",
        "reads per CPU-s",
        "vs bare",
        "p50 ms (-c1)",
        "p99 ms (-c1)",
        "p99 ms (-c8)",
    ]
    print(table(rows, header))
    print(f"\nafter revoking the consent, the same read is refused (403): {'yes' if refused else 'NO'}")
    return 0 if refused else 1


if __name__ == "__main__":
    raise SystemExit(main())

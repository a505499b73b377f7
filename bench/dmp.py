"""The DMP: ITI-65 publications per second (one 50 kB PDF per bundle) and ITI-67 search
latency and throughput for one patient in a DMP of 100,000 documents across 10,000
patients, on SQLite and PostgreSQL, each beside a bare FastAPI endpoint measured in the
same run (issue #4, item 10).

    .venv/bin/python -m bench.dmp [--postgres postgresql://postgres@127.0.0.1:5432/postgres]
                                  [--backends sqlite,postgresql] [--seconds 5] [--reps 3]
                                  [--patients 10000] [--documents 100000] [--introspect on|off|both]

As ../shared/reference/performance.md measured its peers: the servers pinned to CPU 1
(``taskset``), ``wrk`` on CPU 0, keep-alive, no TLS, medians of ``--reps`` repetitions:

* **DMP**: a whole sandbox (``python -m services up``, every service on CPU 1): each request's
  Pro Santé Connect token is verified and, by default, introspected at Pro Santé Connect
  (RFC 7662), the active answer kept until PSC's next revocation event, as the DMP does
  (README, "Revocation events"; the run uses one token, so PSC is asked once). ``--introspect
  off`` measures ``MES_DMP_INTROSPECT=false``: signature only. The DMP's database is SQLite
  in a temporary ``MES_DATA_DIR`` or a fresh PostgreSQL database (``MES_DMP_DATABASE_URL``).
* **bare FastAPI**: one uvicorn process with ``POST /fhir`` that parses the same JSON bundle
  and answers a small JSON, and ``GET /fhir/DocumentReference`` that answers a small JSON:
  the floor of the framework, without FHIR, rules, database or tokens.

The bulk data is written straight into the DMP's database with its own tables (SQLAlchemy
Core ``executemany``, 10 documents and one SubmissionSet per patient, the médecin traitant
being the searching professional), after the DMP has migrated and seeded it. ITI-67: ``wrk
-c8`` for the throughput and the loaded latency, ``wrk -c1`` for the unloaded p50/p99.
ITI-65: ``wrk -c8`` with a Lua script that gives every bundle a fresh uniqueId.

Beside the rates, the CPU time each request cost the DMP's process and Pro Santé Connect's
(introspection), and the bare endpoint's (``/proc/<pid>/stat`` before and after each ``-c8``
run): on a shared, loaded machine a steadier measure than the rates, which depend on the
CPU the servers got.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import subprocess
import tempfile
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

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

ADMIN = "bench-admin-token"
HEADER = [
    "",
    "throughput (wrk -c8)",
    "vs bare",
    "p50 ms (-c1)",
    "p99 ms (-c1)",
    "p99 ms (-c8)",
    "CPU µs/req DMP+PSC",
]
JEANNE_IDNAT = "899700112545"
DOMINIQUE = "urn:oid:1.2.250.1.213.1.4.10|279035121518989"

BARE = textwrap.dedent(
    """
    import json, sys, uvicorn
    from fastapi import FastAPI, Request
    from fastapi.responses import Response

    app = FastAPI()

    @app.get("/health")
    def health():
        return {"status": "ok"}

    @app.post("/fhir")
    async def bundle(request: Request):
        data = json.loads(await request.body())
        return {"resourceType": "Bundle", "type": "transaction-response", "entries": len(data["entry"])}

    @app.get("/fhir/DocumentReference")
    def search():
        return {"resourceType": "Bundle", "type": "searchset", "total": 0}

    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
    """
)

LUA_PUBLISH = """
local f = io.open("{prefix}", "rb"); local prefix = f:read("*a"); f:close()
f = io.open("{suffix}", "rb"); local suffix = f:read("*a"); f:close()
local counter = 0
local run = "{run}"
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/fhir+json"
wrk.headers["Authorization"] = "Bearer {token}"
request = function()
  counter = counter + 1
  return wrk.format(nil, nil, nil, prefix .. run .. "." .. counter .. suffix)
end
"""


def pdf(size: int) -> bytes:
    head = b"%PDF-1.4\n% mes-sandbox bench document\n"
    return head + os.urandom(size - len(head) - 6) + b"\n%%EOF"


def publication_template(content: bytes) -> tuple[str, str]:
    """An ITI-65 bundle for Dominique, split around its uniqueId (wrk fills it in)."""
    from shared.personas import load_personas
    from tests.dmp.builders import bundle

    personas = load_personas()
    request = bundle(
        personas.patient("dominique-pat-trois"),
        personas.professional("jeanne-martin"),
        content=content,
        unique_id="@@UID@@",
    )
    prefix, suffix = json.dumps(request).split("@@UID@@")
    return prefix + "urn:oid:1.2.250.1.999.77.", suffix


def ins(index: int) -> str:
    from shared.identifiers import nir_key

    year, month, order = 30 + index // (12 * 12), 1 + (index // 12) % 12, 1 + index % 12
    first = f"1{year:02d}{month:02d}75056{order:03d}"
    return first + nir_key(first)


def bulk_load(database_url: str, patients: int, documents: int) -> tuple[float, str]:
    """Write the patients, documents, binaries and lists; (seconds, the searched INS)."""
    from sqlalchemy import insert

    from services.dmp.models import Base
    from shared.db.engine import build_engine

    tables = Base.metadata.tables
    per_patient = documents // patients
    engine = build_engine(database_url)
    now = dt.datetime.now(dt.UTC)
    started = time.perf_counter()
    content = b"%PDF-1.4 bench\n%%EOF"
    digest = base64.b64encode(hashlib.sha1(content).digest()).decode()
    template = json.loads(_document_template())
    batch: dict[str, list[dict[str, Any]]] = {"dossiers": [], "binaries": [], "lists": [], "documents": []}

    def flush(connection: Any) -> None:
        for name in ("dossiers", "binaries", "documents", "lists"):
            if batch[name]:
                connection.execute(insert(tables[name]), batch[name])
                batch[name] = []

    with engine.begin() as connection:
        for p in range(patients):
            dossier = str(uuid.uuid4())
            number = ins(p)
            batch["dossiers"].append(
                {
                    "id": dossier,
                    "ins_oid": "1.2.250.1.213.1.4.10",
                    "ins": number,
                    "family_name": f"BENCH{p}",
                    "given_names": "PATIENT",
                    "gender": "male",
                    "birth_date": dt.date(1950, 1, 1),
                    "status": "open",
                    "created_at": now,
                    "created_by": "bench",
                    "closed_at": None,
                    "closure_reason": None,
                    "medecin_traitant": JEANNE_IDNAT,
                    "break_glass_objection": False,
                }
            )
            binary, submission = str(uuid.uuid4()), str(uuid.uuid4())
            batch["binaries"].append(
                {
                    "id": binary,
                    "dossier_id": dossier,
                    "content_type": "application/pdf",
                    "data": content,
                    "size": len(content),
                    "sha1": digest,
                    "created_at": now,
                }
            )
            members = []
            for d in range(per_patient):
                logical = str(uuid.uuid4())
                members.append(logical)
                moment = now - dt.timedelta(days=d * 30 + p % 30)
                resource = dict(
                    template,
                    masterIdentifier={
                        "system": "urn:ietf:rfc:3986",
                        "value": f"urn:oid:1.2.250.1.999.88.{p}.{d}",
                    },
                    date=moment.isoformat(),
                    subject={"reference": f"Patient?identifier=urn:oid:1.2.250.1.213.1.4.10|{number}"},
                )
                batch["documents"].append(
                    {
                        "id": str(uuid.uuid4()),
                        "logical_id": logical,
                        "version": 1,
                        "latest": True,
                        "dossier_id": dossier,
                        "binary_id": binary,
                        "submission_set_id": submission,
                        "unique_id": f"urn:oid:1.2.250.1.999.88.{p}.{d}",
                        "status": "current",
                        "deleted": False,
                        "archived": False,
                        "masked_ps": False,
                        "invisible_patient": False,
                        "invisible_rl": False,
                        "type_token": "http://loinc.org|11488-4",
                        "class_token": "https://mos.esante.gouv.fr/NOS/TRE_A03-ClasseDocument/FHIR/TRE-A03-ClasseDocument|10",
                        "format_token": "urn:ihe:iti:xds-sd:pdf:2008",
                        "facility_token": "|SA08",
                        "setting_token": "|AMBULATOIRE",
                        "tokens": {
                            "security": ["http://terminology.hl7.org/CodeSystem/v3-Confidentiality|N"],
                            "event": [],
                            "related": [],
                        },
                        "date": moment,
                        "creation": moment,
                        "period_start": moment,
                        "period_end": None,
                        "authors": [
                            {
                                "kind": "Practitioner",
                                "idnat": JEANNE_IDNAT,
                                "given": "JEANNE",
                                "family": "MARTIN",
                            }
                        ],
                        "submitter": JEANNE_IDNAT,
                        "author_org": "R104512",
                        "replaces": None,
                        "resource": resource,
                        "created_at": now,
                    }
                )
            batch["lists"].append(
                {
                    "id": submission,
                    "dossier_id": dossier,
                    "kind": "submissionset",
                    "status": "current",
                    "date": now,
                    "source_id": "urn:oid:1.2.250.1.999.88",
                    "designation_token": "|SA08",
                    "unique_id": None,
                    "title": None,
                    "author_idnat": JEANNE_IDNAT,
                    "author_given": "JEANNE",
                    "author_family": "MARTIN",
                    "author_org": "R104512",
                    "members": members,
                    "resource": {"resourceType": "List", "status": "current", "mode": "working"},
                    "created_at": now,
                }
            )
            if len(batch["documents"]) >= 5000:
                flush(connection)
        flush(connection)
    if engine.dialect.name == "sqlite":  # fold the bulk write into the database file now, not mid-run
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    else:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")
    engine.dispose()
    return time.perf_counter() - started, ins(patients // 2)


def _document_template() -> str:
    """A stored DocumentReference as the seed writes them (~2 kB of JSON)."""
    from services.dmp.models import Dossier
    from services.dmp.seed import DOCUMENTS, _resource
    from shared.personas import load_personas

    personas = load_personas()
    spec = DOCUMENTS[0]
    dossier = Dossier(ins_oid="1.2.250.1.213.1.4.10", ins="279035121518989")
    patient, author = personas.patient(spec.patient), personas.professional(spec.author)
    return json.dumps(_resource(spec, patient, author, personas, b"%PDF", dossier, 1))


def listener(port: int, root: int) -> int:
    """The process of ``root``'s tree that listens on ``port`` (``/proc/net/tcp``)."""
    inodes = {
        fields[9]
        for fields in (line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:])
        if fields[1].endswith(f":{port:04X}") and fields[3] == "0A"
    }
    for pid in descendants(root):
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd).removeprefix("socket:[").removesuffix("]") in inodes:
                        return pid
    raise RuntimeError(f"no process of {root} listens on port {port}")


def wrk(
    url: str,
    connections: int,
    seconds: int,
    *,
    script: str | None = None,
    token: str | None = None,
    pids: tuple[int, ...] = (),
) -> dict[str, float]:
    """One wrk run; with ``pids``, the CPU time per request each of them spent."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if script:
        command += ["-s", script]
    elif token:
        command += ["-H", f"Authorization: Bearer {token}"]
    before = [cpu_seconds(pid) for pid in pids]
    result = subprocess.run(pinned(0, [*command, url]), capture_output=True, text=True, check=True)
    used = [cpu_seconds(pid) - start for pid, start in zip(pids, before, strict=True)]
    if "Non-2xx" in result.stdout:
        raise RuntimeError(f"non-2xx answers from {url}:\n{result.stdout}")
    figures = {"rate": float(re.search(r"Requests/sec:\s+([\d.]+)", result.stdout)[1])}  # type: ignore[index]
    for label, key in (("50%", "p50"), ("99%", "p99")):
        found = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s|m)\s*$", result.stdout, re.M)
        if found is None:
            raise RuntimeError(f"no {label} latency in wrk's output:\n{result.stdout}")
        figures[key] = float(found[1]) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[found[2]]
    requests = int(re.search(r"(\d+) requests in", result.stdout)[1])  # type: ignore[index]
    for index, seconds_used in enumerate(used):
        figures[f"cpu{index}"] = 1e6 * seconds_used / max(requests, 1)
    return figures


def start_sandbox(
    folder: Path, database_url: str | None, introspect: bool
) -> tuple[subprocess.Popen[bytes], dict[str, int]]:
    ports = {name: free_port() for name in ("CONSOLE", "PSC", "DMP", "MSS", "CATALOG")}
    env = {
        **os.environ,
        "MES_DATA_DIR": str(folder),
        "MES_ADMIN_TOKEN": ADMIN,
        "MES_LOG_LEVEL": "WARNING",
        "MES_EXCHANGE_CAPACITY": "10",
        "MES_DMP_INTROSPECT": "true" if introspect else "false",
        **{f"MES_{k}_PORT": str(v) for k, v in ports.items()},
        "MES_MSS_SMTP_PORT": str(free_port()),
        "MES_MSS_IMAP_PORT": str(free_port()),
    }
    if database_url:
        env["MES_DMP_DATABASE_URL"] = database_url
    sandbox = subprocess.Popen(
        pinned(1, [PYTHON, "-m", "services", "up"]),
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_healthy([f"http://127.0.0.1:{p}/health" for p in ports.values()], process=sandbox, timeout=120)
    except RuntimeError:
        for log in sorted((folder / "logs").glob("*.log")):
            print(f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:]))
        raise
    return sandbox, ports


def fresh_postgres(admin_url: str) -> str:
    from sqlalchemy import create_engine, text

    from shared.db.engine import normalise_url

    engine = create_engine(normalise_url(admin_url), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text('DROP DATABASE IF EXISTS "mes_bench_dmp" WITH (FORCE)'))
        connection.execute(text('CREATE DATABASE "mes_bench_dmp"'))
    engine.dispose()
    return admin_url.rsplit("/", 1)[0] + "/mes_bench_dmp"


def run_backend(
    args: argparse.Namespace, backend: str, introspect: bool, bare_port: int, bare_root: int
) -> list[list[str]]:
    with tempfile.TemporaryDirectory(prefix="dmp-bench-") as scratch:
        folder = Path(scratch)
        database_url = fresh_postgres(args.postgres) if backend == "postgresql" else None
        sandbox, ports = start_sandbox(folder, database_url, introspect)
        try:
            seconds, searched = bulk_load(
                database_url or f"sqlite:///{folder}/dmp.db", args.patients, args.documents
            )
            print(
                f"  {backend}: {args.documents:,} documents across {args.patients:,} patients written in "
                f"{seconds:.1f} s",
                flush=True,
            )
            token = httpx.post(
                f"http://127.0.0.1:{ports['PSC']}/_sandbox/tokens",
                json={"professional": "jeanne-martin"},
                headers={"Authorization": f"Bearer {ADMIN}"},
                timeout=60,
            ).json()["access_token"]
            dmp = f"http://127.0.0.1:{ports['DMP']}"
            patient = f"urn:oid:1.2.250.1.213.1.4.10%7C{searched}"
            search = f"{dmp}/fhir/DocumentReference?patient.identifier={patient}&status=current"
            check = httpx.get(search, headers={"Authorization": f"Bearer {token}"}, timeout=120)
            if check.status_code != 200 or check.json()["total"] != args.documents // args.patients:
                raise RuntimeError(f"the searched patient is not as loaded: {check.text[:500]}")
            prefix, suffix = publication_template(pdf(50_000))
            (folder / "prefix.json").write_text(prefix)
            (folder / "suffix.json").write_text(suffix)
            bare = f"http://127.0.0.1:{bare_port}"
            servers = (listener(ports["DMP"], sandbox.pid), listener(ports["PSC"], sandbox.pid))
            bare_pid = (listener(bare_port, bare_root),)
            results: dict[str, list[dict[str, float]]] = {
                k: [] for k in ("s8", "s1", "p8", "b8", "b1", "bp8")
            }
            wrk(search, 4, 2, token=token)  # warm-up
            for rep in range(args.reps):
                script = folder / f"publish-{rep}.lua"
                script.write_text(
                    LUA_PUBLISH.format(
                        prefix=folder / "prefix.json",
                        suffix=folder / "suffix.json",
                        run=f"{backend}{int(introspect)}{rep}{int(time.time())}",
                        token=token,
                    )
                )
                bare_script = folder / f"bare-{rep}.lua"
                bare_script.write_text(
                    LUA_PUBLISH.format(
                        prefix=folder / "prefix.json", suffix=folder / "suffix.json", run=f"b{rep}", token="x"
                    )
                )
                results["s8"].append(wrk(search, 8, args.seconds, token=token, pids=servers))
                results["b8"].append(wrk(f"{bare}/fhir/DocumentReference", 8, args.seconds, pids=bare_pid))
                results["s1"].append(wrk(search, 1, args.seconds, token=token))
                results["b1"].append(wrk(f"{bare}/fhir/DocumentReference", 1, args.seconds))
                results["p8"].append(wrk(f"{dmp}/fhir", 8, args.seconds, script=str(script), pids=servers))
                results["bp8"].append(
                    wrk(f"{bare}/fhir", 8, args.seconds, script=str(bare_script), pids=bare_pid)
                )
        finally:
            stop(sandbox)
    m = {key: {k: median([r[k] for r in runs]) for k in runs[0]} for key, runs in results.items()}

    def cpu(key: str) -> str:
        if "cpu1" not in m[key]:
            return f"{m[key]['cpu0']:,.0f}"
        return f"{m[key]['cpu0'] + m[key]['cpu1']:,.0f} = {m[key]['cpu0']:,.0f} + {m[key]['cpu1']:,.0f}"

    label = f"{backend}, {'introspected' if introspect else 'signature only'}"
    return [
        [
            f"ITI-67 search, one patient of {args.patients:,} ({label})",
            f"{m['s8']['rate']:,.0f}/s",
            f"{m['s8']['rate'] / m['b8']['rate']:.2f}x",
            f"{m['s1']['p50']:.2f}",
            f"{m['s1']['p99']:.2f}",
            f"{m['s8']['p99']:.2f}",
            cpu("s8"),
        ],
        [
            "  bare FastAPI GET",
            f"{m['b8']['rate']:,.0f}/s",
            "1.00x",
            f"{m['b1']['p50']:.2f}",
            f"{m['b1']['p99']:.2f}",
            f"{m['b8']['p99']:.2f}",
            cpu("b8"),
        ],
        [
            f"ITI-65 publish, 50 kB PDF ({label})",
            f"{m['p8']['rate']:,.0f}/s",
            f"{m['p8']['rate'] / m['bp8']['rate']:.2f}x",
            "",
            "",
            f"{m['p8']['p99']:.2f}",
            cpu("p8"),
        ],
        [
            "  bare FastAPI POST (same bundle parsed)",
            f"{m['bp8']['rate']:,.0f}/s",
            "1.00x",
            "",
            "",
            f"{m['bp8']['p99']:.2f}",
            cpu("bp8"),
        ],
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--postgres",
        default=os.environ.get("MES_TEST_POSTGRES_URL"),
        help="admin URL of a PostgreSQL server (a database mes_bench_dmp is created)",
    )
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--documents", type=int, default=100_000)
    parser.add_argument("--introspect", choices=("on", "off", "both"), default="on")
    args = parser.parse_args()
    backends = [b for b in args.backends.split(",") if b and (b != "postgresql" or args.postgres)]
    modes = {"on": [True], "off": [False], "both": [True, False]}[args.introspect]
    print(
        f"{machine()}; servers on CPU 1, wrk on CPU 0; medians of {args.reps} x {args.seconds} s\n",
        flush=True,
    )
    bare_port = free_port()
    bare = subprocess.Popen(pinned(1, [PYTHON, "-c", BARE, str(bare_port)]))
    rows: list[list[str]] = []
    try:
        wait_healthy([f"http://127.0.0.1:{bare_port}/health"], process=bare)
        for backend in backends:
            for introspect in modes:
                done = run_backend(args, backend, introspect, bare_port, bare.pid)
                print(table(done, HEADER), flush=True)
                rows += done
    finally:
        stop(bare)
    print()
    print(table(rows, HEADER))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

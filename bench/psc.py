"""Pro Santé Connect's token endpoint: throughput and p99 for ``client_credentials`` and the
authorization-code exchange, beside panva's oidc-provider configured alike and a bare
FastAPI endpoint, measured in the same run (issue #3, item 9).

    .venv/bin/python -m bench.psc [--setup] [--algs RS256,ES256] [--seconds 10] [--reps 3]

As ../shared/reference/performance.md measured its peers: every server pinned to CPU 1
(``taskset``, all its threads), ``wrk`` on CPU 0 (``-t1 -c32``, a Lua script for the POST
bodies, 3 s of warm-up first), keep-alive, no TLS; medians of ``--reps`` repetitions with
the servers visited in rotated order. The servers:

* **PSC**: ``python -m services run psc_auth`` as ``mes-sandbox up`` runs it (one uvicorn
  process, SQLite in a temporary ``MES_DATA_DIR``, its default JSON request log sent to
  ``/dev/null``), ``MES_PSC_SIGNING_ALG`` set to the algorithm measured;
* **oidc-provider** 9 (npm, ``bench/.peers/oidc-provider``): one confidential client with
  ``client_secret_basic``, ``client_credentials`` + ``authorization_code`` (PKCE) +
  ``refresh_token`` (rotated), JWT access tokens signed with the same algorithm (resource
  indicators, as oidc-provider requires for JWT access tokens), its in-memory adapter on an
  unbounded ``Map`` (its default 1,000-entry LRU would drop the pre-minted codes);
* **oidc-provider 9 + SQLite**: the same, keeping what it issues in a SQLite file as PSC
  does, through the SQL adapter of oidc-provider's examples (a table per model, the payload
  as JSON) on better-sqlite3 12, with PSC's pragmas (WAL, ``synchronous=NORMAL``). Its
  README calls the in-memory adapter one for development; this is the durable deployment,
  and the like-for-like comparison for a code exchange (PSC persists the code's use and the
  tokens; the in-memory peer persists nothing);
* **bare FastAPI**: one ``POST /token`` endpoint that parses the form, checks Basic
  credentials and signs one JWT with python-jose: the floor of the framework plus one
  signature, without any OAuth logic.

client_credentials: the same body to all three. Authorization-code exchange: each request
redeems a fresh code with its PKCE verifier; the codes are minted before the measurement by
each server's own means (PSC: rows written with its models in its database; oidc-provider:
``AuthorizationCode`` objects saved through its API in its process), and a server answers
with an access token, an ID token and a refresh token (PSC writes the code's use, the access
token's record and the refresh token to SQLite; oidc-provider to its in-memory store, or
to its SQLite file one statement at a time, as its adapter interface has no transactions). The
first codes serve the warm-up. The bare endpoint gets the code-exchange body too and signs
one token: it is the same floor.

``--setup`` installs the peers: ``apt-get install -y wrk`` and ``npm install oidc-provider@9
better-sqlite3@12`` under ``bench/.peers/oidc-provider`` (better-sqlite3 builds from source
where no prebuilt binary can be fetched: about two minutes).
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import json
import os
import re
import secrets
import subprocess
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

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

PEERS = ROOT / "bench" / ".peers"
OIDC_PROVIDER = PEERS / "oidc-provider"
CLIENT_ID, CLIENT_SECRET = "dpi-valmont", "dpi-valmont-secret"
REDIRECT_URI = "http://localhost:3000/callback"
VERIFIER = "bench-verifier-" + "x" * 40
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()
BASIC = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
REALM = "/auth/realms/esante-wallet"
#: Codes minted per server and repetition: the first ``WARM_CODES`` for the warm-up, the
#: rest for the measurement (more than any server redeems; a shortage shows as non-2xx).
CODES = 100_000
WARM_CODES = 20_000

BARE_APP = textwrap.dedent(
    """
    import base64, sys, time, uuid, uvicorn
    from fastapi import FastAPI, Form, Header, HTTPException
    from jose import jwk, jws
    from shared.oauth.keys import generate_jwk

    alg, port = sys.argv[1], int(sys.argv[2])
    private = generate_jwk(alg)
    key = jwk.construct(private, alg)
    expected = "Basic " + base64.b64encode(b"dpi-valmont:dpi-valmont-secret").decode()
    app = FastAPI()

    @app.get("/health")
    def health():
        return {"status": "ok"}

    @app.post("/token")
    def token(grant_type: str = Form(...), authorization: str = Header("")):
        if authorization != expected:
            raise HTTPException(401)
        now = int(time.time())
        claims = {"iss": "bare", "sub": "service-account-dpi-valmont", "aud": ["dmp", "mss"],
                  "iat": now, "exp": now + 300, "jti": str(uuid.uuid4()), "scope": "scope_all"}
        signed = jws.sign(claims, key, headers={"kid": private["kid"]}, algorithm=alg)
        return {"access_token": signed, "token_type": "Bearer", "expires_in": 300}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    """
)

NODE_SERVER = textwrap.dedent(
    """
    import { generateKeyPairSync, randomUUID } from 'node:crypto';
    import { writeFileSync } from 'node:fs';
    import Provider from 'oidc-provider';
    import MemoryAdapter from 'oidc-provider/lib/adapters/memory_adapter.js';

    const [alg, port, codesFile, count, challenge, database] = process.argv.slice(2);
    const pair = alg === 'ES256'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = { ...pair.privateKey.export({ format: 'jwk' }), alg, use: 'sig', kid: randomUUID() };
    const issuer = `http://127.0.0.1:${port}`;

    async function sqliteAdapter(file) {
      const { default: Database } = await import('better-sqlite3');
      const db = new Database(file);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      const tables = {};
      const table = (name) => {
        if (!tables[name]) {
          db.exec(`CREATE TABLE IF NOT EXISTS "${name}" (id TEXT PRIMARY KEY, grantId TEXT,
            userCode TEXT, uid TEXT, data TEXT NOT NULL, expiresAt INTEGER, consumedAt INTEGER)`);
          db.exec(`CREATE INDEX IF NOT EXISTS "${name}_grantId" ON "${name}" (grantId)`);
          db.exec(`CREATE INDEX IF NOT EXISTS "${name}_uid" ON "${name}" (uid)`);
          db.exec(`CREATE INDEX IF NOT EXISTS "${name}_userCode" ON "${name}" (userCode)`);
          tables[name] = {
            upsert: db.prepare(`INSERT INTO "${name}" (id, grantId, userCode, uid, data, expiresAt)
              VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET grantId = excluded.grantId,
              userCode = excluded.userCode, uid = excluded.uid, data = excluded.data,
              expiresAt = excluded.expiresAt`),
            find: db.prepare(`SELECT data, consumedAt FROM "${name}" WHERE id = ?`),
            findByUid: db.prepare(`SELECT data, consumedAt FROM "${name}" WHERE uid = ?`),
            findByUserCode: db.prepare(`SELECT data, consumedAt FROM "${name}" WHERE userCode = ?`),
            consume: db.prepare(`UPDATE "${name}" SET consumedAt = ? WHERE id = ?`),
            destroy: db.prepare(`DELETE FROM "${name}" WHERE id = ?`),
            revoke: db.prepare(`DELETE FROM "${name}" WHERE grantId = ?`),
          };
        }
        return tables[name];
      };
      const payload = (row) => row && {
        ...JSON.parse(row.data), ...(row.consumedAt ? { consumed: row.consumedAt } : undefined),
      };
      class Adapter {
        constructor(name) { this.sql = table(name); }
        async upsert(id, data, expiresIn) {
          const expiresAt = expiresIn ? Date.now() + expiresIn * 1000 : null;
          this.sql.upsert.run(id, data.grantId ?? null, data.userCode ?? null, data.uid ?? null,
            JSON.stringify(data), expiresAt);
        }
        async find(id) { return payload(this.sql.find.get(id)); }
        async findByUid(uid) { return payload(this.sql.findByUid.get(uid)); }
        async findByUserCode(code) { return payload(this.sql.findByUserCode.get(code)); }
        async consume(id) { this.sql.consume.run(Math.floor(Date.now() / 1000), id); }
        async destroy(id) { this.sql.destroy.run(id); }
        async revokeByGrantId(grantId) { this.sql.revoke.run(grantId); }
      }
      return { db, Adapter };
    }
    // Without a database: oidc-provider's own in-memory adapter, on an unbounded Map instead
    // of its 1,000-entry LRU (which would forget the pre-minted codes). With one: the SQL
    // adapter of oidc-provider's examples (a table per model: id, grantId, userCode, uid, the
    // payload as JSON, expiresAt, consumedAt) on better-sqlite3, with PSC's pragmas.
    const store = new Map();
    const sql = database ? await sqliteAdapter(database) : null;
    const provider = new Provider(issuer, {
      adapter: sql ? sql.Adapter : (model) => new MemoryAdapter(model, store),
      jwks: { keys: [jwk] },
      clients: [{
        client_id: 'dpi-valmont',
        client_secret: 'dpi-valmont-secret',
        grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
        response_types: ['code'],
        redirect_uris: ['http://localhost:3000/callback'],
        token_endpoint_auth_method: 'client_secret_basic',
        id_token_signed_response_alg: alg,
      }],
      scopes: ['openid', 'scope_all'],
      claims: { openid: ['sub'] },
      findAccount: async (ctx, id) => ({ accountId: id, claims: async () => ({ sub: id }) }),
      features: {
        clientCredentials: { enabled: true },
        devInteractions: { enabled: false },
        resourceIndicators: {
          enabled: true,
          defaultResource: () => 'urn:psc:dmp',
          useGrantedResource: () => true,
          getResourceServerInfo: () => ({
            scope: 'scope_all',
            audience: 'dmp',
            accessTokenFormat: 'jwt',
            accessTokenTTL: 300,
            jwt: { sign: { alg } },
          }),
        },
      },
      pkce: { required: () => true },
      issueRefreshToken: () => true,
      rotateRefreshToken: true,
      ttl: {
        AccessToken: 300, AuthorizationCode: 3600, ClientCredentials: 300, IdToken: 300,
        Grant: 36000, RefreshToken: 1800, Session: 36000, Interaction: 600,
      },
    });
    provider.on('server_error', (ctx, err) => console.error(err));

    const client = await provider.Client.find('dpi-valmont');
    const codes = [];
    sql?.db.exec('BEGIN');  // minting is set-up, not measured: one transaction
    for (let i = 0; i < Number(count); i += 1) {
      const grant = new provider.Grant({ accountId: 'f:bench:899700112545', clientId: 'dpi-valmont' });
      grant.addOIDCScope('openid scope_all');
      grant.addResourceScope('urn:psc:dmp', 'scope_all');
      const grantId = await grant.save();
      const code = new provider.AuthorizationCode({
        accountId: 'f:bench:899700112545', client, grantId, redirectUri: 'http://localhost:3000/callback',
        scope: 'openid scope_all', resource: 'urn:psc:dmp', codeChallenge: challenge,
        codeChallengeMethod: 'S256', nonce: 'n', authTime: Math.floor(Date.now() / 1000),
        expiresWithSession: false,
      });
      codes.push(await code.save());
    }
    sql?.db.exec('COMMIT');
    writeFileSync(codesFile, codes.join('\\n'));
    provider.listen(Number(port), '127.0.0.1');
    """
)


# -- servers ----------------------------------------------------------------------------


class Server:
    """One server under test: started once per algorithm, codes minted per repetition."""

    name = ""

    def __init__(self, alg: str, workdir: Path) -> None:
        self.alg = alg
        self.workdir = workdir
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    token_path = "/token"
    health_path = "/health"

    def start(self) -> None:
        raise NotImplementedError

    def mint_codes(self, path: Path) -> None:
        """Write fresh authorization codes, one per line (default: any string will do)."""
        path.write_text("\n".join(secrets.token_urlsafe(16) for _ in range(CODES)))

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)
            self.process = None


class Psc(Server):
    name = "PSC (mes-sandbox)"
    token_path = f"{REALM}/protocol/openid-connect/token"

    def start(self) -> None:
        data_dir = self.workdir / f"psc-{self.alg}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("MES_")}
        env.update(MES_DATA_DIR=str(data_dir), MES_PSC_PORT=str(self.port), MES_PSC_SIGNING_ALG=self.alg)
        self.database = data_dir / "psc_auth.db"
        self.process = subprocess.Popen(
            pinned(1, [PYTHON, "-m", "services", "run", "psc_auth"]),
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_healthy([self.url + self.health_path], process=self.process)

    def mint_codes(self, path: Path) -> None:
        """Codes as the login pages would have issued them, written with PSC's own models in
        its database (one session, one code per exchange)."""
        from sqlalchemy import insert

        from services.psc_auth.models import AuthorizationCode, PscSession
        from shared.db.engine import Database
        from shared.oauth.refresh import token_hash

        now = dt.datetime.now(dt.UTC)
        codes = [secrets.token_urlsafe(32) for _ in range(CODES)]
        db = Database(f"sqlite:///{self.database}")
        try:
            with db.session() as session:
                sid = secrets.token_hex(16)
                session.add(
                    PscSession(
                        id=sid,
                        professional_id="jeanne-martin",
                        auth_mode="CARD",
                        amr=["sc", "pin"],
                        auth_time=now,
                        expires_at=now + dt.timedelta(hours=10),
                    )
                )
                session.execute(
                    insert(AuthorizationCode),
                    [
                        {
                            "code_hash": token_hash(code),
                            "client_id": CLIENT_ID,
                            "redirect_uri": REDIRECT_URI,
                            "scope": "openid scope_all",
                            "nonce": "n",
                            "code_challenge": CHALLENGE,
                            "session_id": sid,
                            "expires_at": now + dt.timedelta(hours=1),
                        }
                        for code in codes
                    ],
                )
        finally:
            db.dispose()
        path.write_text("\n".join(codes))


class OidcProvider(Server):
    name = "oidc-provider 9"
    #: Where its adapter keeps the codes and tokens (``None``: its in-memory adapter).
    database: Path | None = None

    def start(self) -> None:
        self.script = OIDC_PROVIDER / "server.mjs"
        self.script.write_text(NODE_SERVER)
        self.mint_codes(self.workdir / "oidc-provider-start.txt")

    def mint_codes(self, path: Path) -> None:
        """oidc-provider keeps its codes in memory: a fresh process mints them at start."""
        self.stop()
        self.port = free_port()
        command = ["node", str(self.script), self.alg, str(self.port), str(path), str(CODES), CHALLENGE]
        if self.database is not None:
            command.append(str(self.database))
        self.process = subprocess.Popen(
            pinned(1, command),
            cwd=OIDC_PROVIDER,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_healthy([self.url + "/.well-known/openid-configuration"], timeout=300, process=self.process)


class DurableOidcProvider(OidcProvider):
    """oidc-provider keeping what it issues in SQLite as PSC does (one database file for
    all repetitions, as PSC's), through the SQL adapter of its examples on better-sqlite3."""

    name = "oidc-provider 9 + SQLite"

    def start(self) -> None:
        self.database = self.workdir / "oidc-provider.db"
        super().start()


class Bare(Server):
    name = "bare FastAPI"

    def start(self) -> None:
        self.process = subprocess.Popen(
            pinned(1, [PYTHON, "-c", BARE_APP, self.alg, str(self.port)]),
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_healthy([self.url + self.health_path], process=self.process)


# -- load ---------------------------------------------------------------------------------

CC_SCRIPT = textwrap.dedent(
    f"""
    wrk.method = "POST"
    wrk.body = "grant_type=client_credentials"
    wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
    wrk.headers["Authorization"] = "Basic {BASIC}"
    """
)

CODE_SCRIPT = textwrap.dedent(
    """
    local codes, next_code = {}, 1
    for line in io.lines("%(codes)s") do codes[#codes + 1] = line end
    local headers = {
      ["Content-Type"] = "application/x-www-form-urlencoded",
      ["Authorization"] = "Basic %(basic)s",
    }
    request = function()
      -- past the last code, a stale one: the server refuses it and wrk counts a non-2xx
      local code = codes[next_code] or "exhausted"
      next_code = next_code + 1
      local body = "grant_type=authorization_code&code=" .. code
        .. "&redirect_uri=%(redirect)s&code_verifier=%(verifier)s"
      return wrk.format("POST", "%(path)s", headers, body)
    end
    """
)


def parse_wrk(output: str) -> dict[str, float]:
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: (.*)", output)

    def ms(label: str) -> float:
        match = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)\b", output)
        assert match, output
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    return {
        "rate": rate,
        "p50": ms("50"),
        "p99": ms("99"),
        "requests": requests,
        "non2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": 1 if errors else 0,
    }


def wrk(url: str, script: str, seconds: int, connections: int, pid: int | None = None) -> dict[str, float]:
    """One wrk run; with ``pid``, the server's CPU time per request too (on a shared,
    loaded machine a steadier measure than the rate, which depends on the CPU it got)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", handle.name, url]
        before = cpu_seconds(pid) if pid else 0.0
        output = subprocess.run(pinned(0, command), capture_output=True, text=True, check=True).stdout
        used = cpu_seconds(pid) - before if pid else 0.0
    finally:
        os.unlink(handle.name)
    result = parse_wrk(output)
    result["cpu_us"] = 1e6 * used / max(result["requests"], 1)
    return result


def code_script(server: Server, codes: Path) -> str:
    return CODE_SCRIPT % {
        "codes": codes,
        "basic": BASIC,
        "redirect": REDIRECT_URI.replace(":", "%3A").replace("/", "%2F"),
        "verifier": VERIFIER,
        "path": server.token_path,
    }


def check_answers(server: Server) -> None:
    """Each server must answer both requests with tokens before it is measured."""
    import httpx

    headers = {"Authorization": f"Basic {BASIC}"}
    with httpx.Client(base_url=server.url, timeout=10) as client:
        answer = client.post(server.token_path, data={"grant_type": "client_credentials"}, headers=headers)
        assert answer.status_code == 200, (server.name, answer.text)
        assert "access_token" in answer.json(), (server.name, answer.text)
        codes = server.workdir / f"check-{server.name[:4]}.txt"
        server.mint_codes(codes)
        client.base_url = server.url  # oidc-provider restarts on a new port to mint codes
        body = {
            "grant_type": "authorization_code",
            "code": codes.read_text().splitlines()[0],
            "redirect_uri": REDIRECT_URI,
            "code_verifier": VERIFIER,
        }
        answer = client.post(server.token_path, data=body, headers=headers)
        assert answer.status_code == 200, (server.name, answer.text)
        assert "access_token" in answer.json(), (server.name, answer.text)
        if not isinstance(server, Bare):
            assert {"id_token", "refresh_token"} <= set(answer.json()), (server.name, answer.json())


# -- the run ------------------------------------------------------------------------------


def measure(servers: list[Server], shape: str, args: argparse.Namespace) -> dict[str, list[dict[str, float]]]:
    results: dict[str, list[dict[str, float]]] = {s.name: [] for s in servers}
    for rep in range(args.reps):
        order = servers[rep % len(servers) :] + servers[: rep % len(servers)]
        for server in order:
            if shape == "client_credentials":
                script: Callable[[], str] = lambda: CC_SCRIPT  # noqa: E731
                wrk(server.url + server.token_path, script(), 3, args.connections)
                results[server.name].append(
                    wrk(server.url + server.token_path, script(), args.seconds, args.connections, server.pid)
                )
            else:
                minted = server.workdir / f"codes-{rep}.txt"
                server.mint_codes(minted)
                lines = minted.read_text().splitlines()
                warm, main = server.workdir / "warm.txt", server.workdir / "main.txt"
                warm.write_text("\n".join(lines[:WARM_CODES]))
                main.write_text("\n".join(lines[WARM_CODES:]))
                url = server.url + server.token_path
                wrk(url, code_script(server, warm), 3, args.connections)
                results[server.name].append(
                    wrk(url, code_script(server, main), args.seconds, args.connections, server.pid)
                )
    return results


def summarise(results: dict[str, list[dict[str, float]]], baselines: list[str]) -> list[list[str]]:
    """One row per server: its medians, and its rate and CPU efficiency as ratios to each
    baseline's (the rate ratios first)."""
    rows = []
    rates = {name: median([r["rate"] for r in runs]) for name, runs in results.items()}
    cpus = {name: median([r["cpu_us"] for r in runs]) for name, runs in results.items()}
    for name, runs in results.items():
        rate, cpu = rates[name], cpus[name]
        rows.append(
            [
                name,
                f"{rate:,.0f}",
                *(f"{rate / rates[base]:.2f}" for base in baselines),
                f"{cpu:,.0f}",
                *(f"{cpus[base] / cpu:.2f}" for base in baselines),
                f"{median([r['p50'] for r in runs]):.2f}",
                f"{median([r['p99'] for r in runs]):.2f}",
                str(sum(int(r["non2xx"]) for r in runs)),
            ]
        )
    return rows


def setup() -> None:
    subprocess.run(["apt-get", "install", "-y", "wrk"], check=True)
    OIDC_PROVIDER.mkdir(parents=True, exist_ok=True)
    if not (OIDC_PROVIDER / "package.json").exists():
        (OIDC_PROVIDER / "package.json").write_text(json.dumps({"name": "psc-bench-peers", "private": True}))
    subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "oidc-provider@9", "better-sqlite3@12"],
        cwd=OIDC_PROVIDER,
        check=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--setup", action="store_true", help="install wrk and oidc-provider first")
    parser.add_argument("--algs", default="RS256,ES256")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--shapes", default="client_credentials,authorization_code")
    args = parser.parse_args()
    if args.setup:
        setup()
    load = f"wrk -t1 -c{args.connections} -d{args.seconds}s"
    print(f"machine: {machine()}; servers pinned to CPU 1, {load} on CPU 0")
    for alg in args.algs.split(","):
        with tempfile.TemporaryDirectory(prefix="psc-bench-") as tmp:
            workdir = Path(tmp)
            servers: list[Server] = [
                Psc(alg, workdir),
                OidcProvider(alg, workdir),
                DurableOidcProvider(alg, workdir),
                Bare(alg, workdir),
            ]
            try:
                for server in servers:
                    server.start()
                for server in servers:
                    check_answers(server)
                for shape in args.shapes.split(","):
                    started = time.perf_counter()
                    results = measure(servers, shape, args)
                    print(
                        f"\n{shape}, {alg}, medians of {args.reps} ({time.perf_counter() - started:.0f} s)\n"
                    )
                    header = [
                        "server",
                        "req/s",
                        "rate vs oidc-provider",
                        "vs + SQLite",
                        "CPU µs/req",
                        "efficiency vs oidc-provider",
                        "vs + SQLite",
                        "p50 ms",
                        "p99 ms",
                        "non-2xx",
                    ]
                    baselines = [OidcProvider.name, DurableOidcProvider.name]
                    print(table(summarise(results, baselines), header))
            finally:
                for server in servers:
                    server.stop()


if __name__ == "__main__":
    main()

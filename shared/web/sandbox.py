"""The test-control API every service has under ``/_sandbox/`` (README, "/_sandbox/").

reset to the seed, snapshot export and import, fault rules, recorded exchanges, and, on
the services that accept Pro Santé Connect tokens, the revocation events PSC pushes to
them (``shared/oauth/security_events.py``). Guarded by ``MES_ADMIN_TOKEN`` when it is
set. Service-specific controls (tokens, e-CPS pushes, one-time codes...) are added by each
service under the same prefix and guard.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import JSONResponse, Response

from shared.db.snapshot import build_snapshot, check_snapshot, decode_rows
from shared.errors import BadRequestError, NotFoundError, UnprocessableError
from shared.faults import FaultSpec
from shared.oauth.security_events import RECEIVER_PATH, SET_MEDIA_TYPE, SetError
from shared.web.deps import RuntimeDep, get_runtime, require_admin

router = APIRouter(prefix="/_sandbox", tags=["sandbox"], dependencies=[Depends(require_admin)])


@router.post("/reset", summary="Back to the seeded state (data and fault rules)")
def reset(runtime: RuntimeDep) -> dict[str, Any]:
    started = time.perf_counter()
    runtime.reset()
    return {
        "status": "reset",
        "service": runtime.spec.name,
        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
    }


@router.get("/snapshot", summary="The whole state of the service as portable JSON")
def get_snapshot(runtime: RuntimeDep) -> dict[str, Any]:
    return build_snapshot(runtime.spec.name, runtime.schema, runtime.seed_manager().export())


@router.put("/snapshot", summary="Replace the whole state with a snapshot (all or nothing)")
async def put_snapshot(request: Request, runtime: RuntimeDep) -> dict[str, Any]:
    try:
        snapshot = json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequestError(f"the snapshot is not valid JSON: {exc}") from exc
    tables = check_snapshot(snapshot, runtime.spec.name, runtime.schema)
    rows = decode_rows(runtime.spec.metadata, tables)
    try:
        runtime.seed_manager().load(rows)
    except Exception as exc:  # an integrity error: the transaction rolled back
        if exc.__class__.__module__.startswith("sqlalchemy"):
            raise UnprocessableError(
                f"the snapshot does not load: {exc.__class__.__name__}: {exc.args[0]}"
            ) from exc
        raise
    runtime.after_state_change()
    return {"status": "loaded", "service": runtime.spec.name, "tables": {k: len(v) for k, v in rows.items()}}


@router.get("/faults", summary="The fault rules in force")
def list_faults(runtime: RuntimeDep) -> list[dict[str, Any]]:
    return [rule.to_json() for rule in runtime.faults.list()]


@router.post("/faults", status_code=201, summary="Add a fault rule")
def add_fault(runtime: RuntimeDep, spec: FaultSpec = Body(...)) -> dict[str, Any]:
    return runtime.faults.add(spec).to_json()


@router.delete("/faults", summary="Remove every fault rule")
def clear_faults(runtime: RuntimeDep) -> dict[str, Any]:
    count = len(runtime.faults.list())
    runtime.faults.clear()
    return {"removed": count}


@router.delete("/faults/{rule_id}", summary="Remove one fault rule")
def remove_fault(rule_id: str, runtime: RuntimeDep) -> dict[str, Any]:
    if not runtime.faults.remove(rule_id):
        raise NotFoundError(f"no fault rule {rule_id}")
    return {"removed": 1}


@router.get("/exchanges", summary="Recorded exchanges, oldest first")
def list_exchanges(
    runtime: RuntimeDep,
    trace_id: str | None = Query(None, description="only this W3C trace id"),
    since: datetime | None = Query(None, description="ISO 8601, inclusive"),
    until: datetime | None = Query(None, description="ISO 8601, inclusive"),
    after: int | None = Query(None, description="only exchanges with a greater id (polling)"),
    direction: Literal["inbound", "outbound"] | None = Query(None),
    limit: int = Query(500, ge=1, le=10_000),
) -> JSONResponse:
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise BadRequestError(f"'{name}' needs a time zone (for instance 2026-11-23T10:00:00Z)")
    items = runtime.exchanges.query(
        trace_id=trace_id, since=since, until=until, after=after, direction=direction, limit=limit
    )
    return JSONResponse({"service": runtime.spec.name, "exchanges": [ex.to_json() for ex in items]})


@router.delete("/exchanges", summary="Forget the recorded exchanges")
def clear_exchanges(runtime: RuntimeDep) -> dict[str, Any]:
    return {"removed": runtime.exchanges.clear()}


@router.post(
    RECEIVER_PATH.removeprefix("/_sandbox"),
    status_code=202,
    summary="Receive a Security Event Token pushed by Pro Santé Connect (RFC 8935)",
)
async def security_event(request: Request) -> Response:
    auth = getattr(request.app.state, "auth", None)
    receive = getattr(auth, "areceive_event", None)
    if receive is None:
        raise NotFoundError(f"{get_runtime(request).spec.name} keeps no tokens' answers: it takes no events")
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if media_type != SET_MEDIA_TYPE:
            raise SetError("invalid_request", f"a SET is posted as {SET_MEDIA_TYPE} (RFC 8935 §2)")
        try:
            token = (await request.body()).decode("ascii").strip()
        except UnicodeDecodeError as exc:
            raise SetError("invalid_request", "a SET is a compact JWS in ASCII") from exc
        await receive(token)
    except SetError as exc:
        # RFC 8935 §2.3: the protocol's own error body, with a 400.
        return JSONResponse(exc.body(), status_code=400)
    return Response(status_code=202)

"""``POST /fhir`` (ITI-65, TD2 and TD2.1) and ``POST /fhir/DocumentReference`` (ITI-105)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from services.dmp.access.caller import Caller
from services.dmp.audit.service import Trace, run_traced
from services.dmp.dates import http_date
from services.dmp.dependencies import (
    BaseUrlDep,
    BodyDep,
    CallerDep,
    RuntimeDep,
    front_context,
    get_body,
)
from services.dmp.documents import render
from services.dmp.publication import simplified
from services.dmp.publication.bundle import plan_transaction
from services.dmp.publication.direct import submit_direct
from services.dmp.publication.rows import Context
from services.dmp.publication.service import submit
from shared.db.base import utcnow
from shared.errors import Issue
from shared.fhir import fhir_response, operation_outcome, parse_resource
from shared.web.front import Handler
from shared.web.runtime import Runtime

router = APIRouter(prefix="/fhir", tags=["Publication (ITI-65, ITI-105)"])


@router.post("", summary="ITI-65 Provide Document Bundle (TD2; TD2.1 replacement)")
async def provide_document_bundle(
    request: Request, caller: CallerDep, runtime: RuntimeDep, base: BaseUrlDep, body: BodyDep
) -> Response:
    return await publish(request, caller, runtime, base, body)


async def front_publish(request: Request) -> Response:
    """ITI-65 answered in front of the router (:func:`front_routes`): the route's
    dependencies called in the order FastAPI solves them, so a request failing two of them
    gets the same error either way (the token before the body's size)."""
    caller, runtime, base = await front_context(request)
    return await publish(request, caller, runtime, base, await get_body(request))


def front_routes() -> dict[tuple[str, str], Handler]:
    """``POST /fhir``, the DMP's hottest write, for :class:`~shared.web.front.FrontRoutes`:
    FastAPI's routing and dependency solving were about a seventh of a publication's CPU
    (``python -m bench.dmp``, README "How fast")."""
    return {("POST", "/fhir"): front_publish}


async def publish(request: Request, caller: Caller, runtime: Runtime, base: str, body: bytes) -> Response:
    """ITI-65: the bundle planned, then submitted (the direct path, or the full one)."""
    bundle = parse_resource(body, request.headers.get("content-type"))
    plan = plan_transaction(bundle, base, runtime.loaded_personas())
    trace = Trace("ITI-65", "C")
    ctx = Context(caller=caller, base_url=base, faults=runtime.faults, trace=trace, now=utcnow())
    db = runtime.database()
    # The usual submission without the ORM, on the event loop (services/dmp/publication/
    # direct.py); the full path, in a thread of the pool, answers a replacement or an
    # unknown patient (the same rules, traces and answers).
    answer = await submit_direct(db, plan, ctx)
    if answer is None:
        answer = await run_in_threadpool(
            run_traced, db, caller, trace, lambda session: submit(session, plan, ctx)
        )
    return fhir_response(answer, request)


@router.post("/DocumentReference", summary="ITI-105 Simplified Publish (the document inline)")
def simplified_publish(
    request: Request, caller: CallerDep, runtime: RuntimeDep, base: BaseUrlDep, body: BodyDep
) -> Response:
    resource = parse_resource(body, request.headers.get("content-type"))
    trace = Trace("ITI-105", "C")
    ctx = Context(caller=caller, base_url=base, faults=runtime.faults, trace=trace, now=utcnow())
    stored, version, warnings = run_traced(
        runtime.database(),
        caller,
        trace,
        lambda session: simplified.publish(session, resource, runtime.loaded_personas(), ctx),
    )
    headers = {
        "Location": f"{base}/DocumentReference/{stored['id']}/_history/{version}",
        "ETag": render.etag(version),
        "Last-Modified": http_date(ctx.now),
    }
    # FHIR R4 §http.html#ops: Prefer return=OperationOutcome gives the warnings instead.
    if "return=operationoutcome" in request.headers.get("prefer", "").replace(" ", "").lower():
        outcome = operation_outcome(
            warnings or [Issue("document published", code="informational", severity="information")]
        )
        return fhir_response(outcome, request, status=201, headers=headers)
    return fhir_response(stored, request, status=201, headers=headers)

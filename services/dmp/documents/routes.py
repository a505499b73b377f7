"""ITI-67, ITI-66, ITI-68, reading a DocumentReference, and PATCH (TD3.3a–d)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from services.dmp.access.caller import Caller
from services.dmp.audit.service import Trace, run_traced
from services.dmp.dates import http_date
from services.dmp.dependencies import (
    BaseUrlDep,
    BodyDep,
    CallerDep,
    RuntimeDep,
    SettingsDep,
    front_context,
    get_settings,
)
from services.dmp.documents import direct, render, search, service, update
from services.dmp.documents.params import Params
from services.dmp.models import Binary
from services.dmp.settings import DmpSettings
from shared.db.base import utcnow
from shared.db.engine import Database
from shared.errors import NotAcceptableError
from shared.fhir import fhir_response
from shared.web.front import Handler
from shared.web.runtime import Runtime

router = APIRouter(prefix="/fhir", tags=["Documents (ITI-66, ITI-67, ITI-68, PATCH)"])
T = TypeVar("T")


def _reader(
    caller: Caller, runtime: Runtime, base: str, settings: DmpSettings, trace: Trace
) -> service.Reader:
    return service.Reader(
        caller=caller,
        base_url=base,
        personas=runtime.loaded_personas(),
        trace=trace,
        now=utcnow(),
        page_size=settings.page_size,
        max_page_size=settings.max_page_size,
    )


def _run(
    runtime: Runtime, caller: Caller, trace: Trace, work: Callable[[Session], T], read: bool = True
) -> T:
    return run_traced(runtime.database(), caller, trace, work, read=read)


def _notify(request: Request, caller: Caller) -> BackgroundTask | None:
    """After an emergency access, the outbox is sent once the response is gone."""
    if caller.mode == "normal":
        return None
    notifier = getattr(request.app.state, "notifier", None)
    return BackgroundTask(notifier.flush) if notifier is not None else None


def _respond(request: Request, caller: Caller, resource: dict[str, Any], **kwargs: Any) -> Response:
    response = fhir_response(resource, request, **kwargs)
    response.background = _notify(request, caller)
    return response


async def _search_params(request: Request) -> Params:
    pairs = list(request.query_params.multi_items())
    if request.method == "POST":
        body = (await request.body()).decode("utf-8", "replace")
        pairs += parse_qsl(body, keep_blank_values=False)
    return Params(pairs)


@router.get("/DocumentReference", summary="ITI-67 Find Document References (TD3.1a, TD3.1b)")
@router.post("/DocumentReference/_search", summary="ITI-67 Find Document References (POST form)")
async def find_document_references(
    request: Request, caller: CallerDep, runtime: RuntimeDep, base: BaseUrlDep, settings: SettingsDep
) -> Response:
    if request.method == "GET":
        params = await _search_params(request)
        trace = Trace("ITI-67", "E", query=str(params.raw))
        reader = _reader(caller, runtime, base, settings, trace)
        bundle = await find_usual(runtime.database(), params, reader)
        if bundle is not None:
            return _respond(request, caller, bundle)
    return await _search(request, caller, runtime, base, settings, "ITI-67", service.find_documents)


async def front_find(request: Request) -> Response:
    """ITI-67's GET answered in front of the router (:func:`front_routes`): the route's
    dependencies called in the order FastAPI solves them (the token first)."""
    caller, runtime, base = await front_context(request)
    return await find_document_references(request, caller, runtime, base, await get_settings(request))


def front_routes() -> dict[tuple[str, str], Handler]:
    """``GET /fhir/DocumentReference``, the DMP's hottest read, for
    :class:`~shared.web.front.FrontRoutes`: FastAPI's routing and dependency solving were
    about a seventh of a search's CPU once its database part went direct."""
    return {("GET", "/fhir/DocumentReference"): front_find}


async def find_usual(db: Database, params: Params, reader: service.Reader) -> dict[str, Any] | None:
    """ITI-67's usual search without the session, on the event loop
    (services/dmp/documents/direct.py), or ``None``. ``POST _search`` keeps the session
    path: what the tests compare this one with (tests/dmp/test_direct_search.py)."""
    return await direct.find_documents(db, params, reader)


@router.get("/List", summary="ITI-66 Find Document Lists (SubmissionSets, Folders)")
@router.post("/List/_search", summary="ITI-66 Find Document Lists (POST form)")
async def find_lists(
    request: Request, caller: CallerDep, runtime: RuntimeDep, base: BaseUrlDep, settings: SettingsDep
) -> Response:
    return await _search(request, caller, runtime, base, settings, "ITI-66", service.find_lists)


async def _search(
    request: Request,
    caller: Caller,
    runtime: Runtime,
    base: str,
    settings: DmpSettings,
    transaction: str,
    find: Callable[[Session, Params, service.Reader], dict[str, Any]],
) -> Response:
    """ITI-67 and ITI-66 alike: GET or POST ``_search``, traced, read in the thread pool."""
    params = await _search_params(request)
    trace = Trace(transaction, "E", query=str(params.raw))
    reader = _reader(caller, runtime, base, settings, trace)
    bundle = await run_in_threadpool(
        _run, runtime, caller, trace, lambda session: find(session, params, reader)
    )
    return _respond(request, caller, bundle)


@router.get("/DocumentReference/{document_id}", summary="Read a DocumentReference")
def read_document_reference(
    document_id: str,
    request: Request,
    caller: CallerDep,
    runtime: RuntimeDep,
    base: BaseUrlDep,
    settings: SettingsDep,
) -> Response:
    trace = Trace("READ", "R")
    reader = _reader(caller, runtime, base, settings, trace)

    def work(session: Session) -> tuple[dict[str, Any], int]:
        row = service.read_document(session, document_id, reader)
        replaced = search.current_ids(session, [row.replaces] if row.replaces else [])
        return render.document(row, base, replaced), row.version

    resource, version = _run(runtime, caller, trace, work)
    return _respond(request, caller, resource, headers={"ETag": render.etag(version)})


def _raw_or_fhir(request: Request, content_type: str) -> bool:
    """True for the Binary resource (``_format``, or a FHIR media type asked first), False
    for the raw document (its own type, a wildcard, or no Accept); 406 otherwise."""
    if request.query_params.get("_format"):
        return True
    accept = request.headers.get("accept", "").strip()
    if not accept:
        return False
    weighted = []
    for position, part in enumerate(accept.split(",")):
        media, *options = [p.strip() for p in part.split(";")]
        quality = next(
            (float(o[2:]) for o in options if o.startswith("q=") and o[2:].replace(".", "").isdigit()), 1.0
        )
        if quality > 0:
            weighted.append((-quality, position, media.lower()))
    main = content_type.split("/")[0]
    for _, _, media in sorted(weighted):
        if media in ("application/fhir+json", "application/fhir+xml"):
            return True
        if media in (content_type.lower(), "*/*", f"{main}/*"):
            return False
    raise NotAcceptableError(
        f"this document is {content_type}: ask for it (or */*), or for application/fhir+json "
        "or application/fhir+xml to get the Binary resource"
    )


@router.get("/Binary/{binary_id}", summary="ITI-68 Retrieve Document (raw, or the Binary resource)")
def retrieve_document(
    binary_id: str,
    request: Request,
    caller: CallerDep,
    runtime: RuntimeDep,
    base: BaseUrlDep,
    settings: SettingsDep,
) -> Response:
    trace = Trace("ITI-68", "R")
    reader = _reader(caller, runtime, base, settings, trace)

    def work(session: Session) -> Binary:
        binary = service.retrieve(session, binary_id, reader)
        _raw_or_fhir(request, binary.content_type)  # a 406 is decided before the trace says "read"
        return binary

    binary = _run(runtime, caller, trace, work)
    if _raw_or_fhir(request, binary.content_type):
        return _respond(request, caller, render.binary(binary))
    response = Response(
        binary.data, media_type=binary.content_type, headers={"Last-Modified": http_date(binary.created_at)}
    )
    response.background = _notify(request, caller)
    return response


def _patch(
    request: Request,
    caller: Caller,
    runtime: Runtime,
    base: str,
    settings: DmpSettings,
    body: bytes,
    target: update.Target,
) -> Response:
    trace = Trace("TD3.3", "U")
    reader = _reader(caller, runtime, base, settings, trace)

    def work(session: Session) -> tuple[dict[str, Any], int]:
        row = update.apply(
            session,
            target,
            body,
            request.headers.get("content-type"),
            request.headers.get("if-match"),
            reader,
            settings.deletion_mode,
        )
        replaced = search.current_ids(session, [row.replaces] if row.replaces else [])
        return render.document(row, base, replaced), row.version

    resource, version = _run(runtime, caller, trace, work, read=False)
    headers = {
        "ETag": render.etag(version),
        "Content-Location": f"{base}/DocumentReference/{resource['id']}/_history/{version}",
    }
    return _respond(request, caller, resource, headers=headers)


@router.patch("/DocumentReference", summary="Conditional PATCH on the business identifier (TD3.3a–d)")
def conditional_patch(
    request: Request,
    caller: CallerDep,
    runtime: RuntimeDep,
    base: BaseUrlDep,
    settings: SettingsDep,
    body: BodyDep,
    identifier: str,
) -> Response:
    return _patch(request, caller, runtime, base, settings, body, update.Target(identifier=identifier))


@router.patch("/DocumentReference/{document_id}", summary="PATCH by entryUUID (TD3.3a–d)")
def patch_by_id(
    document_id: str,
    request: Request,
    caller: CallerDep,
    runtime: RuntimeDep,
    base: BaseUrlDep,
    settings: SettingsDep,
    body: BodyDep,
) -> Response:
    return _patch(request, caller, runtime, base, settings, body, update.Target(id=document_id))

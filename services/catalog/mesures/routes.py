"""The mesures API over FHIR R4 (paths: the FHIR base ``{MES_CATALOG_URL}/fhir``).

* ``POST /fhir``: the feeding transaction (IHE POU PCH-01), answered ``200`` with a
  ``transaction-response`` (the Device ``201 Created`` when new, ``200 OK`` when it existed);
* ``GET /fhir/Observation``: the "all" and "last" searches (§2.3);
* ``GET /fhir/Observation/{id}``, ``GET /fhir/Device/{id}``: reads;
* ``GET /fhir/metadata``: the CapabilityStatement of this FHIR base.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import Response
from pydantic_core import to_json
from sqlalchemy.orm import Session

from services.catalog.dependencies import CallerDep, get_verifier
from services.catalog.mesures import service as mesures
from services.catalog.mesures import validation
from services.catalog.mesures.capability import capability_statement
from services.catalog.models import Device
from services.catalog.oauth.local import AppGrant
from shared.errors import BadRequestError, NotFoundError, SandboxError
from shared.fhir import FHIR_JSON, fhir_response, negotiate_format, parse_resource
from shared.oauth.bearer import bearer_token
from shared.observability.exchanges import annotate
from shared.web.deps import SessionDep
from shared.web.runtime import Runtime

router = APIRouter(prefix="/fhir", tags=["FHIR mesures"])

IdTokenHeader = Annotated[str | None, Header(alias="ID-Token", description="the ID token of the pairing")]
LegacyIdTokenHeader = Annotated[str | None, Header(alias="ID_TOKEN", include_in_schema=False)]


def _id_token(id_token: str | None, legacy: str | None = None) -> str | None:
    value = id_token or legacy
    return value.strip() if value else None


def _app(
    request: Request,
    session: Session | None,
    grant: AppGrant,
    access: Literal["read", "write"],
    id_token: str | None,
) -> mesures.AppCaller:
    try:
        who = mesures.authorize(get_verifier(request), session, grant, access, id_token)
    except SandboxError as exc:
        annotate(f"Mon espace santé: mesures {access} refused ({exc.detail})")
        raise
    annotate(
        f"Mon espace santé: mesures {access} by {who.app.id} with the patient's consent ({who.consent.id})"
    )
    return who


@router.get("/metadata", summary="CapabilityStatement of the mesures and Consent APIs")
async def metadata(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    return fhir_response(capability_statement(f"{runtime.settings.public_url}/fhir"), request)


async def raw_body(request: Request) -> bytes:
    return await request.body()


@router.post("", summary="Feed a measurement: a transaction Bundle (Observation + Device ifNoneExist)")
def transaction(
    request: Request,
    session: SessionDep,
    caller: CallerDep,
    body: Annotated[bytes, Depends(raw_body)],
    id_token: IdTokenHeader = None,
    legacy_id_token: LegacyIdTokenHeader = None,
) -> Response:
    who = _app(
        request, session, mesures.grant_of(session, caller), "write", _id_token(id_token, legacy_id_token)
    )
    if not body.strip():
        raise BadRequestError("No bundle provided.", fhir_code="required")
    feed = validation.check(parse_resource(body, request.headers.get("content-type")), who.app.editor_oid)
    identifier = feed.observation["subject"]["identifier"]
    mesures.check_subject(who, identifier.get("system"), identifier.get("value"))
    entries = mesures.store(session, who, feed)
    return fhir_response(
        {"resourceType": "Bundle", "type": "transaction-response", "entry": entries}, request
    )


def _page_link(query_string: str, base: str, offset: int) -> str:
    """The same search at another ``_offset`` (the request's other parameters as sent)."""
    kept = [part for part in query_string.split("&") if part and not part.startswith("_offset=")]
    return f"{base}/Observation?{'&'.join([*kept, f'_offset={offset}'])}"


def _searchset(
    request: Request, base: str, query: mesures.Search, found: tuple[int, list[Any], list[Any]]
) -> dict[str, Any]:
    total, observations, devices = found
    query_string = request.scope["query_string"].decode("latin-1")
    links = [{"relation": "self", "url": f"{base}/Observation?{query_string}"}]
    if query.mode == "all" and query.offset + query.count < total:
        following = _page_link(query_string, base, query.offset + query.count)
        links.insert(0, {"relation": "next", "url": following})
    if query.mode == "all" and query.offset > 0:
        previous = max(0, query.offset - query.count)
        links.append({"relation": "previous", "url": _page_link(query_string, base, previous)})
    entries: list[dict[str, Any]] = [
        {"fullUrl": f"{base}/Observation/{o['id']}", "resource": o, "search": {"mode": "match"}}
        for o in observations
    ]
    entries += [
        {"fullUrl": f"{base}/Device/{d['id']}", "resource": d, "search": {"mode": "include"}} for d in devices
    ]
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "total": total, "link": links}
    if entries:
        bundle["entry"] = entries
    return bundle


@router.get("/Observation", summary="Search the patient's measurements (modes 'all' and 'last')")
async def search_observations(request: Request) -> Response:
    """The hot read path (bench/catalog.py): two statements on one pooled driver connection,
    on the event loop (SQLite answers them in tens of microseconds: no thread hop), and no
    FastAPI parameter or dependency (the headers are read here)."""
    runtime: Runtime = request.app.state.runtime
    token = bearer_token(request)
    params: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        params.setdefault(key, []).append(value)
    searches: mesures.Searches = request.app.state.searches
    presented = _id_token(request.headers.get("id-token"), request.headers.get("id_token"))
    with searches.raw.cursor() as cursor:
        grant = get_verifier(request).verify_app(searches.raw, cursor, token)
        if presented is None:
            who = _app(request, None, grant, "read", None)
        else:
            with searches.raw.engine.connect() as connection, Session(bind=connection) as session:
                who = _app(request, session, grant, "read", presented)  # the ID token's key may need a lookup
        subject = (params.get("subject.identifier") or params.get("subject:identifier") or [""])[0]
        if not subject:
            raise BadRequestError("subject.identifier is mandatory", expression=["subject.identifier"])
        system, _, value = subject.rpartition("|")
        mesures.check_subject(who, system or None, value)
        query = mesures.search_request(params)
        found = searches.run(cursor, who, query)
    bundle = _searchset(request, f"{runtime.settings.public_url}/fhir", query, found)
    if negotiate_format(request) != "json":
        return fhir_response(bundle, request)
    # pydantic-core's serialiser: a page of 10 observations in a quarter of the json module's time.
    return Response(to_json(bundle), media_type=f"{FHIR_JSON}; charset=utf-8")


@router.get("/Observation/{observation_id}", summary="Read one measurement of the patient")
def read_observation(
    request: Request,
    observation_id: str,
    session: SessionDep,
    caller: CallerDep,
    id_token: IdTokenHeader = None,
) -> Response:
    who = _app(request, session, mesures.grant_of(session, caller), "read", _id_token(id_token))
    found = mesures.read(session, who, observation_id)
    if found is None:
        raise NotFoundError(f"no Observation/{observation_id} for this patient")
    return fhir_response(found, request, headers={"ETag": 'W/"1"'})


@router.get("/Device/{device_id}", summary="Read a connected device")
def read_device(request: Request, device_id: str, session: SessionDep, caller: CallerDep) -> Response:
    _app(request, session, mesures.grant_of(session, caller), "read", None)
    device = session.get(Device, device_id)
    if device is None:
        raise NotFoundError(f"no Device/{device_id}")
    return fhir_response(device.resource, request, headers={"ETag": 'W/"1"'})

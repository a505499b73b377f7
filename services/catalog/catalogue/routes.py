"""The catalogue: public listing (JSON and a French page) and the referencing API.

The referencing API (reference, update, renew, withdraw) is the referencing authority's:
it is guarded like ``/_sandbox`` (``Authorization: Bearer <MES_ADMIN_TOKEN>`` when that is
set). Paths are the sandbox's own (README, fictitious).
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response

from services.catalog.catalogue import service as catalogue
from services.catalog.schemas import AppReferencing, AppUpdate, AppWithdrawal
from services.catalog.service import CATEGORIES
from services.catalog.web import render
from shared.web.deps import SessionDep, require_admin

router = APIRouter(tags=["Catalogue"])
API = "/api/catalogue/apps"
ADMIN = [Depends(require_admin)]


@router.get(API, summary="The public catalogue (JSON)")
def list_apps(
    session: SessionDep,
    status: Literal["active", "expired", "withdrawn", "pending"] | None = Query(None),
    track: Literal["listed", "exchange"] | None = Query(None),
) -> dict[str, Any]:
    apps = [catalogue.to_json(app) for app in catalogue.listing(session)]
    apps = [
        a
        for a in apps
        if (status is None or a["status"] == status) and (track is None or a["track"] == track)
    ]
    return {"total": len(apps), "apps": apps}


@router.get(f"{API}/{{app_id}}", summary="One app of the catalogue (JSON)")
def get_app(app_id: str, session: SessionDep) -> dict[str, Any]:
    return catalogue.to_json(catalogue.find(session, app_id))


@router.post(API, status_code=201, dependencies=ADMIN, summary="Reference a new app (for one year)")
def reference_app(body: AppReferencing, session: SessionDep) -> JSONResponse:
    fields = body.model_dump(exclude={"public_client", "data"})
    fields["data"] = [d.model_dump() for d in body.data]
    app, secret = catalogue.reference(session, fields, body.public_client)
    answer = catalogue.to_json(app)
    if secret is not None:
        answer["client_secret"] = secret  # shown once: only its hash is kept
    return JSONResponse(answer, status_code=201, headers={"Location": f"{API}/{app.id}"})


@router.patch(f"{API}/{{app_id}}", dependencies=ADMIN, summary="Update an app's description or editor OID")
def update_app(app_id: str, body: AppUpdate, session: SessionDep) -> dict[str, Any]:
    app = catalogue.update(session, app_id, body.model_dump(exclude_none=True))
    return catalogue.to_json(app)


@router.post(f"{API}/{{app_id}}/renew", dependencies=ADMIN, summary="Renew the referencing for one more year")
def renew_app(app_id: str, session: SessionDep) -> dict[str, Any]:
    return catalogue.to_json(catalogue.renew(session, app_id))


@router.post(
    f"{API}/{{app_id}}/withdraw",
    dependencies=ADMIN,
    summary="Withdraw an app: it can no longer exchange data, its tokens stop at once",
)
def withdraw_app(app_id: str, body: AppWithdrawal, session: SessionDep) -> dict[str, Any]:
    return catalogue.to_json(catalogue.withdraw(session, app_id, body.reason))


@router.get("/catalogue", summary="Le catalogue de services (page)")
def catalogue_page(request: Request, session: SessionDep) -> Response:
    apps = [catalogue.to_json(app) for app in catalogue.listing(session)]
    return render(
        request,
        "catalogue.html",
        apps=apps,
        labels=catalogue.STATE_LABELS,
        tracks=catalogue.TRACK_LABELS,
        categories=CATEGORIES,
    )


@router.get("/catalogue/{app_id}", summary="Une application du catalogue (page)")
def app_page(request: Request, app_id: str, session: SessionDep) -> Response:
    app = catalogue.to_json(catalogue.find(session, app_id))
    return render(
        request,
        "catalogue.html",
        apps=[app],
        single=True,
        labels=catalogue.STATE_LABELS,
        tracks=catalogue.TRACK_LABELS,
        categories=CATEGORIES,
    )

"""The DMP's routers, in the order they are mounted, and ``GET /fhir/metadata``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.dmp.access.routes import router as controls_router
from services.dmp.audit.routes import router as audit_router
from services.dmp.capability import capability_statement
from services.dmp.dependencies import BaseUrlDep, SettingsDep
from services.dmp.documents.routes import router as documents_router
from services.dmp.patients.routes import router as patients_router
from services.dmp.publication.routes import router as publication_router
from shared.fhir import fhir_response

router = APIRouter(prefix="/fhir", tags=["FHIR"])


@router.get("/metadata", summary="CapabilityStatement: exactly what this DMP implements")
def metadata(request: Request, base: BaseUrlDep, settings: SettingsDep) -> Response:
    return fhir_response(capability_statement(base, settings), request)


ROUTERS: tuple[APIRouter, ...] = (
    router,
    publication_router,
    documents_router,
    patients_router,
    audit_router,
    controls_router,
)

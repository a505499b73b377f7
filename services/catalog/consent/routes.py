"""Consents as FHIR ``Consent`` resources: search, read, history (FHIR R4 REST).

Who reads what: the patient (or a parent, for a child) reads every consent of the space;
an app reads its own consent for that patient only. A caregiver does not manage consents.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from services.catalog.consent import fhir
from services.catalog.consent import service as consents
from services.catalog.dependencies import CallerDep, TokensDep
from services.catalog.models import App, Consent
from services.catalog.oauth.local import Caller
from shared.errors import ForbiddenError, InvalidTokenError, NotFoundError
from shared.fhir import fhir_response
from shared.web.deps import RuntimeDep, SessionDep

router = APIRouter(prefix="/fhir", tags=["FHIR Consent"])


def _active(caller: Caller) -> None:
    if not caller.state.active:
        raise InvalidTokenError(f"the access token is no longer active ({caller.state.reason})")


def _visible(session: SessionDep, caller: Caller) -> list[Consent]:
    _active(caller)
    patient = caller.row.subject
    if caller.user.actor == "app":
        consent = session.get(Consent, caller.row.consent_id or "")
        return [consent] if consent is not None else []
    if caller.user.actor == "aidant":
        raise ForbiddenError("a caregiver does not manage the consents of the person helped")
    return consents.of_patient(session, patient)


def _render(
    session: SessionDep, tokens: TokensDep, consent: Consent, version: int | None = None
) -> dict[str, Any]:
    history = consents.versions(session, consent.id)
    chosen = next((v for v in history if v.version == (version or consent.version)), None)
    if chosen is None:
        raise NotFoundError(f"Consent/{consent.id} has no version {version}")
    app = session.get(App, consent.app_id)
    assert app is not None
    return fhir.resource(
        consent, chosen, app, tokens.personas, fhir.activated_version(history, chosen.version)
    )


def _find(session: SessionDep, caller: Caller, consent_id: str) -> Consent:
    found = next((c for c in _visible(session, caller) if c.id == consent_id), None)
    if found is None:
        raise NotFoundError(f"no Consent/{consent_id} for this token")
    return found


@router.get("/Consent", summary="Search the consents of the patient (or the app's own)")
def search_consents(
    request: Request,
    session: SessionDep,
    tokens: TokensDep,
    runtime: RuntimeDep,
    caller: CallerDep,
    patient_identifier: str | None = Query(None, alias="patient.identifier"),
    status: str | None = Query(None),
    id_: str | None = Query(None, alias="_id"),
) -> Response:
    found = _visible(session, caller)
    if patient_identifier is not None:
        system, _, value = patient_identifier.rpartition("|")
        if value != caller.user.patient_ins or (
            system and system != f"urn:oid:{caller.user.patient_ins_oid}"
        ):
            raise ForbiddenError(
                "this token does not give access to that patient", expression=["patient.identifier"]
            )
    found = [c for c in found if (status is None or c.status == status) and (id_ is None or c.id == id_)]
    base = f"{runtime.settings.public_url}/fhir"
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(found),
        "link": [{"relation": "self", "url": str(request.url)}],
        "entry": [
            {
                "fullUrl": f"{base}/Consent/{c.id}",
                "resource": _render(session, tokens, c),
                "search": {"mode": "match"},
            }
            for c in found
        ],
    }
    return fhir_response(bundle, request)


@router.get("/Consent/{consent_id}", summary="Read a consent (its current version)")
def read_consent(
    request: Request, consent_id: str, session: SessionDep, tokens: TokensDep, caller: CallerDep
) -> Response:
    consent = _find(session, caller, consent_id)
    resource = _render(session, tokens, consent)
    return fhir_response(resource, request, headers={"ETag": f'W/"{consent.version}"'})


@router.get("/Consent/{consent_id}/_history", summary="Every version of a consent, newest first")
def consent_history(
    request: Request,
    consent_id: str,
    session: SessionDep,
    tokens: TokensDep,
    runtime: RuntimeDep,
    caller: CallerDep,
) -> Response:
    consent = _find(session, caller, consent_id)
    base = f"{runtime.settings.public_url}/fhir/Consent/{consent.id}"
    entries = []
    for version in consents.versions(session, consent.id):
        resource = _render(session, tokens, consent, version.version)
        entries.append(
            {
                "fullUrl": f"{base}/_history/{version.version}",
                "resource": resource,
                "request": {
                    "method": "POST" if version.version == 1 else "PUT",
                    "url": ("Consent" if version.version == 1 else f"Consent/{consent.id}"),
                },
                "response": {
                    "status": "201 Created" if version.version == 1 else "200 OK",
                    "etag": f'W/"{version.version}"',
                    "lastModified": resource["meta"]["lastUpdated"],
                },
            }
        )
    bundle = {"resourceType": "Bundle", "type": "history", "total": len(entries), "entry": entries}
    return fhir_response(bundle, request)


@router.get("/Consent/{consent_id}/_history/{version}", summary="One version of a consent (vread)")
def consent_version(
    request: Request, consent_id: str, version: int, session: SessionDep, tokens: TokensDep, caller: CallerDep
) -> Response:
    consent = _find(session, caller, consent_id)
    resource = _render(session, tokens, consent, version)
    return fhir_response(resource, request, headers={"ETag": f'W/"{version}"'})

"""TD0.2 (``GET /fhir/Patient?identifier=``), reading, creating and closing a DMP."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from services.dmp.access import policy
from services.dmp.access import service as access
from services.dmp.access.caller import Caller
from services.dmp.access.service import facts_of
from services.dmp.audit.service import Trace, run_traced
from services.dmp.dependencies import BaseUrlDep, BodyDep, CallerDep, RuntimeDep
from services.dmp.documents import update
from services.dmp.models import Dossier
from services.dmp.patients import service
from shared.db.base import utcnow
from shared.errors import (
    BadRequestError,
    ConflictError,
    ForbiddenError,
    InsufficientScopeError,
    MethodNotAllowedError,
    NotFoundError,
)
from shared.fhir import fhir_response, parse_resource

router = APIRouter(prefix="/fhir", tags=["Patient (TD0.2)"])


def authorisation_status(caller: Caller, dossier: Dossier, session: Session, today: dt.date) -> str | None:
    """EF_DMP04_01 for a professional: valide, interdite (blocked), expiree or aucune."""
    pro = caller.professional
    if pro is None:
        return None
    facts = facts_of(session, dossier)
    if pro.idnat in facts.blocked:
        return "interdite"
    normal = Caller(principal=caller.principal, mode="normal", reason=None)
    try:
        policy.professional_basis(normal, facts, today)
    except policy.Refused:
        until = facts.authorized.get(pro.idnat)
        return "expiree" if until is not None and until < today else "aucune"
    return "valide"


def _check_reader(caller: Caller, oid: str, ins: str) -> None:
    if caller.kind == "software":
        raise ForbiddenError("a software account (client_credentials) cannot look up a DMP")
    mes = caller.mes
    if mes is not None and (mes.patient_ins_oid, mes.patient_ins) != (oid, ins):
        raise ForbiddenError("this Mon espace santé token gives access to another patient's data only")


def _entry(dossier: Dossier, base: str, resource: dict[str, Any]) -> dict[str, Any]:
    return {"fullUrl": f"{base}/Patient/{dossier.id}", "resource": resource, "search": {"mode": "match"}}


@router.get("/Patient", summary="TD0.2: does this patient have a DMP, open or closed")
def search_patient(
    request: Request,
    caller: CallerDep,
    runtime: RuntimeDep,
    base: BaseUrlDep,
    identifier: str = Query(
        ..., description="<INS system>|<INS>, e.g. urn:oid:1.2.250.1.213.1.4.10|279035121518989"
    ),
) -> Response:
    oid, ins = service.parse_ins_token(identifier, runtime.loaded_personas())
    _check_reader(caller, oid, ins)
    trace = Trace("TD0.2", "E", ins=ins, ins_oid=oid, query=str(request.url.query))

    def work(session: Session) -> dict[str, Any]:
        dossier = service.find_by_ins(session, oid, ins)
        entries = []
        if dossier is not None:
            trace.about(dossier)
            trace.add("Patient", dossier.id)
            status = authorisation_status(caller, dossier, session, service.today())
            is_mt = caller.professional.idnat == dossier.medecin_traitant if caller.professional else None
            entries.append(_entry(dossier, base, service.patient_resource(dossier, status, is_mt)))
        trace.basis = "vérification de l'existence du DMP"
        bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "total": len(entries)}
        bundle["link"] = [{"relation": "self", "url": str(request.url)}]
        if entries:
            bundle["entry"] = entries
        return bundle

    return fhir_response(run_traced(runtime.database(), caller, trace, work, read=True), request)


@router.get("/Patient/{patient_id}", summary="Read the DMP's Patient")
def read_patient(patient_id: str, request: Request, caller: CallerDep, runtime: RuntimeDep) -> Response:
    trace = Trace("TD0.2", "R")

    def work(session: Session) -> dict[str, Any]:
        dossier = session.get(Dossier, patient_id)
        if dossier is None:
            raise NotFoundError(f"Patient/{patient_id} is not known", expression=["Patient.id"])
        _check_reader(caller, dossier.ins_oid, dossier.ins)
        trace.about(dossier)
        trace.add("Patient", dossier.id)
        trace.basis = "lecture du patient"
        status = authorisation_status(caller, dossier, session, service.today())
        is_mt = caller.professional.idnat == dossier.medecin_traitant if caller.professional else None
        return service.patient_resource(dossier, status, is_mt)

    return fhir_response(run_traced(runtime.database(), caller, trace, work, read=True), request)


def _may_open(caller: Caller, session: Session, dossier: Dossier | None, oid: str, ins: str) -> str:
    """Who creates or reopens a DMP: a professional (not blocked), or the patient."""
    if caller.kind == "software":
        raise ForbiddenError("a software account (client_credentials) cannot create a DMP")
    mes = caller.mes
    if mes is not None:
        if (mes.patient_ins_oid, mes.patient_ins) != (oid, ins) or mes.actor not in (
            "patient",
            "representant_legal",
        ):
            raise ForbiddenError("only the patient (or a legal representative) creates their own DMP")
        if "dmp.manage" not in mes.scopes:
            raise InsufficientScopeError("creating a DMP needs the 'dmp.manage' scope")
        return "patient"
    pro = caller.professional
    assert pro is not None
    if dossier is not None and pro.idnat in facts_of(session, dossier).blocked:
        raise policy.Refused("the patient has blocked this professional's access to their DMP")
    return pro.idnat


@router.post("/Patient", status_code=201, summary="Create (or reopen) a patient's DMP")
def create_dmp(
    request: Request, caller: CallerDep, runtime: RuntimeDep, base: BaseUrlDep, body: BodyDep
) -> Response:
    traits = service.traits(
        parse_resource(body, request.headers.get("content-type")), runtime.loaded_personas()
    )
    trace = Trace("TD0.3", "C", ins=traits["ins"], ins_oid=traits["ins_oid"])

    def work(session: Session) -> tuple[dict[str, Any], int]:
        dossier = service.find_by_ins(session, traits["ins_oid"], traits["ins"])
        creator = _may_open(caller, session, dossier, traits["ins_oid"], traits["ins"])
        now = utcnow()
        if dossier is not None and dossier.status == "open":
            trace.about(dossier)
            raise ConflictError(
                "this patient already has an open DMP",
                expression=["Patient.identifier"],
                fhir_code="duplicate",
            )
        if dossier is None:
            dossier = Dossier(
                id=str(uuid.uuid4()), status="open", created_at=now, created_by=creator, **traits
            )
            session.add(dossier)
            status = 201
        else:  # reopening a closed DMP (TD0.2 says active = false)
            dossier.status, dossier.closed_at, dossier.closure_reason = "open", None, None
            status = 200
        session.flush()
        if caller.professional is not None:  # the creating professional is authorised
            access.authorize(session, dossier, caller.professional.idnat, None, "creation", now.date())
        trace.about(dossier)
        trace.add("Patient", dossier.id)
        trace.basis = "création du DMP" if status == 201 else "réactivation du DMP"
        return service.patient_resource(dossier), status

    resource, status = run_traced(runtime.database(), caller, trace, work)
    return fhir_response(
        resource, request, status=status, headers={"Location": f"{base}/Patient/{resource['id']}"}
    )


@router.patch("/Patient/{patient_id}", summary="Close (active: false) or reopen a DMP")
def close_dmp(
    patient_id: str, request: Request, caller: CallerDep, runtime: RuntimeDep, body: BodyDep
) -> Response:
    trace = Trace("TD0.5", "U")

    def work(session: Session) -> dict[str, Any]:
        dossier = session.get(Dossier, patient_id)
        if dossier is None:
            raise NotFoundError(f"Patient/{patient_id} is not known", expression=["Patient.id"])
        trace.about(dossier)
        before = service.patient_resource(dossier)
        after = update.patched(before, body, request.headers.get("content-type"))
        changed = sorted(
            k for k in set(before) | set(after) if k != "active" and before.get(k) != after.get(k)
        )
        if changed:
            raise MethodNotAllowedError(
                f"only Patient.active changes (close or reopen the DMP), not {changed}",
                expression=[f"Patient.{k}" for k in changed],
            )
        if not isinstance(after.get("active"), bool):
            raise BadRequestError(
                "Patient.active is true (open) or false (closed)", expression=["Patient.active"]
            )
        _may_close(caller, session, dossier)
        now = utcnow()
        if after["active"] and dossier.status == "closed":
            dossier.status, dossier.closed_at, dossier.closure_reason = "open", None, None
        elif not after["active"] and dossier.status == "open":
            dossier.status, dossier.closed_at = "closed", now
            dossier.closure_reason = f"fermé à la demande de {caller.agent_name}"
        trace.basis = "fermeture du DMP" if not after["active"] else "réactivation du DMP"
        session.flush()
        return service.patient_resource(dossier)

    return fhir_response(run_traced(runtime.database(), caller, trace, work), request)


def _may_close(caller: Caller, session: Session, dossier: Dossier) -> None:
    """The holder (dmp.manage), or a professional who may consult it (at the holder's request)."""
    facts = facts_of(session, dossier)
    if caller.mes is not None:
        policy.manage(caller, facts)
        return
    if caller.professional is None:
        raise ForbiddenError("a software account (client_credentials) cannot close a DMP")
    normal = Caller(principal=caller.principal, mode="normal", reason=None)
    reopen = dataclasses.replace(facts, open=True)  # a closed DMP is reopened by those who could consult it
    policy.professional_basis(normal, reopen, utcnow().date())

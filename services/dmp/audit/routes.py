"""``GET /fhir/AuditEvent``: the access traces of a DMP, for whom the law shows them.

R1111-43 / L1111-19: the holder (and a legal representative) sees every trace of their
DMP, the médecin traitant too, and any other professional only the traces of their own
accesses (fr-ecosystem.md §2.8). Parameters: ``patient.identifier`` / ``patient:identifier``
(required), ``date``, ``action``, ``outcome``, ``subtype``, ``agent.identifier``,
``purpose`` (the access mode), ``_count``. Reading the traces is not itself traced.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from services.dmp.access import policy
from services.dmp.audit.render import audit_event
from services.dmp.dependencies import BaseUrlDep, CallerDep, RuntimeDep, SettingsDep
from services.dmp.documents.params import Params, count
from services.dmp.documents.search import date_clause, subject_of
from services.dmp.documents.service import searchset
from services.dmp.models import AuditRecord
from services.dmp.patients.service import find_by_ins, parse_ins_token
from shared.errors import BadRequestError, InsufficientScopeError
from shared.fhir import fhir_response

router = APIRouter(prefix="/fhir", tags=["Access traces (AuditEvent)"])
AUDIT_PARAMS = {
    "patient.identifier",
    "patient:identifier",
    "date",
    "action",
    "outcome",
    "subtype",
    "agent.identifier",
    "purpose",
}


@router.get("/AuditEvent", summary="The access traces of a DMP")
def search_audit_events(
    request: Request, caller: CallerDep, runtime: RuntimeDep, base: BaseUrlDep, settings: SettingsDep
) -> Response:
    params = Params(list(request.query_params.multi_items()))
    size, offset = count(params, settings.page_size, settings.max_page_size)
    name, value = subject_of(params)
    if name == "patient":
        raise BadRequestError(
            "search the traces by the patient's INS: patient.identifier=<system>|<INS>",
            expression=["patient.identifier"],
            fhir_code="required",
        )
    oid, ins = parse_ins_token(value, runtime.loaded_personas(), name)
    with runtime.database().session(write=False) as session:
        query = select(AuditRecord).where(AuditRecord.patient_ins_oid == oid, AuditRecord.patient_ins == ins)
        query = _restrict(query, caller, oid, ins, find_by_ins(session, oid, ins))
        for key, column in (
            ("action", AuditRecord.action),
            ("outcome", AuditRecord.outcome),
            ("subtype", AuditRecord.subtype),
            ("agent.identifier", AuditRecord.agent_id),
            ("purpose", AuditRecord.access_mode),
        ):
            for alternatives in params.tokens(key):
                query = query.where(column.in_([code for _, code in alternatives if code]))
        for date in params.dates("date"):
            query = date_clause(query, AuditRecord.recorded, date.prefix, date.start, date.end)
        rows = session.scalars(query.order_by(AuditRecord.recorded.desc(), AuditRecord.id)).all()
    page = rows[offset : offset + size]
    entries: list[dict[str, Any]] = [
        {"fullUrl": f"{base}/AuditEvent/{row.id}", "resource": audit_event(row), "search": {"mode": "match"}}
        for row in page
    ]
    warnings = [w for w in [params.warning(AUDIT_PARAMS)] if w]
    return fhir_response(
        searchset(params, base, "AuditEvent", len(rows), entries, offset, size, warnings), request
    )


def _restrict(query: Any, caller: Any, oid: str, ins: str, dossier: Any) -> Any:
    """Everything for the holder and the médecin traitant; one's own for a professional."""
    if caller.kind == "software":
        raise policy.Refused("a software account (client_credentials) has no access traces to read")
    mes = caller.mes
    if mes is not None:
        if (mes.patient_ins_oid, mes.patient_ins) != (oid, ins):
            raise policy.Refused("this Mon espace santé token gives access to another patient's data only")
        if mes.actor not in ("patient", "representant_legal"):
            raise policy.Refused("the access traces are shown to the holder and their legal representatives")
        if not mes.scopes & {"dmp.manage", "documents.read"}:
            raise InsufficientScopeError("reading the access traces needs 'dmp.manage' or 'documents.read'")
        return query
    pro = caller.professional
    if dossier is not None and pro.idnat == dossier.medecin_traitant:
        return query
    return query.where(AuditRecord.agent_kind == "professional", AuditRecord.agent_id == pro.idnat)

"""The holder's controls over their DMP (contract 3), called by Mon espace santé.

With the patient's (or a legal representative's) Mon espace santé token carrying
``dmp.manage``: block and unblock a professional, grant a professional access until a
date, designate the médecin traitant, object to break-the-glass access (L1111-15,
L1111-17, L1111-19). Every change is traced. Errors are ``{"error", "detail"}``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from sqlalchemy.orm import Session

from services.dmp.access import policy, service
from services.dmp.access.caller import Caller
from services.dmp.audit.service import Trace, run_traced
from services.dmp.dependencies import CallerDep, RuntimeDep
from services.dmp.models import Dossier
from services.dmp.patients.service import find_by_ins, today
from services.dmp.schemas import AuthorizationBody, Controls, MedecinTraitantBody, ObjectionBody
from shared.web.runtime import Runtime

router = APIRouter(prefix="/api/patient/controls", tags=["Patient controls (contract 3)"])


def _dossier(session: Session, caller: Caller, trace: Trace) -> Dossier:
    mes = caller.mes
    if mes is None:
        raise policy.Refused("the DMP's controls are the patient's: use a Mon espace santé token")
    dossier = service.require_dossier(find_by_ins(session, mes.patient_ins_oid, mes.patient_ins))
    trace.about(dossier)
    policy.manage(caller, service.facts_of(session, dossier))
    trace.basis = "titulaire" if mes.actor == "patient" else "représentant légal"
    return dossier


def _run(
    runtime: Runtime, caller: Caller, action: str, change: Callable[[Session, Dossier], None] | None = None
) -> dict[str, Any]:
    trace = Trace("CONTROLS", "R" if change is None else "U", query=action)

    def work(session: Session) -> dict[str, Any]:
        dossier = _dossier(session, caller, trace)
        if change is not None:
            change(session, dossier)
        return service.controls_of(session, dossier, today())

    return run_traced(runtime.database(), caller, trace, work)


def _granted_by(caller: Caller) -> str:
    return caller.mes.actor if caller.mes else "patient"


@router.get("", response_model=Controls, summary="The holder's controls")
def get_controls(caller: CallerDep, runtime: RuntimeDep) -> dict[str, Any]:
    return _run(runtime, caller, "read")


@router.put("/blocked/{idnat}", response_model=Controls, summary="Block a professional")
def block(idnat: str, caller: CallerDep, runtime: RuntimeDep) -> dict[str, Any]:
    return _run(
        runtime, caller, f"block {idnat}", lambda s, d: service.block(s, d, idnat, _granted_by(caller))
    )


@router.delete("/blocked/{idnat}", response_model=Controls, summary="Unblock a professional")
def unblock(idnat: str, caller: CallerDep, runtime: RuntimeDep) -> dict[str, Any]:
    return _run(runtime, caller, f"unblock {idnat}", lambda s, d: service.unblock(s, d, idnat))


@router.put(
    "/authorizations/{idnat}", response_model=Controls, summary="Authorise a professional until a date"
)
def authorize(idnat: str, body: AuthorizationBody, caller: CallerDep, runtime: RuntimeDep) -> dict[str, Any]:
    return _run(
        runtime,
        caller,
        f"authorize {idnat} until {body.until.isoformat()}",
        lambda s, d: service.authorize(s, d, idnat, body.until, _granted_by(caller), today()),
    )


@router.delete("/authorizations/{idnat}", response_model=Controls, summary="Withdraw an authorisation")
def revoke(idnat: str, caller: CallerDep, runtime: RuntimeDep) -> dict[str, Any]:
    return _run(runtime, caller, f"revoke {idnat}", lambda s, d: service.revoke(s, d, idnat))


@router.put("/medecin-traitant", response_model=Controls, summary="Designate the médecin traitant")
def medecin_traitant(body: MedecinTraitantBody, caller: CallerDep, runtime: RuntimeDep) -> dict[str, Any]:
    personas = runtime.loaded_personas()
    return _run(
        runtime,
        caller,
        f"medecin-traitant {body.idnat}",
        lambda s, d: service.set_medecin_traitant(s, d, body.idnat, personas),
    )


@router.put("/break-glass-objection", response_model=Controls, summary="Object (or not) to emergency access")
def objection(body: ObjectionBody, caller: CallerDep, runtime: RuntimeDep) -> dict[str, Any]:
    return _run(
        runtime,
        caller,
        f"break-glass-objection {body.objection}",
        lambda s, d: service.set_objection(s, d, body.objection),
    )

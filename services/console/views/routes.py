"""The data pages: an index, a patient's DMP, a mailbox, a patient's consents and ordonnances."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from services.console.dependencies import ConsoleGuard, PeersDep
from services.console.pages import render
from services.console.views import service
from shared.errors import NotFoundError, PeerUnavailableError
from shared.personas import Patient, Personas
from shared.web.deps import RuntimeDep

router = APIRouter(prefix="/donnees", tags=["données"], dependencies=[ConsoleGuard])


def _patient(personas: Personas, reference: str) -> Patient:
    patient = service.patient_of(personas, reference)
    if patient is None:
        raise NotFoundError(f"no patient {reference!r} among the personas")
    return patient


def _refused(exc: httpx.HTTPError) -> PeerUnavailableError:
    return PeerUnavailableError(f"la console n'a pas obtenu de jeton pour lire ces données : {exc}")


@router.get("", response_class=HTMLResponse, summary="Les données du bac à sable")
def index(request: Request, runtime: RuntimeDep) -> HTMLResponse:
    personas = runtime.loaded_personas()
    return render(
        request,
        "data.html",
        section="data",
        patients=[p for p in personas.patients if not p.ins_key_exempt],
        mailboxes=service.all_mailboxes(personas),
    )


@router.get("/dmp/{patient}", response_class=HTMLResponse, summary="Le DMP d'un patient")
async def dmp(
    request: Request,
    runtime: RuntimeDep,
    peers: PeersDep,
    patient: str,
    vu_par: str = Query("patient", description="'patient' or a professional persona id"),
) -> HTMLResponse:
    personas = runtime.loaded_personas()
    person = _patient(personas, patient)
    if vu_par != "patient" and vu_par not in {p.id for p in personas.professionals}:
        raise NotFoundError(f"no professional {vu_par!r} among the personas")
    try:
        view = await service.dmp(peers, personas, person, vu_par)
    except httpx.HTTPError as exc:
        raise _refused(exc) from exc
    return render(request, "data_dmp.html", section="data", view=view, professionals=personas.professionals)


@router.get("/messagerie/{address}", response_class=HTMLResponse, summary="Une boîte aux lettres MSSanté")
async def mailbox(
    request: Request,
    runtime: RuntimeDep,
    peers: PeersDep,
    address: str,
    message: str | None = Query(None, description="a message to open (its id)"),
) -> HTMLResponse:
    reader = service.mailbox_reader(runtime.loaded_personas(), address)
    if reader is None:
        raise NotFoundError(f"no mailbox {address!r} among the personas")
    try:
        view = await service.mailbox(peers, reader, address)
        opened = await service.message(peers, reader, address, message) if message else None
    except httpx.HTTPError as exc:
        raise _refused(exc) from exc
    return render(request, "data_mailbox.html", section="data", view=view, opened=opened)


@router.get("/consentements/{patient}", response_class=HTMLResponse, summary="Les consentements d'un patient")
async def consents(request: Request, runtime: RuntimeDep, peers: PeersDep, patient: str) -> HTMLResponse:
    person = _patient(runtime.loaded_personas(), patient)
    try:
        found = await service.consents(peers, person)
    except httpx.HTTPError as exc:
        raise _refused(exc) from exc
    entries: list[dict[str, Any]] = (
        [e.get("resource") or {} for e in found.data.get("entry") or []]
        if found.ok and isinstance(found.data, dict)
        else []
    )
    return render(
        request, "data_consents.html", section="data", patient=person, outcome=found, consents=entries
    )


@router.get("/ordonnances/{patient}", response_class=HTMLResponse, summary="Les ordonnances d'un patient")
async def ordonnances(request: Request, runtime: RuntimeDep, peers: PeersDep, patient: str) -> HTMLResponse:
    person = _patient(runtime.loaded_personas(), patient)
    try:
        found, box = await service.ordonnances(peers, person)
    except httpx.HTTPError as exc:
        raise _refused(exc) from exc
    return render(
        request, "data_ordonnances.html", section="data", patient=person, ordonnances=found, mailbox=box
    )

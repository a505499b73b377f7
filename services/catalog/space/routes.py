"""The patient's space: home page, connected apps and consents, measurements, caregivers (French pages)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from services.catalog.accounts import service as accounts
from services.catalog.consent import service as consents
from services.catalog.dependencies import TokensDep
from services.catalog.mesures import labels as mesures_labels
from services.catalog.mesures import service as mesures
from services.catalog.models import App
from services.catalog.service import scope_label
from services.catalog.web import Visitor, check_csrf, redirect, render, require_visitor
from shared.errors import NotFoundError, SandboxError
from shared.web.deps import SessionDep

router = APIRouter(prefix="/espace", tags=["Mon espace santé : espace"])


@router.get("/", summary="The patient's space (accepts ?login_hint=<INS>)")
def home(request: Request, session: SessionDep, tokens: TokensDep) -> Response:
    visitor = require_visitor(request, session, tokens.personas)
    return render(request, "home.html", visitor=visitor)


@router.get("/applications", summary="Connected apps and the consents given to them")
def apps_page(
    request: Request, session: SessionDep, tokens: TokensDep, revoque: str | None = None
) -> Response:
    visitor = require_visitor(request, session, tokens.personas)
    items = []
    for consent in consents.of_patient(session, visitor.patient.id):
        app = session.get(App, consent.app_id)
        assert app is not None
        items.append({"consent": consent, "app": app, "lines": [scope_label(g) for g in consent.grants]})
    revoked_app = session.get(App, revoque) if revoque else None
    return render(
        request,
        "apps.html",
        visitor=visitor,
        items=items,
        may_manage=visitor.actor in ("patient", "representant_legal"),
        message=f"Consentement révoqué : {revoked_app.name} n'a plus accès à ces données."
        if revoked_app
        else None,
        message_kind="success",
    )


@router.post("/applications/{app_id}/revoquer", summary="Revoke the consent given to an app")
def revoke_app(
    request: Request, app_id: str, session: SessionDep, tokens: TokensDep, csrf: str = Form("")
) -> Response:
    visitor = require_visitor(request, session, tokens.personas)
    check_csrf(visitor, csrf)
    visitor.require_holder("Révoquer un consentement")
    consent = consents.find(session, visitor.patient.id, app_id)
    if consent is None:
        raise NotFoundError("aucun consentement pour cette application")
    consents.revoke(session, consent, by_account=visitor.person.id, by_actor=visitor.actor)
    return redirect(f"/espace/applications?revoque={app_id}")


@router.get("/mesures", summary="The patient's measurements (written by apps, or in the space)")
def mesures_page(request: Request, session: SessionDep, tokens: TokensDep) -> Response:
    visitor = require_visitor(request, session, tokens.personas)
    visitor.require("mesures.read", "Consulter les mesures")
    rows = []
    for row in mesures.of_patient(session, visitor.patient.id):
        resource = row.resource
        app = session.get(App, row.app_id) if row.app_id else None
        rows.append(
            {
                "when": row.effective,
                "label": mesures_labels.label(row.code),
                "value": mesures_labels.value(resource),
                "source": app.name if app else "saisie manuelle",
            }
        )
    return render(request, "mesures.html", visitor=visitor, rows=rows)


def _caregivers_page(
    request: Request, session: SessionDep, tokens: TokensDep, visitor: Visitor, **extra: Any
) -> Response:
    items = [
        {
            "delegation": d,
            "caregiver": tokens.personas.patient(d.caregiver),
            "rights": [scope_label(r) for r in d.rights],
        }
        for d in accounts.delegations_of(session, visitor.patient.id)
    ]
    helped = [s for s in visitor.spaces if s.actor == "aidant"]
    return render(
        request,
        "caregivers.html",
        visitor=visitor,
        items=items,
        helped=helped,
        rights=[(r, scope_label(r)) for r in accounts.DELEGABLE],
        may_manage=visitor.actor in ("patient", "representant_legal"),
        **extra,
    )


@router.get("/aidants", summary="Caregivers: who may act in this space, with which rights, until when")
def caregivers_page(
    request: Request, session: SessionDep, tokens: TokensDep, fait: str | None = None
) -> Response:
    visitor = require_visitor(request, session, tokens.personas)
    done = {
        "ajoute": "L'aidant peut maintenant accéder à l'espace.",
        "retire": "L'accès de l'aidant est retiré.",
    }
    return _caregivers_page(
        request, session, tokens, visitor, message=done.get(fait or ""), message_kind="success"
    )


@router.post("/aidants", summary="Delegate the space to a caregiver")
def add_caregiver(
    request: Request,
    session: SessionDep,
    tokens: TokensDep,
    aidant: str = Form(..., description="the caregiver's INS"),
    droits: list[str] = Form([]),
    jusqu_au: dt.date = Form(...),
    csrf: str = Form(""),
) -> Response:
    visitor = require_visitor(request, session, tokens.personas)
    check_csrf(visitor, csrf)
    visitor.require_holder("Désigner un aidant")
    try:
        accounts.delegate(session, tokens.personas, visitor.patient.id, aidant.strip(), droits, jusqu_au)
    except SandboxError as exc:
        return _caregivers_page(request, session, tokens, visitor, status=exc.status_code, message=exc.detail)
    return redirect("/espace/aidants?fait=ajoute")


@router.post("/aidants/{delegation_id}/retirer", summary="End a delegation (its tokens stop at once)")
def end_caregiver(
    request: Request, delegation_id: str, session: SessionDep, tokens: TokensDep, csrf: str = Form("")
) -> Response:
    visitor = require_visitor(request, session, tokens.personas)
    check_csrf(visitor, csrf)
    visitor.require_holder("Retirer un aidant")
    accounts.end_delegation(session, visitor.patient.id, delegation_id)
    return redirect("/espace/aidants?fait=retire")

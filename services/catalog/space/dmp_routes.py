"""The patient's controls over the DMP, from the space (fr-ecosystem.md §2.8; contract 3).

Each page mints a token for the space (the holder, a parent, or a caregiver with the
delegated rights), commits it, and only then calls the DMP: the DMP introspects that token
here, and on SQLite a write transaction held across the call would make it wait
(docs/DEVELOPING.md, "State"). Nothing of the DMP is stored here: the pages show what the
DMP answers, refusals included.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from services.catalog.clients import Controls, DmpClient, DmpRefusal
from services.catalog.dependencies import TokensDep
from services.catalog.oauth.service import Grant
from services.catalog.service import SPACE_CLIENT
from services.catalog.web import Visitor, check_csrf, redirect, render, require_visitor
from shared.errors import NotFoundError, PeerUnavailableError
from shared.observability.exchanges import annotate
from shared.personas import Personas, Professional
from shared.web.deps import RuntimeDep
from shared.web.runtime import Runtime

router = APIRouter(prefix="/espace", tags=["Mon espace santé : DMP"])

DONE = {
    "bloque": "Le professionnel est bloqué : il ne peut plus accéder à votre DMP.",
    "debloque": "Le professionnel n'est plus bloqué.",
    "autorise": "L'accès temporaire est enregistré.",
    "retire": "L'autorisation est retirée.",
    "opposition": "Votre choix sur l'accès en urgence (bris de glace) est enregistré.",
    "medecin": "Le médecin traitant est enregistré.",
    "masque": "Le document est masqué aux professionnels (sauf votre médecin traitant et son auteur).",
    "visible": "Le document est de nouveau visible des professionnels de santé.",
}


def dmp_of(request: Request) -> DmpClient:
    client: DmpClient = request.app.state.dmp
    return client


def space_token(
    request: Request,
    runtime: Runtime,
    tokens: TokensDep,
    right: str,
    what: str,
    csrf: str | None = None,
) -> tuple[Visitor, str]:
    """The visitor and a fresh token of their space, committed before any call to the DMP."""
    with runtime.database().session(write=True) as session:
        visitor = require_visitor(request, session, tokens.personas)
        if csrf is not None:
            check_csrf(visitor, csrf)
        visitor.require(right, what)
        acting = None if visitor.actor == "patient" else visitor.person.id
        grant = Grant(visitor.patient, visitor.actor, SPACE_CLIENT, list(visitor.space.rights), acting)
        token = tokens.access_token(session, grant)
    return visitor, token


def _pro_name(pro: Professional) -> str:
    title = "Dr " if pro.practice_civility == "DR" else ""
    return f"{title}{pro.given_name.title()} {pro.family_name}"


def _professionals(personas: Personas) -> list[dict[str, str]]:
    return [
        {"idnat": p.idnat, "label": f"{_pro_name(p)} — {p.profession_label}"} for p in personas.professionals
    ]


def _name(personas: Personas, idnat: str | None) -> str:
    if not idnat:
        return ""
    pro = personas.professional_by_idnat(idnat)
    return f"{_pro_name(pro)} ({pro.profession_label})" if pro else idnat


def _controls_view(personas: Personas, controls: Controls) -> dict[str, Any]:
    return {
        "blocked": [{"idnat": i, "name": _name(personas, i)} for i in controls.blocked],
        "authorizations": [
            {"idnat": a.idnat, "name": _name(personas, a.idnat), "until": a.until}
            for a in controls.authorizations
        ],
        "medecin_traitant": _name(personas, controls.medecin_traitant),
        "objection": controls.break_glass_objection,
    }


def _dmp_unavailable(
    request: Request, template: str, visitor: Visitor, exc: DmpRefusal | PeerUnavailableError, **empty: None
) -> Response:
    """The page, without its DMP data, saying why the DMP did not answer (with its status)."""
    return render(
        request,
        template,
        status=exc.status_code,
        visitor=visitor,
        message=f"Le DMP n'a pas pu répondre : {exc.detail}",
        **empty,
    )


@router.get("/dmp", summary="Who may see my DMP (blocked, authorised, médecin traitant, break-the-glass)")
def dmp_page(request: Request, runtime: RuntimeDep, tokens: TokensDep, fait: str | None = None) -> Response:
    visitor, token = space_token(request, runtime, tokens, "dmp.manage", "Gérer le DMP")
    try:
        controls = dmp_of(request).controls(token)
    except (DmpRefusal, PeerUnavailableError) as exc:
        return _dmp_unavailable(request, "dmp.html", visitor, exc, controls=None)
    return render(
        request,
        "dmp.html",
        visitor=visitor,
        controls=_controls_view(tokens.personas, controls),
        professionals=_professionals(tokens.personas),
        message=DONE.get(fait or ""),
        message_kind="success",
        today=dt.date.today().isoformat(),
    )


def _act(
    request: Request, runtime: Runtime, tokens: TokensDep, csrf: str, done: str, call: Callable[[str], Any]
) -> Response:
    visitor, token = space_token(request, runtime, tokens, "dmp.manage", "Gérer le DMP", csrf)
    try:
        call(token)
    except (DmpRefusal, PeerUnavailableError) as exc:
        annotate(f"Mon espace santé: the DMP refused the patient's change ({exc.detail})")
        try:
            controls = _controls_view(tokens.personas, dmp_of(request).controls(token))
        except (DmpRefusal, PeerUnavailableError):
            controls = None
        return render(
            request,
            "dmp.html",
            status=exc.status_code,
            visitor=visitor,
            controls=controls,
            professionals=_professionals(tokens.personas),
            message=f"Le DMP a refusé : {exc.detail}",
            today=dt.date.today().isoformat(),
        )
    return redirect(f"/espace/dmp?fait={done}")


@router.post("/dmp/bloquer", summary="Block a professional")
def block(
    request: Request, runtime: RuntimeDep, tokens: TokensDep, idnat: str = Form(...), csrf: str = Form("")
) -> Response:
    return _act(request, runtime, tokens, csrf, "bloque", lambda t: dmp_of(request).block(t, idnat.strip()))


@router.post("/dmp/debloquer", summary="Unblock a professional")
def unblock(
    request: Request, runtime: RuntimeDep, tokens: TokensDep, idnat: str = Form(...), csrf: str = Form("")
) -> Response:
    return _act(
        request, runtime, tokens, csrf, "debloque", lambda t: dmp_of(request).unblock(t, idnat.strip())
    )


@router.post("/dmp/autoriser", summary="Give a professional access until a date")
def authorize(
    request: Request,
    runtime: RuntimeDep,
    tokens: TokensDep,
    idnat: str = Form(...),
    jusqu_au: dt.date = Form(...),
    csrf: str = Form(""),
) -> Response:
    return _act(
        request,
        runtime,
        tokens,
        csrf,
        "autorise",
        lambda t: dmp_of(request).authorize(t, idnat.strip(), jusqu_au),
    )


@router.post("/dmp/retirer", summary="Withdraw an access")
def withdraw(
    request: Request, runtime: RuntimeDep, tokens: TokensDep, idnat: str = Form(...), csrf: str = Form("")
) -> Response:
    return _act(
        request, runtime, tokens, csrf, "retire", lambda t: dmp_of(request).withdraw(t, idnat.strip())
    )


@router.post("/dmp/medecin-traitant", summary="Designate the médecin traitant")
def medecin(
    request: Request, runtime: RuntimeDep, tokens: TokensDep, idnat: str = Form(...), csrf: str = Form("")
) -> Response:
    return _act(
        request,
        runtime,
        tokens,
        csrf,
        "medecin",
        lambda t: dmp_of(request).medecin_traitant(t, idnat.strip()),
    )


@router.post("/dmp/bris-de-glace", summary="Object (or not) to emergency access")
def objection(
    request: Request,
    runtime: RuntimeDep,
    tokens: TokensDep,
    opposition: str = Form(...),
    csrf: str = Form(""),
) -> Response:
    choice = opposition == "oui"
    return _act(
        request,
        runtime,
        tokens,
        csrf,
        "opposition",
        lambda t: dmp_of(request).object_to_break_glass(t, choice),
    )


@router.get("/documents", summary="The documents of the DMP, and hiding them from professionals")
def documents_page(
    request: Request, runtime: RuntimeDep, tokens: TokensDep, fait: str | None = None
) -> Response:
    visitor, token = space_token(request, runtime, tokens, "documents.read", "Consulter les documents")
    try:
        documents = dmp_of(request).documents(token, visitor.patient.ins_system, visitor.patient.ins)
    except (DmpRefusal, PeerUnavailableError) as exc:
        return _dmp_unavailable(request, "documents.html", visitor, exc, documents=None)
    return render(
        request,
        "documents.html",
        visitor=visitor,
        documents=documents,
        may_hide=visitor.can("dmp.manage"),
        message=DONE.get(fait or ""),
        message_kind="success",
    )


@router.post("/documents/visibilite", summary="Hide a document from professionals, or show it again")
def document_visibility(
    request: Request,
    runtime: RuntimeDep,
    tokens: TokensDep,
    document: str = Form(..., description="the DocumentReference id"),
    masquer: str = Form(..., description="oui or non"),
    csrf: str = Form(""),
) -> Response:
    visitor, token = space_token(request, runtime, tokens, "dmp.manage", "Masquer un document", csrf)
    client = dmp_of(request)
    try:
        found = next(
            (
                d
                for d in client.documents(token, visitor.patient.ins_system, visitor.patient.ins)
                if d.id == document
            ),
            None,
        )
        if found is None:
            raise NotFoundError("ce document n'est pas dans votre DMP")
        client.hide(token, found, masquer == "oui")
    except (DmpRefusal, PeerUnavailableError) as exc:
        return render(
            request,
            "documents.html",
            status=exc.status_code,
            visitor=visitor,
            documents=None,
            message=f"Le DMP a refusé : {exc.detail}",
        )
    return redirect(f"/espace/documents?fait={'masque' if masquer == 'oui' else 'visible'}")


@router.get("/dmp/traces", summary="Who accessed my DMP (access traces)")
def traces_page(request: Request, runtime: RuntimeDep, tokens: TokensDep) -> Response:
    visitor, token = space_token(request, runtime, tokens, "dmp.manage", "Consulter les traces d'accès")
    try:
        traces = dmp_of(request).traces(token, visitor.patient.ins_system, visitor.patient.ins)
    except (DmpRefusal, PeerUnavailableError) as exc:
        return _dmp_unavailable(request, "traces.html", visitor, exc, traces=None)
    return render(request, "traces.html", visitor=visitor, traces=traces)

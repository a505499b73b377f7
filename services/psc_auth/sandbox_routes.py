"""Pro Santé Connect's own test controls, under ``/_sandbox`` (admin-guarded).

What no peer offers: drive the second factor from code (e-CPS pushes, TOTP codes, the
card's PIN counter), add professionals and clients without a restart, rotate the signing
key, move the clock, and get a persona's tokens directly (a shortcut the real PSC lacks).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from services.psc_auth.dependencies import Psc, PscDep
from services.psc_auth.errors import ConflictError, LockedError
from services.psc_auth.mfa.service import MAX_PIN_ATTEMPTS
from services.psc_auth.models import EcpsRequest, FactorState, SigningKey
from services.psc_auth.registry import client_data
from services.psc_auth.schemas import ClientRegistration, ClockChange, KeyRotation, SandboxTokenRequest
from services.psc_auth.service import AMR_CARD, AMR_TOTP
from shared.errors import UnprocessableError
from shared.personas import Professional
from shared.web.deps import ReadSessionDep, SessionDep, WriteSessionDep

router = APIRouter(tags=["sandbox"])


# -- tokens (contract 1) -------------------------------------------------------------------


@router.post("/tokens", summary="Issue a persona's tokens directly (sandbox shortcut)")
def issue_tokens(body: SandboxTokenRequest, session: WriteSessionDep, psc: PscDep) -> dict[str, Any]:
    tokens = psc.tokens
    if body.professional is None:
        return tokens.software_tokens(body.client_id, body.scope)
    pro = tokens.find_professional(body.professional)
    if body.auth_mode == "CARD" and psc.factors.card_blocked(session, pro.id):
        raise LockedError(
            f"the CPS card of {pro.id} is blocked (POST /_sandbox/professionals/{pro.id}/card/unblock)"
        )
    if body.auth_mode == "MOBILE" and not pro.ecps.enrolled:
        raise ConflictError(f"{pro.id} has no e-CPS app: use auth_mode CARD")
    psc_session = tokens.open_session(
        session, pro, body.auth_mode, AMR_CARD if body.auth_mode == "CARD" else AMR_TOTP
    )
    return tokens.professional_tokens(session, pro, body.client_id, body.scope, psc_session, nonce=body.nonce)


# -- the e-CPS app -------------------------------------------------------------------------


def _push_json(psc: Psc, request: EcpsRequest) -> dict[str, Any]:
    pro = psc.registry.professionals().get(request.professional_id)
    return {
        "id": request.id,
        "professional": request.professional_id,
        "idnat": pro.idnat if pro else None,
        "purpose": request.purpose,
        "client_id": request.client_id,
        "binding_message": request.binding_message,
        "status": psc.factors.status(request),
        "created_at": request.created_at.isoformat(),
        "expires_at": request.expires_at.isoformat(),
    }


@router.get("/ecps/pending", summary="e-CPS pushes waiting for an answer")
def pending_pushes(
    session: ReadSessionDep,
    psc: PscDep,
    professional: str | None = Query(None, description="persona id, idNatPS or RPPS"),
) -> list[dict[str, Any]]:
    pro_id = psc.tokens.find_professional(professional).id if professional else None
    return [_push_json(psc, r) for r in psc.factors.pending(session, pro_id)]


@router.post("/ecps/{request_id}/approve", summary="Accept a push, as on the app")
def approve_push(request_id: str, session: SessionDep, psc: PscDep) -> dict[str, Any]:
    return _push_json(psc, psc.factors.answer(session, request_id, True))


@router.post("/ecps/{request_id}/refuse", summary="Refuse a push, as on the app")
def refuse_push(request_id: str, session: SessionDep, psc: PscDep) -> dict[str, Any]:
    return _push_json(psc, psc.factors.answer(session, request_id, False))


# -- professionals -------------------------------------------------------------------------


def _pro_json(psc: Psc, pro: Professional, state: FactorState | None) -> dict[str, Any]:
    return {
        "id": pro.id,
        "idnat": pro.idnat,
        "rpps": pro.rpps,
        "name": pro.display_name,
        "profession": pro.profession,
        "sub": pro.sub,
        "ecps_enrolled": pro.ecps.enrolled,
        "card_blocked": bool(state and state.blocked_at),
        "ecps_app": f"{psc.settings.public_url}/ecps/{pro.idnat}",
    }


@router.get("/professionals", summary="The professionals who can log in")
def list_professionals(session: ReadSessionDep, psc: PscDep) -> list[dict[str, Any]]:
    return [_pro_json(psc, p, session.get(FactorState, p.id)) for p in psc.registry.professionals().values()]


@router.post("/professionals", status_code=201, summary="Add a professional (persona shape), no restart")
def add_professional(body: Professional, session: WriteSessionDep, psc: PscDep) -> dict[str, Any]:
    if psc.registry.professional(body.id) or psc.registry.professional(body.idnat):
        raise ConflictError(f"a professional '{body.id}' or with RPPS {body.rpps} already exists")
    known = {o.id for o in psc.tokens.personas.organisations}
    missing = sorted({a.organisation for a in body.activities} - known)
    if missing:
        raise UnprocessableError(f"unknown organisation(s): {', '.join(missing)} (use the personas' ids)")
    psc.registry.add_professional(session, body, psc.clock.now())
    return _pro_json(psc, body, None)


@router.get("/professionals/{reference}/totp", summary="The TOTP code the e-CPS app shows now")
def current_totp(reference: str, psc: PscDep) -> dict[str, Any]:
    pro = psc.tokens.find_professional(reference)
    if not pro.ecps.enrolled:
        raise ConflictError(f"{pro.id} has no e-CPS app")
    code, remaining = psc.factors.totp_now(pro)
    return {"professional": pro.id, "idnat": pro.idnat, "code": code, "valid_for": remaining}


@router.get("/professionals/{reference}/card", summary="The CPS card's state")
def card_state(reference: str, session: ReadSessionDep, psc: PscDep) -> dict[str, Any]:
    pro = psc.tokens.find_professional(reference)
    state = session.get(FactorState, pro.id)
    failed = state.failed_pins if state else 0
    return {
        "professional": pro.id,
        "number": pro.card.number,
        "blocked": bool(state and state.blocked_at),
        "failed_pins": failed,
        "remaining": 0 if state and state.blocked_at else MAX_PIN_ATTEMPTS - failed,
    }


@router.post("/professionals/{reference}/card/unblock", summary="Unblock the CPS card (as its PUK does)")
def unblock_card(reference: str, session: SessionDep, psc: PscDep) -> dict[str, Any]:
    pro = psc.tokens.find_professional(reference)
    psc.factors.unblock(session, pro.id)
    return {
        "professional": pro.id,
        "number": pro.card.number,
        "blocked": False,
        "failed_pins": 0,
        "remaining": 3,
    }


# -- clients -------------------------------------------------------------------------------


def _client_json(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "secret"}


@router.get("/clients", summary="The registered clients (secrets left out)")
def list_clients(psc: PscDep) -> list[dict[str, Any]]:
    return [
        {
            "client_id": c.client_id,
            "name": c.name,
            "redirect_uris": list(c.redirect_uris),
            "post_logout_redirect_uris": list(c.post_logout_redirect_uris),
            "grant_types": list(c.grant_types),
            "token_endpoint_auth_method": c.auth_method,
            "userinfo_format": c.userinfo_format,
        }
        for c in psc.registry.clients().values()
    ]


@router.post("/clients", status_code=201, summary="Register a client, no restart")
def register_client(body: ClientRegistration, session: WriteSessionDep, psc: PscDep) -> dict[str, Any]:
    if psc.registry.client(body.client_id) is not None:
        raise ConflictError(f"client '{body.client_id}' is already registered")
    data = client_data(body, body.jwks)
    psc.registry.register_client(session, data, psc.clock.now())
    return _client_json(data)


# -- keys and clock ------------------------------------------------------------------------


@router.get("/keys", summary="Signing keys: the current signer and those still verifying")
def list_keys(session: ReadSessionDep, psc: PscDep) -> dict[str, Any]:
    from sqlalchemy import select

    verifying = {k["kid"] for k in psc.tokens.keys.verifying()}
    rows = session.scalars(select(SigningKey).order_by(SigningKey.created_at))
    return {
        "signing_kid": psc.tokens.keys.signer()["kid"],
        "alg": psc.tokens.keys.alg,
        "keys": [
            {
                "kid": r.kid,
                "alg": r.alg,
                "created_at": r.created_at.isoformat(),
                "retired_at": r.retired_at.isoformat() if r.retired_at else None,
                "verifying": r.kid in verifying,
            }
            for r in rows
        ],
    }


@router.post("/keys/rotate", summary="A new signing key; the old ones verify until their tokens expire")
def rotate_key(session: WriteSessionDep, psc: PscDep, body: KeyRotation | None = None) -> dict[str, Any]:
    new = psc.tokens.keys.rotate(session, body.alg if body else None)
    return {"signing_kid": new["kid"], "alg": new["alg"]}


@router.get("/clock", summary="Pro Santé Connect's clock")
def get_clock(psc: PscDep) -> dict[str, Any]:
    return {"now": psc.clock.now().isoformat(), "offset": psc.clock.offset}


@router.post("/clock", summary="Move the clock (expire codes, pushes, tokens without waiting)")
def move_clock(body: ClockChange, psc: PscDep) -> dict[str, Any]:
    psc.clock.advance(body.advance)
    return {"now": psc.clock.now().isoformat(), "offset": psc.clock.offset}


@router.delete("/clock", summary="Back to real time")
def reset_clock(psc: PscDep) -> JSONResponse:
    psc.clock.reset()
    return JSONResponse({"now": psc.clock.now().isoformat(), "offset": psc.clock.offset})

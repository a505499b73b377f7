"""Mon espace santé's own test controls, under ``/_sandbox`` (admin-guarded).

Shortcuts of what a person does in the pages: tokens without the sign-in and consent pages
(contract 2), the revocation of a consent, and the one-time sign-in codes that the real
service sends by SMS or e-mail.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from services.catalog.accounts.service import latest_codes
from services.catalog.consent import service as consents
from services.catalog.dependencies import TokensDep
from services.catalog.oauth.sandbox import find_app, sandbox_tokens
from services.catalog.schemas import SandboxConsentRevocation, SandboxTokenRequest
from services.catalog.service import find_patient
from shared.errors import NotFoundError
from shared.web.deps import ReadSessionDep, WriteSessionDep

router = APIRouter(tags=["sandbox"])


@router.post("/tokens", summary="Issue a patient, caregiver, parent or app token directly (contract 2)")
def issue_tokens(body: SandboxTokenRequest, session: WriteSessionDep, tokens: TokensDep) -> dict[str, Any]:
    return sandbox_tokens(tokens, session, body)


@router.post("/consents/revoke", summary="Revoke a patient's consent to an app (the space's button)")
def revoke_consent(
    body: SandboxConsentRevocation, session: WriteSessionDep, tokens: TokensDep
) -> dict[str, Any]:
    patient = find_patient(tokens.personas, body.patient)
    app = find_app(session, body.app)
    consent = consents.find(session, patient.id, app.id)
    if consent is None:
        raise NotFoundError(f"{patient.id} never consented to '{app.id}'")
    consents.revoke(session, consent, by_account=patient.id, by_actor="patient")
    return {
        "consent": consent.id,
        "patient": patient.id,
        "app": app.id,
        "status": consent.status,
        "version": consent.version,
    }


@router.get("/one-time-codes", summary="The sign-in codes 'sent' to a patient, newest first")
def one_time_codes(
    session: ReadSessionDep,
    tokens: TokensDep,
    patient: str = Query(..., description="persona id or INS"),
) -> dict[str, Any]:
    person = find_patient(tokens.personas, patient)
    codes = latest_codes(session, person.id)
    return {
        "patient": person.id,
        "codes": [
            {
                "code": c.code,
                "channel": c.channel,
                "destination": c.destination,
                "created_at": c.created_at.isoformat(),
                "expires_at": c.expires_at.isoformat(),
                "used": c.used_at is not None,
            }
            for c in codes
        ],
    }

"""The authorization endpoint and the French consent page (pairing an app, RFC 6749 §4.1)."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from services.catalog.catalogue import service as catalogue
from services.catalog.consent import service as consents
from services.catalog.dependencies import TokensDep
from services.catalog.oauth import authorize
from services.catalog.service import scope_label
from services.catalog.web import Visitor, check_csrf, render, require_visitor
from shared.errors import SandboxError
from shared.oauth.issuers import CATALOG_OAUTH_PATH
from shared.web.deps import SessionDep, WriteSessionDep

router = APIRouter(tags=["OAuth 2"])


@router.get(f"{CATALOG_OAUTH_PATH}/authorize", summary="Authorization endpoint (RFC 6749 §4.1.1, PKCE)")
def authorization_endpoint(
    request: Request,
    session: WriteSessionDep,
    tokens: TokensDep,
    response_type: str | None = Query(None),
    client_id: str | None = Query(None),
    redirect_uri: str | None = Query(None),
    scope: str | None = Query(None),
    state: str | None = Query(None),
    code_challenge: str | None = Query(None),
    code_challenge_method: str | None = Query(None),
    nonce: str | None = Query(None),
    login_hint: str | None = Query(None),
) -> Response:
    try:
        target = authorize.verify_client(session, client_id, redirect_uri, state, tokens.issuer)
    except SandboxError as exc:
        # §4.1.2.1: never redirect to an unverified URI; tell the person instead.
        return render(request, "error.html", status=exc.status_code, message=exc.detail)
    try:
        pending = authorize.start(
            session,
            target,
            response_type=response_type,
            scope=scope,
            code_challenge=code_challenge,
            code_challenge_method=code_challenge_method,
            nonce=nonce,
            login_hint=login_hint,
            lifetime=tokens.settings.authorization_request_lifetime,
        )
    except authorize.AuthorizationRedirect as exc:
        return RedirectResponse(exc.location, status_code=302)
    page = f"/espace/autorisation/{pending.id}"
    if login_hint:
        page += "?" + urlencode({"login_hint": login_hint})
    return RedirectResponse(page, status_code=302)


def _consent_page(
    request: Request,
    visitor: Visitor,
    request_id: str,
    session: SessionDep,
    status: int = 200,
    **extra: object,
) -> Response:
    pending, app = authorize.pending(session, request_id)
    asked = [s for s in pending.scope.split() if s != "openid"]
    current = consents.find(session, visitor.patient.id, app.id)
    return render(
        request,
        "consent.html",
        status=status,
        visitor=visitor,
        app=app,
        app_state=catalogue.state(app),
        request_id=request_id,
        asked=[(s, scope_label(s)) for s in asked],
        current=current if current is not None and current.status == "active" else None,
        may_consent=visitor.actor in ("patient", "representant_legal"),
        **extra,
    )


@router.get("/espace/autorisation/{request_id}", summary="Consent page: what the app asks for")
def consent_page(request: Request, request_id: str, session: SessionDep, tokens: TokensDep) -> Response:
    visitor = require_visitor(request, session, tokens.personas)
    return _consent_page(request, visitor, request_id, session)


@router.post("/espace/autorisation/{request_id}", summary="The patient accepts all, some, or refuses")
def consent_decision(
    request: Request,
    request_id: str,
    session: SessionDep,
    tokens: TokensDep,
    decision: str = Form(...),
    donnees: list[str] = Form([]),
    csrf: str = Form(""),
) -> Response:
    visitor = require_visitor(request, session, tokens.personas)
    check_csrf(visitor, csrf)
    visitor.require_holder("Connecter une application")
    pending, app = authorize.pending(session, request_id)
    accepted: list[str] | None
    if decision == "refuser":
        accepted = None
    elif decision == "accepter_tout":
        accepted = pending.scope.split()
    else:
        accepted = donnees
    try:
        location = authorize.decide(
            session,
            pending,
            app,
            visitor.patient,
            accepted,
            by_account=visitor.person.id,
            by_actor=visitor.actor,
            issuer=tokens.issuer,
            code_lifetime=tokens.settings.code_lifetime,
        )
    except authorize.AuthorizationRedirect as exc:
        return RedirectResponse(exc.location, status_code=303)
    except SandboxError as exc:
        return _consent_page(request, visitor, request_id, session, exc.status_code, message=exc.detail)
    return RedirectResponse(location, status_code=303)

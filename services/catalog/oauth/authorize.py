"""Pairing an app with a patient: the authorization endpoint and the consent (RFC 6749 §4.1).

1. ``GET /oauth/authorize``: the client and its ``redirect_uri`` are checked first; an error
   there is shown to the person, never sent to an unverified URI (§4.1.2.1). Then every
   other error goes back to the app as ``error=...&state=...&iss=...`` (RFC 9207).
   PKCE S256 is required of every app (RFC 7636; RFC 9700 §2.1.1).
2. The request waits while the patient signs in (the space's sign-in pages).
3. The consent page lists each data category and direction asked; the patient accepts all
   or some, or refuses. The consent is recorded, then a single-use code goes back to the app.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy import delete
from sqlalchemy.orm import Session

from services.catalog.catalogue import service as catalogue
from services.catalog.consent import service as consents
from services.catalog.models import App, AuthorizationCode, AuthorizationRequest
from services.catalog.service import parse_scope
from shared.db.base import utcnow
from shared.errors import BadRequestError, NotFoundError, OAuthError
from shared.oauth import pkce
from shared.oauth.refresh import token_hash
from shared.personas import Patient


def redirect_with(uri: str, params: dict[str, str | None]) -> str:
    """§4.1.2: the parameters are added to the query, keeping the URI's own query (§3.1.2)."""
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [(k, v) for k, v in params.items() if v is not None]
    return urlunsplit(parts._replace(query=urlencode(query)))


class AuthorizationRedirect(Exception):
    """An error to send back to the app's verified ``redirect_uri`` (§4.1.2.1)."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


@dataclass(frozen=True)
class Target:
    """A verified client and redirect URI: where errors may now be sent."""

    app: App
    redirect_uri: str
    state: str | None
    issuer: str

    def error(self, error: str, description: str) -> AuthorizationRedirect:
        params = {"error": error, "error_description": description, "state": self.state, "iss": self.issuer}
        return AuthorizationRedirect(redirect_with(self.redirect_uri, params))


def verify_client(
    session: Session, client_id: str | None, redirect_uri: str | None, state: str | None, issuer: str
) -> Target:
    """§3.1.2.3: the exact URI registered (or the only one, when none is given)."""
    if not client_id:
        raise BadRequestError("la demande ne précise pas l'application (client_id manquant)")
    app = catalogue.by_client(session, client_id)
    if app is None:
        raise NotFoundError(f"aucune application « {client_id} » dans le catalogue")
    if redirect_uri is None:
        if len(app.redirect_uris) != 1:
            raise BadRequestError("la demande ne précise pas l'adresse de retour (redirect_uri)")
        redirect_uri = app.redirect_uris[0]
    elif redirect_uri not in app.redirect_uris:
        raise BadRequestError("l'adresse de retour (redirect_uri) n'est pas celle déclarée par l'application")
    return Target(app, redirect_uri, state, issuer)


def start(
    session: Session,
    target: Target,
    *,
    response_type: str | None,
    scope: str | None,
    code_challenge: str | None,
    code_challenge_method: str | None,
    nonce: str | None,
    login_hint: str | None,
    lifetime: int,
) -> AuthorizationRequest:
    """Everything else of §4.1.1, answered to the app; the request waits for the patient."""
    app = target.app
    if response_type != "code":
        raise target.error("unsupported_response_type", "only response_type=code is supported")
    refusal = catalogue.exchange_refusal(app)
    if refusal is not None:
        raise target.error("unauthorized_client", refusal)
    asked = parse_scope(scope)
    allowed = ["openid", *catalogue.scopes(app)]
    beyond = [s for s in asked if s not in allowed]
    if beyond:
        raise target.error("invalid_scope", f"the app is not referenced for: {' '.join(beyond)}")
    if not [s for s in asked if s != "openid"]:
        raise target.error("invalid_scope", "ask for at least one data category (e.g. mesures.read)")
    if code_challenge is None:
        raise target.error("invalid_request", "PKCE is required: code_challenge with S256")
    try:
        pkce.check_challenge(code_challenge, code_challenge_method)
    except OAuthError as exc:
        raise target.error(exc.error_code, exc.detail) from exc
    now = utcnow()
    # Requests nobody answered, and codes nobody exchanged, are dropped as new ones come.
    session.execute(delete(AuthorizationRequest).where(AuthorizationRequest.expires_at < now))
    session.execute(delete(AuthorizationCode).where(AuthorizationCode.expires_at < now))
    request = AuthorizationRequest(
        id=secrets.token_urlsafe(24),
        client_id=app.client_id,
        redirect_uri=target.redirect_uri,
        scope=" ".join(asked),
        state=target.state,
        nonce=nonce,
        code_challenge=code_challenge,
        login_hint=login_hint,
        created_at=now,
        expires_at=now + dt.timedelta(seconds=lifetime),
    )
    session.add(request)
    return request


def pending(session: Session, request_id: str) -> tuple[AuthorizationRequest, App]:
    request = session.get(AuthorizationRequest, request_id)
    if request is None or request.expires_at <= utcnow():
        raise NotFoundError("cette demande d'autorisation a expiré : recommencez depuis l'application")
    app = catalogue.by_client(session, request.client_id)
    if app is None:
        raise NotFoundError("cette application n'est plus dans le catalogue")
    return request, app


def target_of(request: AuthorizationRequest, app: App, issuer: str) -> Target:
    return Target(app, request.redirect_uri, request.state, issuer)


def decide(
    session: Session,
    request: AuthorizationRequest,
    app: App,
    patient: Patient,
    accepted: list[str] | None,
    *,
    by_account: str,
    by_actor: str,
    issuer: str,
    code_lifetime: int,
) -> str:
    """The patient's answer: the URI to send the browser back to (a code, or access_denied)."""
    target = target_of(request, app, issuer)
    asked = parse_scope(request.scope)
    grants = [s for s in asked if s in (accepted or []) and s != "openid"]
    if accepted is not None and not grants:
        raise BadRequestError("cochez au moins une catégorie de données, ou refusez")
    session.delete(request)  # answered: it cannot be answered twice
    if accepted is None:
        raise target.error("access_denied", "the patient refused")
    refusal = catalogue.exchange_refusal(app)
    if refusal is not None:
        raise target.error("unauthorized_client", refusal)
    consent = consents.grant(session, patient.id, app, grants, by_account=by_account, by_actor=by_actor)
    code = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        AuthorizationCode(
            code_hash=token_hash(code),
            client_id=app.client_id,
            redirect_uri=request.redirect_uri,
            patient=patient.id,
            consent_id=consent.id,
            consent_version=consent.version,
            scope=" ".join(s for s in asked if s == "openid" or s in grants),
            nonce=request.nonce,
            code_challenge=request.code_challenge,
            auth_time=now,
            created_at=now,
            expires_at=now + dt.timedelta(seconds=code_lifetime),
        )
    )
    return redirect_with(request.redirect_uri, {"code": code, "state": request.state, "iss": issuer})

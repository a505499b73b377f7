"""The token endpoint's grants (RFC 6749 §4.1.3, §6) for the catalogue's apps.

* ``authorization_code``: single use (a second use revokes what the first one gave,
  §4.1.2), bound to the client and the ``redirect_uri`` (§4.1.3), with PKCE (RFC 7636
  §4.6) for every app, confidential or public.
* ``refresh_token``: rotated at each use; a rotated one presented again revokes the whole
  family (RFC 9700 §4.14.2; ``shared.oauth.refresh``). It stops working as soon as the
  consent is revoked, the delegation ends or the app leaves the catalogue.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, NoReturn

from sqlalchemy.orm import Session

from services.catalog.catalogue import service as catalogue
from services.catalog.models import App, AuthorizationCode, Consent, IssuedToken
from services.catalog.oauth.service import Grant, TokenService
from services.catalog.service import find_patient, parse_scope
from shared.db.base import utcnow
from shared.errors import InvalidClientError, OAuthError
from shared.oauth import pkce
from shared.oauth.client_auth import PresentedClient
from shared.oauth.refresh import RefreshState, RefreshTokenReused, check_refresh, narrowed_scope, token_hash

GRANT_TYPES = ("authorization_code", "refresh_token")


class RefusedAfterRevoking(OAuthError):
    """A replayed authorization code: what it gave is revoked, then the request is refused.
    The endpoint answers this error *and commits* the revocation (as for a reused refresh
    token, ``shared.oauth.refresh.RefreshTokenReused``)."""

    def __init__(self, detail: str) -> None:
        super().__init__("invalid_grant", detail)


def authenticate_app(session: Session, presented: PresentedClient) -> App:
    """§2.3: a confidential app proves its secret; a public one only names itself."""
    app = catalogue.by_client(session, presented.client_id)
    if app is None:
        raise InvalidClientError(f"unknown client '{presented.client_id}'")
    if app.client_secret_hash is None:
        if presented.method != "none":
            raise InvalidClientError("this client is public: it has no secret to present")
        return app
    if presented.method not in ("client_secret_basic", "client_secret_post"):
        raise InvalidClientError("this client must authenticate with its secret")
    if not catalogue.check_secret(app, presented.secret):
        raise InvalidClientError("wrong client secret")
    return app


def unsupported(grant_type: str) -> NoReturn:
    if not grant_type:
        raise OAuthError("invalid_request", "grant_type is required")
    raise OAuthError("unsupported_grant_type", f"grant_type '{grant_type}' is not supported here")


def _refuse_withdrawn(app: App) -> None:
    refusal = catalogue.exchange_refusal(app)
    if refusal is not None:
        raise OAuthError("unauthorized_client", refusal)


def exchange_code(
    tokens: TokenService,
    session: Session,
    app: App,
    code: str | None,
    redirect_uri: str | None,
    verifier: str | None,
) -> dict[str, Any]:
    if not code:
        raise OAuthError("invalid_request", "code is required")
    row = session.get(AuthorizationCode, token_hash(code))
    now = utcnow()
    if row is None or row.client_id != app.client_id:
        raise OAuthError("invalid_grant", "unknown authorization code")
    if row.used_at is not None:
        tokens.revoke_family(session, row.code_hash)
        raise RefusedAfterRevoking("this authorization code was already used: its tokens are revoked")
    if row.expires_at <= now:
        raise OAuthError("invalid_grant", "the authorization code has expired")
    if redirect_uri != row.redirect_uri:
        raise OAuthError("invalid_grant", "redirect_uri differs from the one of the authorization request")
    pkce.verify(verifier, row.code_challenge)
    _refuse_withdrawn(app)
    consent = session.get(Consent, row.consent_id)
    if consent is None or consent.status != "active" or row.consent_version < consent.active_since:
        raise OAuthError("invalid_grant", "the patient's consent was revoked")
    row.used_at = now
    patient = find_patient(tokens.personas, row.patient)
    scope = [s for s in parse_scope(row.scope) if s == "openid" or s in consent.grants]
    grant = Grant(patient, "app", app.client_id, scope, consent=consent, app=app)
    return tokens.response(
        session, grant, family=row.code_hash, refresh=True, nonce=row.nonce, auth_time=row.auth_time
    )


def refresh(
    tokens: TokenService, session: Session, app: App, handle: str | None, scope: str | None
) -> dict[str, Any]:
    if not handle:
        raise OAuthError("invalid_request", "refresh_token is required")
    row = session.get(IssuedToken, token_hash(handle))
    if row is not None and row.kind != "refresh":
        row = None
    known = RefreshState(row.client_id, row.expires_at, row.rotated_at, row.revoked_at) if row else None
    try:
        check_refresh(known, app.client_id, utcnow())
    except RefreshTokenReused:
        assert row is not None
        if row.family:
            tokens.revoke_family(session, row.family)
        raise
    assert row is not None
    _refuse_withdrawn(app)
    state = tokens.state(session, row)
    if not state.active:
        reasons = {"consent": "the patient's consent was revoked", "delegation": "the delegation has ended"}
        raise OAuthError(
            "invalid_grant", reasons.get(state.reason, f"the refresh token is inactive ({state.reason})")
        )
    wanted = narrowed_scope(scope, " ".join(state.scope)).split()
    row.rotated_at = utcnow()
    consent = session.get(Consent, row.consent_id) if row.consent_id else None
    grant = Grant(
        find_patient(tokens.personas, row.subject),
        row.actor,
        app.client_id,
        wanted,
        acting_account=row.acting_account,
        consent=consent,
        app=app,
    )
    auth_time = dt.datetime.fromtimestamp(row.issued_at.timestamp(), dt.UTC)
    return tokens.response(
        session, grant, family=row.family, refresh=True, nonce=row.nonce, auth_time=auth_time
    )

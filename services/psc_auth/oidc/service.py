"""The token endpoint's grants, authorization codes and userinfo (flushes, never commits)."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import Mapping
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from services.psc_auth.claims import AuthMode, userinfo_claims
from services.psc_auth.errors import CommitThenRaise
from services.psc_auth.mfa.service import Factors
from services.psc_auth.models import AuthorizationCode, CibaRequest, EcpsRequest
from services.psc_auth.oidc.authorize import SCOPES
from services.psc_auth.oidc.client_auth import ClientAuthenticator
from services.psc_auth.reading import REFRESH
from services.psc_auth.registry import Client
from services.psc_auth.service import AMR_PUSH, LoginSession, TokenService
from shared.errors import InsufficientScopeError, InvalidTokenError, OAuthError
from shared.oauth import pkce
from shared.oauth.client_auth import PresentedClient
from shared.oauth.refresh import (
    RefreshState,
    RefreshTokenReused,
    check_refresh,
    narrowed_scope,
    new_handle,
    token_hash,
)
from shared.personas import Professional

CIBA_GRANT = "urn:openid:params:grant-type:ciba"
CODES = cast(Table, AuthorizationCode.__table__)
# Prepared once (the token endpoint is the realm's hottest path).
SELECT_CODE = select(CODES).where(CODES.c.code_hash == bindparam("hash"))
USE_CODE = (
    update(CODES)
    .where(CODES.c.code_hash == bindparam("hash"), CODES.c.used_at.is_(None))
    .values(used_at=bindparam("now"), grant_id=bindparam("grant"))
)
SELECT_REFRESH = select(REFRESH).where(REFRESH.c.token_hash == bindparam("hash"))
ROTATE_REFRESH = (
    update(REFRESH).where(REFRESH.c.token_hash == bindparam("hash")).values(rotated_at=bindparam("now"))
)
GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials", CIBA_GRANT)


class OidcService:
    def __init__(self, tokens: TokenService, clients: ClientAuthenticator, factors: Factors) -> None:
        self.tokens = tokens
        self.clients = clients
        self.factors = factors
        self.settings = tokens.settings
        self.clock = tokens.clock

    # -- the token endpoint ------------------------------------------------------------

    @staticmethod
    def check_grant(client: Client, grant_type: str) -> None:
        if grant_type not in GRANT_TYPES:
            raise OAuthError("unsupported_grant_type", f"grant_type '{grant_type}' is not supported")
        if grant_type not in client.grant_types:
            raise OAuthError("unauthorized_client", f"client '{client.client_id}' may not use {grant_type}")

    def client_credentials(self, client: Client, scope: str | None) -> dict[str, Any]:
        """RFC 6749 §4.4: confidential clients only, for the software itself."""
        self.check_grant(client, "client_credentials")
        if client.public:
            raise OAuthError("unauthorized_client", "a public client cannot use client_credentials")
        requested = (scope or "scope_all").split()
        unknown = [s for s in requested if s not in SCOPES]
        if unknown:
            raise OAuthError("invalid_scope", f"unknown scope(s): {' '.join(unknown)}")
        return self.tokens.software_tokens(client.client_id, " ".join(dict.fromkeys(requested)))

    def token(self, presented: PresentedClient, form: Mapping[str, str]) -> dict[str, Any]:
        """Every grant but the fast client_credentials path, in one write transaction."""

        def work(session: Session) -> dict[str, Any]:
            client = self.clients.authenticate(session, presented)
            grant_type = form["grant_type"]
            self.check_grant(client, grant_type)
            if grant_type == "client_credentials":
                return self.client_credentials(client, form.get("scope"))
            if grant_type == "authorization_code":
                return self._authorization_code(session, client, form)
            if grant_type == "refresh_token":
                return self._refresh(session, client, form)
            return self._ciba(session, client, form)

        return self.tokens.run(work)

    def _professional(self, psc: LoginSession) -> Professional:
        pro = self.tokens.registry.professionals().get(psc.professional_id)
        if pro is None:
            raise OAuthError("invalid_grant", "the professional of this grant no longer exists")
        return pro

    def _authorization_code(
        self, session: Session, client: Client, form: Mapping[str, str]
    ) -> dict[str, Any]:
        """RFC 6749 §4.1.3 and RFC 7636 §4.6."""
        code = form.get("code")
        if not code:
            raise OAuthError("invalid_request", "code is required")
        hashed = token_hash(code)
        row = session.execute(SELECT_CODE, {"hash": hashed}).first()
        if row is None or row.client_id != client.client_id:
            raise OAuthError("invalid_grant", "unknown authorization code")
        if row.used_at is not None:
            # §4.1.2: "If an authorization code is used more than once, the authorization
            # server MUST deny the request and SHOULD revoke ... all tokens previously
            # issued based on that authorization code."
            if row.grant_id:
                self.tokens.revoke_grant(session, row.grant_id)
            raise CommitThenRaise(
                OAuthError("invalid_grant", "authorization code already used: its tokens are revoked")
            )
        now = self.clock.now()
        if row.expires_at <= now:
            raise OAuthError("invalid_grant", "the authorization code has expired")
        if form.get("redirect_uri") != row.redirect_uri:
            raise OAuthError(
                "invalid_grant", "redirect_uri differs from the one of the authorization request"
            )
        pkce.verify(form.get("code_verifier"), row.code_challenge)
        psc = self.tokens.live_session(session, row.session_id)
        if psc is None:
            raise OAuthError("invalid_grant", "the login session of this code has ended")
        grant_id = str(uuid.uuid4())
        used = session.execute(USE_CODE, {"hash": hashed, "now": now, "grant": grant_id})
        if used.rowcount != 1:  # type: ignore[attr-defined]
            raise OAuthError("invalid_grant", "authorization code already used")
        return self.tokens.professional_tokens(
            session,
            self._professional(psc),
            client.client_id,
            row.scope,
            psc,
            nonce=row.nonce,
            grant_id=grant_id,
            with_refresh="refresh_token" in client.grant_types,
        )

    def _refresh(self, session: Session, client: Client, form: Mapping[str, str]) -> dict[str, Any]:
        """RFC 6749 §6 with rotation (RFC 9700 §4.14.2)."""
        presented = form.get("refresh_token")
        if not presented:
            raise OAuthError("invalid_request", "refresh_token is required")
        hashed = token_hash(presented)
        row = session.execute(SELECT_REFRESH, {"hash": hashed}).first()
        state = RefreshState(row.client_id, row.expires_at, row.rotated_at, row.revoked_at) if row else None
        try:
            check_refresh(state, client.client_id, self.clock.now())
        except RefreshTokenReused as exc:
            assert row is not None
            self.tokens.revoke_grant(session, row.grant_id)
            raise CommitThenRaise(exc) from exc
        assert row is not None
        scope = narrowed_scope(form.get("scope"), row.scope)
        psc = self.tokens.live_session(session, row.session_id)
        if psc is None:
            raise OAuthError("invalid_grant", "the login session of this refresh token has ended")
        session.execute(ROTATE_REFRESH, {"hash": hashed, "now": self.clock.now()})
        return self.tokens.professional_tokens(
            session, self._professional(psc), client.client_id, scope, psc, grant_id=row.grant_id
        )

    def _ciba(self, session: Session, client: Client, form: Mapping[str, str]) -> dict[str, Any]:
        """CIBA Core 1.0 §10.1 (poll mode) and §11 (its token errors)."""
        auth_req_id = form.get("auth_req_id")
        if not auth_req_id:
            raise OAuthError("invalid_request", "auth_req_id is required")
        ciba = session.get(CibaRequest, auth_req_id)
        if ciba is None or ciba.client_id != client.client_id or ciba.redeemed_at is not None:
            raise OAuthError("invalid_grant", "unknown or already used auth_req_id")
        now = self.clock.now()
        if ciba.expires_at <= now:
            raise OAuthError("expired_token", "the auth_req_id has expired: start a new request")
        push = session.get(EcpsRequest, ciba.push_id)
        status = self.factors.status(push) if push is not None else "expired"
        if status == "refused":
            raise OAuthError("access_denied", "the professional refused the request in the e-CPS app")
        if status == "expired":
            raise OAuthError("expired_token", "the professional did not answer in time")
        if status == "pending":
            too_fast = ciba.last_polled_at is not None and now < ciba.last_polled_at + dt.timedelta(
                seconds=ciba.interval
            )
            ciba.last_polled_at = now
            if too_fast:
                # §11: "slow_down ... the interval MUST be increased by at least 5 seconds".
                ciba.interval += 5
                raise CommitThenRaise(OAuthError("slow_down", f"poll every {ciba.interval} s at most"))
            raise CommitThenRaise(
                OAuthError("authorization_pending", "waiting for the professional's answer")
            )
        ciba.redeemed_at = now
        pro = self.tokens.find_professional(ciba.professional_id)
        psc = self.tokens.open_session(session, pro, "MOBILE", AMR_PUSH)
        return self.tokens.professional_tokens(
            session,
            pro,
            client.client_id,
            ciba.scope,
            psc,
            with_refresh="refresh_token" in client.grant_types,
        )

    def backchannel_authentication(
        self, presented: PresentedClient, form: Mapping[str, str]
    ) -> dict[str, Any]:
        """CIBA Core 1.0 §7 (poll mode): the professional is identified by ``login_hint``
        (idNatPS or RPPS) and asked on the e-CPS app; the client then polls the token
        endpoint with the ``auth_req_id``."""

        def work(session: Session) -> dict[str, Any]:
            client = self.clients.require_confidential(self.clients.authenticate(session, presented))
            if CIBA_GRANT not in client.grant_types:
                raise OAuthError(
                    "unauthorized_client", f"client '{client.client_id}' is not registered for CIBA"
                )
            requested = form.get("scope", "").split()
            if "openid" not in requested or any(s not in SCOPES for s in requested):
                raise OAuthError("invalid_scope", "scope must be openid (and scope_all)")
            if form.get("id_token_hint") or form.get("login_hint_token"):
                raise OAuthError(
                    "invalid_request", "only login_hint (idNatPS or RPPS) identifies the professional"
                )
            hint = form.get("login_hint")
            if not hint:
                raise OAuthError("invalid_request", "login_hint (idNatPS or RPPS) is required")
            acr = form.get("acr_values")
            if acr is not None and acr.split() != ["eidas1"]:
                raise OAuthError("invalid_request", "acr_values must be eidas1")
            binding = form.get("binding_message")
            if binding is not None and len(binding) > 64:
                raise OAuthError("invalid_binding_message", "binding_message is limited to 64 characters")
            expiry = form.get("requested_expiry")
            if expiry is not None and (not expiry.isdigit() or int(expiry) == 0):
                raise OAuthError("invalid_request", "requested_expiry must be a positive number of seconds")
            pro = self.tokens.registry.professional(hint)
            if pro is None:
                raise OAuthError("unknown_user_id", f"no professional '{hint}'")
            if not pro.ecps.enrolled:
                raise OAuthError("access_denied", "this professional has not activated an e-CPS app")
            lifetime = min(
                self.settings.ciba_lifetime, int(expiry) if expiry else self.settings.ciba_lifetime
            )
            push = self.factors.push(
                session,
                pro,
                purpose="ciba",
                client_id=client.client_id,
                binding_message=binding,
                lifetime=lifetime,
            )
            now = self.clock.now()
            ciba = CibaRequest(
                auth_req_id=secrets.token_urlsafe(32),
                client_id=client.client_id,
                professional_id=pro.id,
                scope=" ".join(dict.fromkeys(requested)),
                push_id=push.id,
                interval=self.settings.ciba_interval,
                created_at=now,
                expires_at=now + dt.timedelta(seconds=lifetime),
            )
            session.add(ciba)
            return {"auth_req_id": ciba.auth_req_id, "expires_in": lifetime, "interval": ciba.interval}

        return self.tokens.run(work)

    # -- authorization codes -----------------------------------------------------------

    def issue_code(
        self,
        session: Session,
        *,
        client_id: str,
        redirect_uri: str,
        scope: str,
        nonce: str | None,
        code_challenge: str | None,
        session_id: str,
    ) -> str:
        code, hashed = new_handle()
        session.add(
            AuthorizationCode(
                code_hash=hashed,
                client_id=client_id,
                redirect_uri=redirect_uri,
                scope=scope,
                nonce=nonce,
                code_challenge=code_challenge,
                session_id=session_id,
                expires_at=self.clock.now() + dt.timedelta(seconds=self.settings.code_lifetime),
            )
        )
        return code

    # -- userinfo ----------------------------------------------------------------------

    def userinfo(self, session: Session, token: str) -> tuple[dict[str, Any], Client | None]:
        """OIDC Core §5.3: the claims of the professional the access token was issued for."""
        claims = self.tokens.active_access_token(session, token)
        if claims is None:
            raise InvalidTokenError("the access token is not active (expired, revoked or not ours)")
        if "openid" not in str(claims.get("scope", "")).split():
            raise InsufficientScopeError("userinfo needs an access token with the openid scope")
        sub = str(claims.get("sub", ""))
        pro = self.tokens.registry.professional(sub.rsplit(":", 1)[-1]) if sub.startswith("f:") else None
        if pro is None or pro.sub != sub:
            raise InvalidTokenError("the access token does not belong to a professional")
        auth_mode: AuthMode = "MOBILE" if claims.get("authMode") == "MOBILE" else "CARD"
        if "scope_all" in str(claims.get("scope", "")).split():
            info = userinfo_claims(self.tokens.personas, pro, auth_mode)
        else:
            info = {"sub": pro.sub}
        return info, self.tokens.registry.client(str(claims.get("azp", "")))

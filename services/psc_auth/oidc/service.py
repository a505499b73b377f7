"""The token endpoint's grants, authorization codes and userinfo (flushes, never commits)."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from services.psc_auth.claims import AuthMode, userinfo_claims
from services.psc_auth.errors import CommitThenRaise
from services.psc_auth.mfa.service import Factors
from services.psc_auth.models import AuthorizationCode, CibaRequest, EcpsRequest
from services.psc_auth.oidc.authorize import SCOPES
from services.psc_auth.oidc.client_auth import ClientAuthenticator
from services.psc_auth.reading import INSERT_REFRESH, REFRESH, SELECT_REFRESH, SESSIONS
from services.psc_auth.registry import Client
from services.psc_auth.service import AMR_PUSH, LoginSession, TokenService
from shared.db.prepared import Prepared
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
ROTATE_REFRESH = (
    update(REFRESH).where(REFRESH.c.token_hash == bindparam("hash")).values(rotated_at=bindparam("now"))
)
GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials", CIBA_GRANT)
#: The code and its login session in one statement, for the exchange's fast path.
SELECT_CODE_SESSION = (
    select(
        CODES.c.client_id,
        CODES.c.redirect_uri,
        CODES.c.scope,
        CODES.c.nonce,
        CODES.c.code_challenge,
        CODES.c.expires_at,
        CODES.c.used_at,
        SESSIONS.c.id,
        SESSIONS.c.professional_id,
        SESSIONS.c.auth_mode,
        SESSIONS.c.amr,
        SESSIONS.c.auth_time,
        SESSIONS.c.expires_at.label("session_expires_at"),
        SESSIONS.c.ended_at,
    )
    .join_from(CODES, SESSIONS, SESSIONS.c.id == CODES.c.session_id)
    .where(CODES.c.code_hash == bindparam("hash"))
)


@dataclass(slots=True)
class _CodeSession:
    """The login session of a code, as :class:`LoginSession` (read by the fast path)."""

    id: str
    professional_id: str
    auth_mode: str
    amr: list[str]
    auth_time: dt.datetime
    expires_at: dt.datetime


class _Statements:
    """The fast path's statements, compiled for the service's database."""

    def __init__(self, dialect: Dialect) -> None:
        self.select_code = Prepared(SELECT_CODE_SESSION, dialect)
        self.use_code = Prepared(USE_CODE, dialect)
        self.insert_refresh = Prepared(INSERT_REFRESH, dialect)


class _Fallback(Exception):
    """The fast path met something it leaves to the full one (rolls its work back)."""


def _verifier_matches(verifier: str | None, challenge: str | None) -> bool:
    try:
        pkce.verify(verifier, challenge)
    except OAuthError:
        return False
    return True


class OidcService:
    def __init__(self, tokens: TokenService, clients: ClientAuthenticator, factors: Factors) -> None:
        self.tokens = tokens
        self.clients = clients
        self.factors = factors
        self.settings = tokens.settings
        self.clock = tokens.clock
        self._statements: _Statements | None = None

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
        if (
            form["grant_type"] == "authorization_code"
            and not self.clients.needs_database(presented)
            and self.tokens.keys.ready
            and self.tokens.registry.ready
        ):
            client = self.clients.authenticate_secret(presented)
            self.check_grant(client, "authorization_code")
            answer = self._exchange_code(client, form)
            if answer is not None:
                return answer

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

    def _exchange_code(self, client: Client, form: Mapping[str, str]) -> dict[str, Any] | None:
        """The code exchange when all is well, on a bare DBAPI connection with statements
        compiled once: one read of the code and its session, the code marked used, the
        refresh token recorded, one commit (a code exchange cost ~1 ms of
        SQLAlchemy machinery through the session before). ``None`` when anything is off
        (unknown, used or expired code, another redirect URI, a wrong verifier, an ended
        session...): nothing is written, and :meth:`_authorization_code` then says why and
        does what the RFC asks (a reused code revokes its tokens)."""
        code = form.get("code")
        if not code:
            return None
        hashed = token_hash(code)
        signing_key = self.tokens.keys.signer()
        statements = self._statements
        if statements is None:
            statements = self._statements = _Statements(self.tokens.db.engine.dialect)
        try:
            with self.tokens.db.dbapi_transaction() as connection:
                cursor = connection.cursor()
                row = statements.select_code.first(cursor, {"hash": hashed})
                now = self.clock.now()
                if (
                    row is None
                    or row.client_id != client.client_id
                    or row.used_at is not None
                    or row.expires_at <= now
                    or row.ended_at is not None
                    or row.session_expires_at <= now
                    or form.get("redirect_uri") != row.redirect_uri
                    or not _verifier_matches(form.get("code_verifier"), row.code_challenge)
                ):
                    raise _Fallback
                pro = self.tokens.registry.professionals().get(row.professional_id)
                if pro is None:
                    raise _Fallback
                grant_id = str(uuid.uuid4())
                if statements.use_code.execute(cursor, {"hash": hashed, "now": now, "grant": grant_id}) != 1:
                    raise _Fallback  # used meanwhile (PostgreSQL): the full path revokes
                login = _CodeSession(
                    row.id, row.professional_id, row.auth_mode, row.amr, row.auth_time, row.session_expires_at
                )
                issued = self.tokens.mint_professional(
                    signing_key,
                    pro,
                    client.client_id,
                    row.scope,
                    login,
                    nonce=row.nonce,
                    grant_id=grant_id,
                    with_refresh="refresh_token" in client.grant_types,
                )
                if issued.refresh_row is not None:
                    statements.insert_refresh.execute(cursor, issued.refresh_row)
                return issued.response
        except _Fallback:
            return None

    def _refresh(self, session: Session, client: Client, form: Mapping[str, str]) -> dict[str, Any]:
        """RFC 6749 §6 with rotation (RFC 9700 §4.14.2)."""
        presented = form.get("refresh_token")
        if not presented:
            raise OAuthError("invalid_request", "refresh_token is required")
        hashed = token_hash(presented)
        row = session.execute(SELECT_REFRESH, {"hash": hashed}).first()
        state = (
            RefreshState(row.client_id, row.expires_at, row.rotated_at, row.grant_revoked) if row else None
        )
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

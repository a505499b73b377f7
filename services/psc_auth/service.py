"""Pro Santé Connect's tokens: issuing them, and the sessions they come from (flushes, never
commits).

Access and ID tokens are JWTs signed with the realm's current key (``kid`` in the header,
RFC 7515 §4.1.4); refresh tokens are opaque handles stored hashed. Access tokens are not
recorded when issued, as in Keycloak: a professional's is active while its login session
lasts and neither it nor its grant (named in its ``jti``) was revoked; a software token
(client_credentials) until it expires, unless revoked (``reading.py``). The token
endpoint's writes are single Core statements: it is the hottest path of the realm.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from sqlalchemy import update
from sqlalchemy.orm import Session

from services.psc_auth.claims import AuthMode, access_token_claims
from services.psc_auth.clock import Clock
from services.psc_auth.errors import CommitThenRaise
from services.psc_auth.keys import KeyRing
from services.psc_auth.models import PscSession
from services.psc_auth.reading import (
    INSERT_REFRESH,
    SELECT_SESSION,
    SESSIONS,
    TokenReading,
    access_jti,
)
from services.psc_auth.registry import Registry
from services.psc_auth.settings import PscSettings
from shared.db.engine import Database
from shared.errors import NotFoundError
from shared.oauth.keys import sign
from shared.oauth.refresh import new_handle
from shared.personas import Personas, Professional

EIDAS1 = "eidas1"
IDP = "PSC"
T = TypeVar("T")

#: RFC 8176 ``amr`` values: the CPS card (smart card + PIN), the e-CPS app (a key held by
#: the phone, approved by the person), a TOTP code from that app.
AMR_CARD = ["sc", "pin"]
AMR_PUSH = ["mfa", "swk"]
AMR_TOTP = ["mfa", "otp"]


class LoginSession(Protocol):
    """A PSC session as the issuing code reads it (an ORM row or a Core row)."""

    id: str
    professional_id: str
    auth_mode: str
    amr: list[str]
    auth_time: dt.datetime
    expires_at: dt.datetime


def left_half_hash(value: str) -> str:
    """OIDC Core §3.1.3.6 ``at_hash``: base64url of the left half of SHA-256(value)."""
    digest = hashlib.sha256(value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True)
class Issued:
    """Tokens minted for a professional, and the refresh token's row to record."""

    response: dict[str, Any]
    refresh_row: dict[str, Any] | None


@dataclass
class TokenService(TokenReading):
    settings: PscSettings
    keys: KeyRing
    personas: Personas
    registry: Registry
    clock: Clock
    db: Database

    @property
    def issuer(self) -> str:
        return self.settings.psc_issuer_url

    # -- transactions ------------------------------------------------------------------

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Session]:
        # On SQLite, Database.session queues this process's writers on a lock of its own.
        with self.db.session(write=write) as session:
            yield session

    def run(self, work: Callable[[Session], T], *, write: bool = True) -> T:
        """``work`` in one transaction; a :class:`CommitThenRaise` commits, then raises."""
        failure: CommitThenRaise | None = None
        with self.transaction(write=write) as session:
            try:
                return work(session)
            except CommitThenRaise as exc:
                failure = exc
        raise failure.error

    def sign(self, claims: dict[str, Any], session: Session | None = None, *, typ: str = "JWT") -> str:
        return sign(claims, self.keys.signer(session), typ=typ)

    # -- claims ------------------------------------------------------------------------

    def _base(
        self, subject: str, audience: str | list[str], client_id: str, typ: str, *, jti: str | None = None
    ) -> dict[str, Any]:
        now = int(self.clock.time())
        return {
            "exp": now + self.settings.access_token_lifetime,
            "iat": now,
            "jti": jti or str(uuid.uuid4()),
            "iss": self.issuer,
            "aud": audience,
            "sub": subject,
            "typ": typ,
            "azp": client_id,
        }

    @staticmethod
    def _auth_claims(psc_session: LoginSession) -> dict[str, Any]:
        return {
            "auth_time": int(psc_session.auth_time.timestamp()),
            "session_state": psc_session.id,
            "sid": psc_session.id,
            "acr": EIDAS1,
            "amr": list(psc_session.amr),
            "idp": IDP,
            "authMode": psc_session.auth_mode,
        }

    # -- issuing -----------------------------------------------------------------------

    def professional_tokens(
        self,
        session: Session,
        pro: Professional,
        client_id: str,
        scope: str,
        psc_session: LoginSession,
        *,
        nonce: str | None = None,
        grant_id: str | None = None,
        with_refresh: bool = True,
    ) -> dict[str, Any]:
        """Access, ID (scope ``openid``) and refresh tokens of a professional who proved the
        second factor in ``psc_session``, recorded in ``session``."""
        issued = self.mint_professional(
            self.keys.signer(session),
            pro,
            client_id,
            scope,
            psc_session,
            nonce=nonce,
            grant_id=grant_id,
            with_refresh=with_refresh,
        )
        if issued.refresh_row is not None:
            session.execute(INSERT_REFRESH, issued.refresh_row)
        return issued.response

    def mint_professional(
        self,
        signing_key: dict[str, Any],
        pro: Professional,
        client_id: str,
        scope: str,
        psc_session: LoginSession,
        *,
        nonce: str | None = None,
        grant_id: str | None = None,
        with_refresh: bool = True,
    ) -> Issued:
        """The tokens, and the refresh token's row (``refresh_tokens``) for the caller to
        write in its transaction (the access token is not recorded: its ``jti`` names its
        grant)."""
        grant_id = grant_id or str(uuid.uuid4())
        auth = self._auth_claims(psc_session)
        claims = self._base(
            pro.sub, [*self.settings.audiences, client_id], client_id, "Bearer", jti=access_jti(grant_id)
        )
        claims.update(auth)
        claims.update({"scope": scope, "client_id": client_id, **access_token_claims(self.personas, pro)})
        access = sign(claims, signing_key)
        response: dict[str, Any] = {
            "access_token": access,
            "expires_in": self.settings.access_token_lifetime,
            "refresh_expires_in": 0,
            "token_type": "Bearer",
        }
        if "openid" in scope.split():
            id_claims = self._base(pro.sub, client_id, client_id, "ID")
            id_claims.update(auth)
            id_claims["at_hash"] = left_half_hash(access)
            if nonce:
                id_claims["nonce"] = nonce
            response["id_token"] = sign(id_claims, signing_key)
        refresh_row = None
        if with_refresh:
            response["refresh_token"], refresh_row = self._refresh_token(
                client_id, scope, psc_session, grant_id
            )
            response["refresh_expires_in"] = self.settings.refresh_token_lifetime
        response.update({"not-before-policy": 0, "session_state": psc_session.id, "scope": scope})
        return Issued(response, refresh_row)

    def software_tokens(self, client_id: str, scope: str) -> dict[str, Any]:
        """client_credentials: a software account, no person (Keycloak's service account).
        Touches no table, so that it stays as fast as signing allows."""
        claims = self._base(
            f"service-account-{client_id}", [*self.settings.audiences, client_id], client_id, "Bearer"
        )
        claims.update({"acr": EIDAS1, "scope": scope, "client_id": client_id})
        return {
            "access_token": self.sign(claims),
            "expires_in": self.settings.access_token_lifetime,
            "refresh_expires_in": 0,
            "token_type": "Bearer",
            "not-before-policy": 0,
            "scope": scope,
        }

    def _refresh_token(
        self, client_id: str, scope: str, psc: LoginSession, grant_id: str
    ) -> tuple[str, dict[str, Any]]:
        """A new refresh handle and its ``refresh_tokens`` row (the handle's hash)."""
        handle, hashed = new_handle()
        now = self.clock.now()
        expires = min(now + dt.timedelta(seconds=self.settings.refresh_token_lifetime), psc.expires_at)
        row = {
            "token_hash": hashed,
            "grant_id": grant_id,
            "client_id": client_id,
            "session_id": psc.id,
            "scope": scope,
            "issued_at": now,
            "expires_at": expires,
            "rotated_at": None,
            "revoked_at": None,
        }
        return handle, row

    # -- sessions ----------------------------------------------------------------------

    def open_session(
        self, session: Session, pro: Professional, auth_mode: AuthMode, amr: list[str]
    ) -> PscSession:
        now = self.clock.now()
        psc = PscSession(
            id=str(uuid.uuid4()),
            professional_id=pro.id,
            auth_mode=auth_mode,
            amr=amr,
            auth_time=now,
            expires_at=now + dt.timedelta(seconds=self.settings.session_lifetime),
        )
        session.add(psc)
        session.flush()
        return psc

    def live_session(self, session: Session, session_id: str | None) -> LoginSession | None:
        if not session_id:
            return None
        row = session.execute(SELECT_SESSION, {"sid": session_id}).first()
        if row is None or row.ended_at is not None or row.expires_at <= self.clock.now():
            return None
        found: LoginSession = row
        return found

    def end_session(self, session: Session, session_id: str) -> bool:
        """Logout: the session ends and every token issued in it stops being active."""
        now = self.clock.now()
        ended = session.execute(
            update(SESSIONS)
            .where(SESSIONS.c.id == session_id, SESSIONS.c.ended_at.is_(None))
            .values(ended_at=now)
        )
        # Its access and refresh tokens end with it: both are read with their session.
        return bool(ended.rowcount)  # type: ignore[attr-defined]

    # -- people ------------------------------------------------------------------------

    def find_professional(self, reference: str) -> Professional:
        """By persona id, idNatPS or RPPS."""
        pro = self.registry.professional(reference)
        if pro is None:
            raise NotFoundError(f"no professional '{reference}' (persona id, idNatPS or RPPS)")
        return pro

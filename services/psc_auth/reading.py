"""Reading Pro Santé Connect's own tokens back: signature and expiry, introspection (RFC
7662 §2.2) and revocation (RFC 7009 §2.1). Hot paths (every DMP and MSSanté call is
introspected), so the lookups are single-row Core statements, not ORM loads.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.psc_auth.models import IssuedToken, PscSession, RefreshToken, RevokedGrant
from shared.oauth.refresh import token_hash
from shared.oauth.revocation import check_owner
from shared.oauth.server import decode_own

if TYPE_CHECKING:
    from services.psc_auth.clock import Clock
    from services.psc_auth.keys import KeyRing
    from services.psc_auth.registry import Registry

ISSUED = cast(Table, IssuedToken.__table__)
REFRESH = cast(Table, RefreshToken.__table__)
SESSIONS = cast(Table, PscSession.__table__)
GRANTS = cast(Table, RevokedGrant.__table__)

# Prepared once: building and coercing a statement costs more than running it on SQLite.
INSERT_REFRESH = insert(REFRESH)
SELECT_REVOKED = select(ISSUED.c.revoked_at).where(ISSUED.c.jti == bindparam("jti"))
SELECT_SESSION = select(SESSIONS).where(SESSIONS.c.id == bindparam("sid"))
#: A professional's access token: its login session, and whether it or its grant was revoked.
SELECT_LIVE = select(
    SESSIONS.c.ended_at,
    SESSIONS.c.expires_at,
    SELECT_REVOKED.scalar_subquery().label("token_revoked"),
    select(GRANTS.c.revoked_at)
    .where(GRANTS.c.grant_id == bindparam("grant"))
    .scalar_subquery()
    .label("grant_revoked"),
).where(SESSIONS.c.id == bindparam("sid"))


#: A refresh token, its grant's revocation, and its login session.
SELECT_REFRESH = (
    select(REFRESH, GRANTS.c.revoked_at.label("grant_revoked"))
    .outerjoin(GRANTS, GRANTS.c.grant_id == REFRESH.c.grant_id)
    .where(REFRESH.c.token_hash == bindparam("hash"))
)
SELECT_REFRESH_LIVE = (
    select(
        REFRESH,
        GRANTS.c.revoked_at.label("grant_revoked"),
        SESSIONS.c.professional_id,
        SESSIONS.c.ended_at,
        SESSIONS.c.expires_at.label("ends"),
    )
    .join(SESSIONS, SESSIONS.c.id == REFRESH.c.session_id)
    .outerjoin(GRANTS, GRANTS.c.grant_id == REFRESH.c.grant_id)
    .where(REFRESH.c.token_hash == bindparam("hash"))
)


def access_jti(grant_id: str) -> str:
    """The ``jti`` of a professional's access token: its grant, then a random part.

    Nothing is written when an access token is issued (recording it was 11 of a code
    exchange's 28 writes), so the token itself says which grant revokes it. Keycloak's
    ``jti`` has a structure of its own too (``onrtac:<uuid>``); to a client it is opaque."""
    return f"{grant_id}.{secrets.token_hex(6)}"


def grant_of(jti: str) -> str | None:
    """The grant an access token's ``jti`` names (``None`` for a software token's)."""
    grant, dot, _ = jti.partition(".")
    return grant if dot else None


class TokenReading:
    """Mixed into :class:`services.psc_auth.service.TokenService`."""

    clock: Clock
    keys: KeyRing
    registry: Registry

    @property
    def issuer(self) -> str:
        raise NotImplementedError

    def decode(self, token: str, *, allow_expired: bool = False) -> dict[str, Any] | None:
        """The claims of a JWT we signed with a key that still verifies; ``None`` for anything
        else (forged, another key, ``alg=none``, HS256 keyed with our public key, expired)."""
        return decode_own(
            token, self.keys.verifying(), self.issuer, now=self.clock.time(), allow_expired=allow_expired
        )

    def active_access_token(self, session: Session, token: str) -> dict[str, Any] | None:
        """The claims of an access token that is active now, else ``None``."""
        claims = self.decode(token)
        if claims is None or claims.get("typ") != "Bearer":
            return None
        jti = str(claims.get("jti", ""))
        if str(claims.get("sub", "")).startswith("service-account-"):
            # A software token (no person, no session) is active unless revoked.
            revoked = session.execute(SELECT_REVOKED, {"jti": jti}).first()
            return claims if revoked is None or revoked[0] is None else None
        # A professional's: as Keycloak, while its login session lasts (one that a reset
        # or a snapshot load removed is gone) and neither it nor its grant was revoked.
        live = session.execute(
            SELECT_LIVE, {"sid": str(claims.get("sid", "")), "jti": jti, "grant": grant_of(jti)}
        ).first()
        if (
            live is None
            or live.ended_at is not None
            or live.expires_at <= self.clock.now()
            or live.token_revoked is not None
            or live.grant_revoked is not None
        ):
            return None
        return claims

    def introspect(self, session: Session, token: str) -> dict[str, Any]:
        """RFC 7662 §2.2: ``{"active": false}`` and nothing else for an inactive token."""
        if token.count(".") == 2:
            claims = self.active_access_token(session, token)
            if claims is None:
                return {"active": False}
            username = claims.get("preferred_username")
            return {**claims, "active": True, "token_type": "Bearer", "username": username}
        now = self.clock.now()
        row = session.execute(SELECT_REFRESH_LIVE, {"hash": token_hash(token)}).first()
        if (
            row is None
            or row.grant_revoked is not None
            or row.rotated_at is not None
            or row.expires_at <= now
            or row.ended_at is not None
            or row.ends <= now
        ):
            return {"active": False}
        pro = self.registry.professionals().get(row.professional_id)
        return {
            "active": True,
            "token_type": "Refresh",
            "client_id": row.client_id,
            "azp": row.client_id,
            "scope": row.scope,
            "sub": pro.sub if pro else None,
            "sid": row.session_id,
            "iat": int(row.issued_at.timestamp()),
            "exp": int(row.expires_at.timestamp()),
            "iss": self.issuer,
        }

    def revoke(self, session: Session, token: str, caller_client_id: str) -> None:
        """RFC 7009 §2.1: a refresh token revokes its whole grant; an access token itself.
        Unknown or invalid tokens are ignored (§2.2)."""
        if token.count(".") == 2:
            claims = self.decode(token)
            if claims is None or claims.get("typ") != "Bearer":
                return
            check_owner(str(claims.get("azp", "")), caller_client_id)
            now = self.clock.now()
            done = session.execute(
                update(ISSUED)
                .where(ISSUED.c.jti == claims["jti"], ISSUED.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            known = session.execute(select(ISSUED.c.jti).where(ISSUED.c.jti == claims["jti"])).first()
            if done.rowcount == 0 and known is None:  # type: ignore[attr-defined]
                # A software token (never recorded): recorded now, as revoked.
                session.execute(
                    insert(ISSUED).values(
                        jti=claims["jti"],
                        kind="access",
                        client_id=claims["azp"],
                        subject=claims["sub"],
                        scope=claims.get("scope", ""),
                        issued_at=dt.datetime.fromtimestamp(claims["iat"], dt.UTC),
                        expires_at=dt.datetime.fromtimestamp(claims["exp"], dt.UTC),
                        revoked_at=now,
                        session_id=claims.get("sid"),
                        grant_id=grant_of(str(claims["jti"])),
                    )
                )
            return
        row = session.execute(
            select(REFRESH.c.client_id, REFRESH.c.grant_id).where(REFRESH.c.token_hash == token_hash(token))
        ).first()
        if row is None:
            return
        check_owner(row.client_id, caller_client_id)
        self.revoke_grant(session, row.grant_id)

    def revoke_grant(self, session: Session, grant_id: str) -> None:
        """RFC 7009 §2.1 / RFC 6749 §4.1.2 / RFC 9700 §4.14.2: everything a grant issued (its
        access and refresh tokens are read with ``revoked_grants``)."""
        now = self.clock.now()
        # Once per grant: a second revocation (two replays racing on PostgreSQL) is a no-op.
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        session.execute(
            dialect.insert(GRANTS).values(grant_id=grant_id, revoked_at=now).on_conflict_do_nothing()
        )

"""Pro Santé Connect's tables: everything it knows lives here, so that a reset, a snapshot
and a restart cover it (professionals and clients added at runtime, login transactions,
PIN counters, e-CPS pushes, sessions, codes, refresh tokens, CIBA requests).

No foreign keys: a snapshot reloads tables in any order, and every reference is checked by
the service code that follows it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db.base import UTCDateTime, make_metadata
from shared.oauth.keystore import SigningKeyMixin


class Base(DeclarativeBase):
    metadata = make_metadata()


class SigningKey(SigningKeyMixin, Base):
    __tablename__ = "signing_keys"


class IssuedToken(Base):
    """Access tokens revoked before they expire (RFC 7009), with ``revoked_at`` set.

    Issuing an access token records nothing, as in Keycloak: a professional's token is
    active while its signature and expiry hold, its login session (``sid``) lasts, its grant
    (named in its ``jti``) is not in ``revoked_grants`` and its ``jti`` is not here. A
    software token (client_credentials) is active until it expires unless it is here.
    """

    __tablename__ = "issued_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    #: Not indexed: nothing looks tokens up by client or subject, and every index is one
    #: more B-tree write per token issued.
    client_id: Mapped[str] = mapped_column(String(128))
    subject: Mapped[str] = mapped_column(String(200))
    scope: Mapped[str] = mapped_column(Text, default="")
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    #: The PSC session (login) the token comes from.
    session_id: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    #: The grant (one code exchange and its refreshes) the token comes from.
    grant_id: Mapped[str | None] = mapped_column(String(64), index=True, default=None)


class RevokedGrant(Base):
    """Grants revoked (a code redeemed twice, a refresh token reused or revoked): every
    access token of the grant (its ``jti`` names the grant) and every refresh token of it
    stop being active."""

    __tablename__ = "revoked_grants"

    grant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    revoked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class ProfessionalRecord(Base):
    """A professional who can log in: the personas' own (seeded) and those added at runtime."""

    __tablename__ = "professionals"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    idnat: Mapped[str] = mapped_column(String(20), unique=True)
    #: ``shared.personas.Professional`` as JSON.
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    added_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)


class ClientRecord(Base):
    """A registered software (``PscClient`` as JSON, plus ``jwks`` for private_key_jwt)."""

    __tablename__ = "clients"

    client_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    added_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)


class FactorState(Base):
    """A professional's second factors: the CPS card's PIN counter, the last TOTP step used."""

    __tablename__ = "factor_states"

    professional_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    failed_pins: Mapped[int] = mapped_column(Integer, default=0)
    blocked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    #: RFC 6238 §5.2: an accepted TOTP code is not accepted a second time.
    last_totp_step: Mapped[int | None] = mapped_column(Integer, default=None)


class LoginTransaction(Base):
    """One authorization request being served by the login pages."""

    __tablename__ = "login_transactions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(128))
    redirect_uri: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(Text)
    state: Mapped[str | None] = mapped_column(Text, default=None)
    nonce: Mapped[str | None] = mapped_column(Text, default=None)
    code_challenge: Mapped[str | None] = mapped_column(String(128), default=None)
    login_hint: Mapped[str | None] = mapped_column(String(100), default=None)
    professional_id: Mapped[str | None] = mapped_column(String(100), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)


class EcpsRequest(Base):
    """A push notification sent to a professional's e-CPS app (login or CIBA)."""

    __tablename__ = "ecps_requests"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    professional_id: Mapped[str] = mapped_column(String(100), index=True)
    purpose: Mapped[str] = mapped_column(String(16))
    client_id: Mapped[str] = mapped_column(String(128))
    binding_message: Mapped[str | None] = mapped_column(Text, default=None)
    #: ``pending``, ``approved`` or ``refused`` (a pending push past ``expires_at`` is expired).
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    answered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)


class PscSession(Base):
    """A professional's single sign-on session at PSC (the ``PSC_SESSION`` cookie)."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    professional_id: Mapped[str] = mapped_column(String(100), index=True)
    auth_mode: Mapped[str] = mapped_column(String(8))
    amr: Mapped[list[str]] = mapped_column(JSON)
    auth_time: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)


class AuthorizationCode(Base):
    """RFC 6749 §4.1.2: short-lived, single use, bound to the client and redirect URI."""

    __tablename__ = "authorization_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(128))
    redirect_uri: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(Text)
    nonce: Mapped[str | None] = mapped_column(Text, default=None)
    code_challenge: Mapped[str | None] = mapped_column(String(128), default=None)
    session_id: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    #: Set when the code is exchanged: a second use revokes what this grant issued.
    grant_id: Mapped[str | None] = mapped_column(String(64), default=None)


class RefreshToken(Base):
    """Opaque refresh tokens, stored hashed; rotated on every use (RFC 9700 §4.14.2).

    One is usable while it is not rotated or expired, its login session lasts and its grant
    is not in ``revoked_grants``: read with it, not written to it, so that neither grant_id
    nor session_id needs an index (each index was one more page written per token)."""

    __tablename__ = "refresh_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    grant_id: Mapped[str] = mapped_column(String(64))
    client_id: Mapped[str] = mapped_column(String(128))
    session_id: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(Text)
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    rotated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)


class CibaRequest(Base):
    """OpenID Connect CIBA 1.0 (poll mode): a backchannel authentication request."""

    __tablename__ = "ciba_requests"

    auth_req_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(128))
    professional_id: Mapped[str] = mapped_column(String(100))
    scope: Mapped[str] = mapped_column(Text)
    push_id: Mapped[str] = mapped_column(String(64))
    interval: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    last_polled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    redeemed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)


class UsedAssertion(Base):
    """RFC 7523 §3 item 7: a client assertion's ``jti`` is accepted once until it expires."""

    __tablename__ = "used_assertions"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())

"""Mon espace santé's tables.

Everything the service knows lives here (so that reset, snapshot and restart keep it):
the patients' accounts and their sign-in state, delegations to caregivers, the catalogue
of referenced apps, consents with their history, the authorization server's requests,
codes and tokens, and the measurements written through the "mesures" API.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db.base import UTCDateTime, make_metadata
from shared.oauth.keystore import SigningKeyMixin


class Base(DeclarativeBase):
    metadata = make_metadata()


class SigningKey(SigningKeyMixin, Base):
    __tablename__ = "signing_keys"


# -- accounts ----------------------------------------------------------------------------


class Account(Base):
    """A patient's Mon espace santé account (one per patient persona)."""

    __tablename__ = "accounts"

    patient: Mapped[str] = mapped_column(String(64), primary_key=True)
    ins: Mapped[str] = mapped_column(String(15), unique=True)
    activation_code: Mapped[str] = mapped_column(String(16))
    activated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    #: ``pbkdf2_sha256$<iterations>$<salt>$<hash>``; ``None`` until the first activation.
    password_hash: Mapped[str | None] = mapped_column(String(200), default=None)
    email: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str] = mapped_column(String(32))


class LoginSession(Base):
    """A browser's sign-in: password checked (``password``), then the one-time code
    (``authenticated``). ``space`` is the patient whose space is open and ``actor`` how
    the signed-in person acts there (themself, as a caregiver, as a parent)."""

    __tablename__ = "login_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account: Mapped[str] = mapped_column(String(64), index=True)
    stage: Mapped[str] = mapped_column(String(16))
    space: Mapped[str | None] = mapped_column(String(64), default=None)
    actor: Mapped[str | None] = mapped_column(String(24), default=None)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class OneTimeCode(Base):
    """The second factor of a sign-in, "sent" by SMS or e-mail (readable in /_sandbox)."""

    __tablename__ = "one_time_codes"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    session_id: Mapped[str] = mapped_column(String(64), index=True)
    account: Mapped[str] = mapped_column(String(64), index=True)
    code: Mapped[str] = mapped_column(String(8))
    channel: Mapped[str] = mapped_column(String(8))
    destination: Mapped[str] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)


class Delegation(Base):
    """A patient's delegation of their space to a caregiver (aidant): rights and an end."""

    __tablename__ = "delegations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    patient: Mapped[str] = mapped_column(String(64), index=True)
    caregiver: Mapped[str] = mapped_column(String(64), index=True)
    rights: Mapped[list[str]] = mapped_column(JSON)
    until: Mapped[dt.date]
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)


# -- catalogue and consent ---------------------------------------------------------------


class App(Base):
    """A service of the catalogue (seeded from the personas, changed by the referencing API)."""

    __tablename__ = "apps"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    editor: Mapped[str] = mapped_column(String(200))
    editor_oid: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(Text)
    #: ``listed`` (référencement simple) or ``exchange`` (avec échange de données).
    track: Mapped[str] = mapped_column(String(16))
    #: ``referenced`` or ``withdrawn``; "expired" is computed from ``expires_on``.
    status: Mapped[str] = mapped_column(String(16))
    referenced_on: Mapped[dt.date]
    expires_on: Mapped[dt.date]
    renewals: Mapped[int] = mapped_column(Integer, default=0)
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    withdrawal_reason: Mapped[str | None] = mapped_column(Text, default=None)
    #: ``[{"category": "mesures", "access": ["read", "write"]}, ...]``
    data: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    client_id: Mapped[str] = mapped_column(String(128), unique=True)
    #: sha256 of the client secret (hex); ``None`` for a public client (PKCE only).
    client_secret_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    redirect_uris: Mapped[list[str]] = mapped_column(JSON)
    website: Mapped[str] = mapped_column(String(300), default="")


class Consent(Base):
    """A patient's consent to data exchange with one app (FHIR ``Consent``), with the
    app-specific patient id (idPe) the pairing created. ``version`` grows with every
    change; tokens remember the version they were issued under."""

    __tablename__ = "consents"
    __table_args__ = (UniqueConstraint("patient", "app_id"), UniqueConstraint("app_id", "idpe"))

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    patient: Mapped[str] = mapped_column(String(64), index=True)
    app_id: Mapped[str] = mapped_column(String(64))
    idpe: Mapped[str] = mapped_column(String(64))
    #: ``active`` or ``inactive`` (revoked).
    status: Mapped[str] = mapped_column(String(16))
    #: The consented scopes, ``<category>.<read|write>``.
    grants: Mapped[list[str]] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer)
    #: The version at which it last became active: tokens issued before it (under a
    #: consent since revoked) stay refused even once the patient consents again.
    active_since: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class ConsentVersion(Base):
    """Every version of a consent, for ``Consent/{id}/_history``."""

    __tablename__ = "consent_versions"

    consent_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    grants: Mapped[list[str]] = mapped_column(JSON)
    #: ``granted``, ``updated`` or ``revoked``.
    action: Mapped[str] = mapped_column(String(16))
    #: The account that decided (the patient, or the parent acting for a child).
    by_account: Mapped[str] = mapped_column(String(64))
    by_actor: Mapped[str] = mapped_column(String(24))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


# -- authorization server ----------------------------------------------------------------


class AuthorizationRequest(Base):
    """A validated authorization request waiting for the patient's sign-in and consent."""

    __tablename__ = "authorization_requests"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(128))
    redirect_uri: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(Text)
    state: Mapped[str | None] = mapped_column(Text, default=None)
    nonce: Mapped[str | None] = mapped_column(Text, default=None)
    code_challenge: Mapped[str] = mapped_column(String(128))
    login_hint: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class AuthorizationCode(Base):
    """An authorization code (stored as its sha256), single use (RFC 6749 §4.1.2)."""

    __tablename__ = "authorization_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(128))
    redirect_uri: Mapped[str] = mapped_column(Text)
    patient: Mapped[str] = mapped_column(String(64))
    consent_id: Mapped[str] = mapped_column(String(36))
    consent_version: Mapped[int] = mapped_column(Integer)
    scope: Mapped[str] = mapped_column(Text)
    nonce: Mapped[str | None] = mapped_column(Text, default=None)
    code_challenge: Mapped[str] = mapped_column(String(128))
    auth_time: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)


class IssuedToken(Base):
    """Every access token issued (by ``jti``) and every refresh token (by the sha256 of
    its handle), so that introspection and revocation know them. App tokens carry the
    consent and the consent version they were issued under."""

    __tablename__ = "issued_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    client_id: Mapped[str] = mapped_column(String(128), index=True)
    subject: Mapped[str] = mapped_column(String(200), index=True)
    scope: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(24), default="patient")
    acting_account: Mapped[str | None] = mapped_column(String(64), default=None)
    consent_id: Mapped[str | None] = mapped_column(String(36), default=None, index=True)
    consent_version: Mapped[int | None] = mapped_column(Integer, default=None)
    #: Refresh tokens: the authorization they continue (rotation keeps the family).
    family: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    nonce: Mapped[str | None] = mapped_column(Text, default=None)
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    #: Refresh tokens: used once and replaced (presented again, the whole family is revoked).
    rotated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)


# -- measurements ------------------------------------------------------------------------


class Device(Base):
    """A connected device (PhdDevice), unique by its identifier (system + value)."""

    __tablename__ = "devices"
    __table_args__ = (UniqueConstraint("system", "value"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    system: Mapped[str] = mapped_column(String(200))
    value: Mapped[str] = mapped_column(String(200))
    resource: Mapped[dict[str, Any]] = mapped_column(JSON)
    app_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class Measurement(Base):
    """An Observation written through the mesures API (or in the patient's space)."""

    __tablename__ = "measurements"
    __table_args__ = (Index("ix_measurements_search", "patient", "code", "effective"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    patient: Mapped[str] = mapped_column(String(64))
    code: Mapped[str] = mapped_column(String(32))
    effective: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    device_id: Mapped[str | None] = mapped_column(String(64), default=None)
    app_id: Mapped[str | None] = mapped_column(String(64), default=None)
    resource: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())

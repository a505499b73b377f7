"""Signing keys kept in an authorization server's database, with rotation (RFC 7517).

One key signs at a time (the newest active one for the configured algorithm). Rotation
makes a new key the signer and retires the old one; a retired key stays in the JWKS until
every token it signed has expired, so that tokens issued before a rotation keep verifying.
Keys are rows of the service's own ``signing_keys`` table (declared with
:class:`SigningKeyMixin`), so a reset, a snapshot and a restart all keep them.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

from sqlalchemy import JSON, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from shared.db.base import UTCDateTime, utcnow
from shared.oauth.keys import Algorithm, generate_jwk, public_jwk


class SigningKeyMixin:
    """Columns of a ``signing_keys`` table; a service declares
    ``class SigningKey(SigningKeyMixin, Base): __tablename__ = "signing_keys"``."""

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(String(8))
    private_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    retired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)


class KeyStore:
    """The keys of one authorization server. ``model`` is its SigningKey class."""

    def __init__(self, model: type[SigningKeyMixin], alg: Algorithm, max_token_lifetime: int) -> None:
        self.model = model
        self.alg = alg
        #: How long a retired key keeps verifying (the longest token lifetime, in seconds).
        self.grace = dt.timedelta(seconds=max_token_lifetime)
        self._signer: dict[str, Any] | None = None
        self._lock = threading.Lock()

    def forget(self) -> None:
        """Drop the cached signer (after a reset or a snapshot load changed the table)."""
        with self._lock:
            self._signer = None

    def create(self, session: Session, alg: Algorithm | None = None) -> dict[str, Any]:
        private = generate_jwk(alg or self.alg)
        row = self.model()
        row.kid, row.alg, row.private_jwk, row.created_at = private["kid"], private["alg"], private, utcnow()
        session.add(row)
        session.flush()
        return private

    def signer(self, session: Session) -> dict[str, Any]:
        """The private JWK that signs now (created on first use)."""
        cached = self._signer
        if cached is not None:
            return cached
        row = session.scalars(
            select(self.model)
            .where(self.model.alg == self.alg, self.model.retired_at.is_(None))
            .order_by(self.model.created_at.desc())
        ).first()
        key = row.private_jwk if row is not None else self.create(session)
        with self._lock:
            self._signer = key
        return key

    def rotate(self, session: Session, alg: Algorithm | None = None) -> dict[str, Any]:
        """A new signer; the previous ones are retired but still verify for a while."""
        now = utcnow()
        for row in session.scalars(select(self.model).where(self.model.retired_at.is_(None))):
            row.retired_at = now
        new = self.create(session, alg)
        if alg:
            self.alg = alg
        with self._lock:
            self._signer = new
        return new

    def verifying_keys(self, session: Session) -> list[dict[str, Any]]:
        """Private JWKs that still verify: active ones and those retired within the grace."""
        cutoff = utcnow() - self.grace
        rows = session.scalars(select(self.model).order_by(self.model.created_at))
        return [r.private_jwk for r in rows if r.retired_at is None or r.retired_at > cutoff]

    def jwks(self, session: Session) -> dict[str, Any]:
        """The JWKS document published at the certs / jwks endpoint."""
        return {"keys": [public_jwk(k) for k in self.verifying_keys(session)]}

    def find(self, session: Session, kid: str) -> dict[str, Any] | None:
        return next((k for k in self.verifying_keys(session) if k["kid"] == kid), None)

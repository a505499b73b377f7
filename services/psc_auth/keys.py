"""The realm's signing keys as the token service uses them: the signer and the keys that
still verify, cached in memory (every token endpoint call needs them) and reloaded after a
start, a reset, a snapshot load or a rotation (``shared/oauth/keystore.py`` keeps the rows).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, cast

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from services.psc_auth.clock import Clock
from services.psc_auth.models import SigningKey
from shared.oauth.keys import Algorithm
from shared.oauth.keystore import KeyStore

Transaction = Callable[..., AbstractContextManager[Session]]


class KeyRing:
    def __init__(
        self, store: KeyStore, configured: Algorithm, clock: Clock, transaction: Transaction
    ) -> None:
        self.store = store
        self.configured = configured
        self.clock = clock
        self.transaction = transaction
        self._signer: dict[str, Any] | None = None
        self._rows: list[tuple[dict[str, Any], dt.datetime | None]] | None = None

    @property
    def alg(self) -> str:
        return self.store.alg

    @property
    def ready(self) -> bool:
        return self._signer is not None

    def forget(self) -> None:
        self._signer = None
        self._rows = None
        self.store.forget()

    def signer(self, session: Session | None = None) -> dict[str, Any]:
        """The current private JWK. Read in a read transaction (this may run inside a
        request's write transaction, where a second writer would wait on the first); only
        when no usable key exists (a snapshot without keys) is one created, in ``session``."""
        cached = self._signer
        if cached is None:
            with self.transaction(write=False) as reader:
                row = reader.scalars(
                    select(SigningKey)
                    .where(SigningKey.alg == self.store.alg, SigningKey.retired_at.is_(None))
                    .order_by(SigningKey.created_at.desc())
                ).first()
                cached = row.private_jwk if row is not None else None
            if cached is None:
                if session is None:
                    with self.transaction(write=True) as writer:
                        cached = self.store.create(writer)
                else:
                    cached = self.store.create(session)
                self._rows = None
            self._signer = cached
        return cached

    def current(self) -> dict[str, Any] | None:
        """The signer if one is loaded, without ever creating one (a snapshot may have none)."""
        return self._signer

    def warm(self) -> None:
        """Load the keys now. The signing algorithm is the configured one while a key of it
        is active (the seed has one of each), else the newest active key's (after a rotation
        to the other algorithm)."""
        self.forget()
        self.verifying()
        with self.transaction(write=False) as session:
            active = list(
                session.scalars(
                    select(SigningKey.alg)
                    .where(SigningKey.retired_at.is_(None))
                    .order_by(SigningKey.created_at.desc())
                )
            )
        if active:
            self.store.alg = cast(Algorithm, self.configured if self.configured in active else active[0])
            self.signer()

    def verifying(self) -> list[dict[str, Any]]:
        """Private JWKs that verify now: the active ones, and the retired ones for as long as
        a token they signed may live (the keystore's grace), on this service's clock."""
        rows = self._rows
        if rows is None:
            with self.transaction(write=False) as session:
                rows = [
                    (r.private_jwk, r.retired_at)
                    for r in session.scalars(select(SigningKey).order_by(SigningKey.created_at))
                ]
            self._rows = rows
        cutoff = self.clock.now() - self.store.grace
        return [key for key, retired in rows if retired is None or retired > cutoff]

    def rotate(self, session: Session, alg: Algorithm | None = None) -> dict[str, Any]:
        """A new signing key; the old ones keep verifying until their tokens expire. The
        cache follows the commit (a rolled-back rotation must not sign anything)."""
        new = self.store.rotate(session, alg)
        event.listen(session, "after_commit", lambda _s: self.forget(), once=True)
        return new

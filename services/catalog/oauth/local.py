"""How Mon espace santé's own APIs (mesures, Consent) check the tokens it issued itself.

The same checks as a resource server (``shared/oauth/verify.py``: alg allow-list, key by
``kid``, ``iss``, ``aud``, ``exp``) without the HTTP round trip, then the token's row: is it
still in force (not revoked, consent in force, app referenced, delegation running)? That
last part is read from the database at every call, so a revocation applies at once.

A token string that verified once is remembered with its claims until it expires: its
signature cannot become wrong later, and re-verifying an ES256 signature costs about
0.2 ms. Keys are cached too, and the parsed form of a token's row keyed by the row's exact
values (so a changed row is parsed again); the caches are dropped after a reset or a
snapshot load.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, cast

from jose import ExpiredSignatureError, JWTError, jwt
from sqlalchemy.orm import Session

from services.catalog.models import App, Consent, IssuedToken
from services.catalog.oauth.service import TokenService, TokenState, app_state, row_state
from services.catalog.rawsql import RawReader
from shared.errors import InvalidTokenError
from shared.oauth.keys import ASYMMETRIC_ALGORITHMS, key_object, public_jwk
from shared.oauth.principals import MesUser, mes_user_from_claims

#: Verified token strings kept at most (a bounded memory; the oldest half goes when full).
CACHE_SIZE = 10_000
LEEWAY = 30


@dataclass(frozen=True)
class Caller:
    """A verified bearer token of Mon espace santé, and whether it is still in force."""

    user: MesUser
    claims: dict[str, Any]
    row: IssuedToken
    state: TokenState

    def has(self, scope: str) -> bool:
        return scope in self.state.scope


@dataclass(frozen=True)
class AppGrant:
    """A verified token with the consent and the app it was issued for (app tokens)."""

    caller: Caller
    consent: Consent | None
    app: App | None


#: The token's row, its consent and the consent's app: what the mesures read checks.
_GRANT_COLUMNS = {
    "t": (
        "kind",
        "actor",
        "scope",
        "subject",
        "consent_id",
        "consent_version",
        "expires_at",
        "revoked_at",
        "rotated_at",
    ),
    "c": ("id", "patient", "app_id", "idpe", "status", "grants", "active_since"),
    "a": ("id", "name", "status", "track", "referenced_on", "expires_on", "editor_oid", "client_id"),
}


def grant_query(raw: RawReader) -> str:
    """Names are ours, the token's id a bound parameter (hence the S608 noqa)."""
    columns = ", ".join(f"{alias}.{name}" for alias, names in _GRANT_COLUMNS.items() for name in names)
    return (
        f"SELECT {columns} FROM {IssuedToken.__tablename__} t "  # noqa: S608
        f"LEFT JOIN {Consent.__tablename__} c ON c.id = t.consent_id "
        f"LEFT JOIN {App.__tablename__} a ON a.id = c.app_id "
        f"WHERE t.jti = {raw.mark('jti')}"
    )


def _views(raw: RawReader, values: Sequence[Any]) -> tuple[Any, Any, Any]:
    """Read-only views of the joined row (attribute access, as on the ORM instances)."""
    cursor = iter(values)
    token, consent, app = ({name: next(cursor) for name in names} for names in _GRANT_COLUMNS.values())
    for name in ("expires_at", "revoked_at", "rotated_at"):
        token[name] = raw.instant(token[name])
    consent["grants"] = raw.document(consent["grants"])
    if app["id"] is not None:
        app["referenced_on"], app["expires_on"] = raw.day(app["referenced_on"]), raw.day(app["expires_on"])
    return (
        SimpleNamespace(**token),
        SimpleNamespace(**consent) if consent["id"] is not None else None,
        SimpleNamespace(**app) if app["id"] is not None else None,
    )


class LocalVerifier:
    def __init__(self, tokens: TokenService, audience: str) -> None:
        self.tokens = tokens
        self.audience = audience
        self._keys: dict[str, dict[str, Any]] = {}
        self._verified: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._grant: str | None = None
        self._users: dict[str, MesUser] = {}
        self._rows: dict[tuple[Any, ...], tuple[Any, Any, Any]] = {}

    def forget(self) -> None:
        with self._lock:
            self._keys = {}
            self._verified = {}
            self._users = {}
            self._rows = {}

    def key(self, session: Session, kid: str) -> dict[str, Any]:
        """Our public key ``kid`` (the JWKS, cached; looked up again for an unknown kid)."""
        key = self._keys.get(kid)
        if key is None:
            keys = {k["kid"]: public_jwk(k) for k in self.tokens.keys.verifying_keys(session)}
            with self._lock:
                self._keys = keys
            key = keys.get(kid)
        if key is None:
            raise InvalidTokenError("the access token was signed with an unknown key")
        return key

    def _decode(self, session: Session, token: str) -> dict[str, Any]:
        if token.count(".") != 2:
            raise InvalidTokenError("the access token is not a signed JWT")
        try:
            header = jwt.get_unverified_header(token)
        except JWTError as exc:
            raise InvalidTokenError("the access token is malformed") from exc
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in ASYMMETRIC_ALGORITHMS or not kid:
            raise InvalidTokenError(f"token algorithm {alg!r} is not accepted")
        key = self.key(session, str(kid))
        if key.get("alg") != alg:
            raise InvalidTokenError("the token's algorithm does not match its key")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key_object(key),
                algorithms=[alg],
                audience=self.audience,
                issuer=self.tokens.issuer,
                options={"leeway": LEEWAY, "require_exp": True, "require_iat": True},
            )
        except ExpiredSignatureError as exc:
            raise InvalidTokenError("the access token has expired") from exc
        except JWTError as exc:
            raise InvalidTokenError(f"the access token is not valid here: {exc}") from exc
        if claims.get("typ") != "Bearer":
            raise InvalidTokenError("this is not an access token")
        return claims

    def user(self, token: str, claims: dict[str, Any]) -> MesUser:
        """The token's principal, built once per token string (its claims never change)."""
        user = self._users.get(token)
        if user is None:
            user = mes_user_from_claims(claims)
            with self._lock:
                if len(self._users) >= CACHE_SIZE:
                    self._users.clear()
                self._users[token] = user
        return user

    def cached(self, token: str) -> dict[str, Any] | None:
        """The claims of a token that verified before and has not expired since."""
        cached = self._verified.get(token)
        if cached is not None and cached["exp"] + LEEWAY > time.time():
            return cached
        return None

    def claims(self, session: Session, token: str) -> dict[str, Any]:
        cached = self.cached(token)
        if cached is not None:
            return cached
        claims = self._decode(session, token)
        with self._lock:
            if len(self._verified) >= CACHE_SIZE:
                for old in list(self._verified)[: CACHE_SIZE // 2]:
                    self._verified.pop(old, None)
            self._verified[token] = claims
        return claims

    def verify_app(self, raw: RawReader, cursor: Any, token: str) -> AppGrant:
        """The read path of the mesures API: the checks of :meth:`verify` for an app's token
        (signature and claims, cached; then the token, its consent and its app as they are
        now, in one statement on the driver's connection)."""
        claims = self.cached(token)
        if claims is None:
            with raw.engine.connect() as connection, Session(bind=connection) as session:
                claims = self.claims(session, token)
        found = raw.rows(cursor, self._grant_sql(raw), {"jti": claims.get("jti", "")})
        if not found:
            raise InvalidTokenError("the access token is unknown")
        token_view, consent_view, app_view = self._views_of(raw, found[0])
        row = cast(IssuedToken, token_view)
        if row.kind != "access":
            raise InvalidTokenError("the access token is unknown")
        state = row_state(row)
        if not state.active:
            raise InvalidTokenError(f"the access token is no longer active ({state.reason})")
        consent, app = cast(Consent | None, consent_view), cast(App | None, app_view)
        if row.actor == "app" and row.consent_id:
            state = app_state(row, consent, app)
        return AppGrant(Caller(self.user(token, claims), claims, row, state), consent, app)

    def _views_of(self, raw: RawReader, values: Sequence[Any]) -> tuple[Any, Any, Any]:
        """:func:`_views`, remembered by the row's exact values: any change to the token,
        the consent or the app (a revocation, a narrowing, a withdrawal, a renewal) is
        another key, so nothing is ever stale; what depends on the time (expiry) is checked
        afresh by the caller. PostgreSQL's decoded JSON is not hashable: parsed each time."""
        key = tuple(values)
        try:
            views = self._rows.get(key)
        except TypeError:
            return _views(raw, values)
        if views is None:
            views = _views(raw, values)
            with self._lock:
                if len(self._rows) >= CACHE_SIZE:
                    self._rows.clear()
                self._rows[key] = views
        return views

    def _grant_sql(self, raw: RawReader) -> str:
        if self._grant is None:
            self._grant = grant_query(raw)
        return self._grant

    def verify(self, session: Session, token: str) -> Caller:
        """The caller; a 401 for a token that is not ours, expired, or revoked."""
        claims = self.claims(session, token)
        row = session.get(IssuedToken, claims.get("jti", ""))
        if row is None or row.kind != "access":
            raise InvalidTokenError("the access token is unknown")
        state = self.tokens.state(session, row)
        if not state.active and state.reason in ("revoked", "expired"):
            raise InvalidTokenError(f"the access token is no longer active ({state.reason})")
        return Caller(self.user(token, claims), claims, row, state)

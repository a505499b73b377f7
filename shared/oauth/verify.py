"""How a resource server (the DMP, MSSanté, Mon espace santé's APIs) checks a bearer token.

1. The compact JWS is parsed; its ``alg`` must be one we accept (RS256, ES256): never
   ``none``, never HS256 signed with our public key.
2. The key is found by ``kid`` in the issuer's JWKS, fetched from the issuer and cached;
   an unknown ``kid`` fetches the JWKS again (key rotation), as the PSC connector does.
3. Signature, ``iss``, ``aud`` (must contain our audience), ``exp``/``nbf``/``iat`` are
   checked (RFC 7519 §7.2) with a small leeway.
4. Optionally the token is introspected (RFC 7662): a revoked token, a logged-out session
   or a withdrawn consent is refused at once, everywhere.
5. For an issuer that pushes revocation events (Pro Santé Connect,
   ``shared/oauth/security_events.py``), an active answer is kept until the token expires
   (at most ``cache_seconds``); every event of that issuer drops them all. RFC 7662 §4
   allows the cache; the push keeps revocation immediate.

Every failure raises :class:`shared.errors.InvalidTokenError` (401 with the RFC 6750
challenge) and never says more than the caller needs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from jose import ExpiredSignatureError, JWTError, jwt

from shared.errors import InvalidTokenError, PeerUnavailableError
from shared.oauth.keys import ASYMMETRIC_ALGORITHMS, key_object
from shared.oauth.security_events import SET_TYP, TOKENS_CHANGED, SetError

Claims = dict[str, Any]


@dataclass(frozen=True)
class VerifierConfig:
    #: The ``iss`` the tokens must carry (the public issuer).
    issuer: str
    #: Where this service fetches the JWKS (may differ from the public URL in compose).
    jwks_url: str
    #: This service's audience: ``aud`` must contain it.
    audience: str
    #: RFC 7662 endpoint; ``None`` to trust the signature alone.
    introspection_url: str | None = None
    #: Credentials of this service at the issuer, for introspection (client_secret_basic).
    client_id: str | None = None
    client_secret: str | None = None
    algorithms: Sequence[str] = ASYMMETRIC_ALGORITHMS
    leeway: int = 30
    #: Keep active introspection answers this long at most (0: introspect every request).
    #: Only for an issuer that pushes its revocations to this service.
    cache_seconds: float = 0.0
    #: Active answers kept at most; past it the oldest go first.
    cache_limit: int = 10_000


class TokenVerifier:
    """Verifies bearer tokens of one issuer for one audience. Thread-safe."""

    def __init__(
        self,
        config: VerifierConfig,
        client: httpx.Client | None = None,
        async_client: httpx.AsyncClient | None = None,
    ) -> None:
        self.config = config
        self.client = client
        self.async_client = async_client
        self._keys: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        #: token -> (claims merged with the introspection answer, time it stops being served)
        self._active: dict[str, tuple[Claims, float]] = {}
        #: Bumped by every flush: an answer that left the issuer before a flush is not kept.
        self._generation = 0

    # -- the pure part -----------------------------------------------------------------

    def _header(self, token: str) -> dict[str, Any]:
        if token.count(".") != 2:
            raise InvalidTokenError("the access token is not a signed JWT")
        try:
            header: dict[str, Any] = jwt.get_unverified_header(token)
        except JWTError as exc:
            raise InvalidTokenError("the access token is malformed") from exc
        alg = header.get("alg")
        if alg not in self.config.algorithms:
            raise InvalidTokenError(f"token algorithm {alg!r} is not accepted")
        if not header.get("kid"):
            raise InvalidTokenError("the access token names no signing key (kid)")
        return header

    def _decode(self, token: str, jwk_dict: dict[str, Any], alg: str) -> Claims:
        if jwk_dict.get("alg", alg) != alg:
            raise InvalidTokenError("the token's algorithm does not match its key")
        try:
            claims: Claims = jwt.decode(
                token,
                key_object(jwk_dict),
                algorithms=[alg],
                audience=self.config.audience,
                issuer=self.config.issuer,
                options={"leeway": self.config.leeway, "require_exp": True, "require_iat": True},
            )
        except ExpiredSignatureError as exc:
            raise InvalidTokenError("the access token has expired") from exc
        except JWTError as exc:
            raise InvalidTokenError(f"the access token is not valid here: {exc}") from exc
        return claims

    def _check_introspection(self, answer: httpx.Response) -> Claims:
        if answer.status_code != 200:
            raise PeerUnavailableError(
                f"token introspection at {self.config.introspection_url} answered {answer.status_code}"
            )
        data: Claims = answer.json()
        if data.get("active") is not True:
            raise InvalidTokenError("the access token is no longer active (revoked or logged out)")
        return data

    def _introspection_request(self, token: str) -> dict[str, Any]:
        auth = (self.config.client_id or "", self.config.client_secret or "")
        return {
            "url": self.config.introspection_url,
            "data": {"token": token, "token_type_hint": "access_token"},
            "auth": auth,
        }

    def _store(self, jwks: Any) -> None:
        keys = jwks.get("keys") if isinstance(jwks, dict) else None
        if not isinstance(keys, list):
            raise PeerUnavailableError(f"{self.config.jwks_url} did not return a JWKS")
        with self._lock:
            self._keys = {k["kid"]: k for k in keys if isinstance(k, dict) and "kid" in k}

    # -- synchronous -------------------------------------------------------------------

    def verify(self, token: str) -> Claims:
        """The token's claims (merged with the introspection answer), or a 401."""
        cached = self.known(token)
        if cached is not None:
            return cached
        generation = self._generation
        header = self._header(token)
        key = self._keys.get(header["kid"]) or self._refresh_and_get(header["kid"])
        claims = self._decode(token, key, header["alg"])
        if self.config.introspection_url:
            if self.client is None:
                raise RuntimeError("introspection needs an HTTP client")
            try:
                answer = self.client.post(**self._introspection_request(token))
            except httpx.HTTPError as exc:
                raise PeerUnavailableError(f"token introspection failed: {exc}") from exc
            claims = {**claims, **self._check_introspection(answer)}
            self._remember(token, claims, generation)
        return claims

    def _refresh_and_get(self, kid: str) -> dict[str, Any]:
        if self.client is None:
            raise RuntimeError("fetching the JWKS needs an HTTP client")
        try:
            answer = self.client.get(self.config.jwks_url)
            answer.raise_for_status()
        except httpx.HTTPError as exc:
            raise PeerUnavailableError(f"cannot fetch the JWKS at {self.config.jwks_url}: {exc}") from exc
        self._store(answer.json())
        return self._known(kid)

    # -- asynchronous ------------------------------------------------------------------

    async def averify(self, token: str) -> Claims:
        cached = self.known(token)
        if cached is not None:
            return cached
        generation = self._generation
        header = self._header(token)
        key = self._keys.get(header["kid"]) or await self._arefresh_and_get(header["kid"])
        claims = self._decode(token, key, header["alg"])
        if self.config.introspection_url:
            if self.async_client is None:
                raise RuntimeError("introspection needs an async HTTP client")
            try:
                answer = await self.async_client.post(**self._introspection_request(token))
            except httpx.HTTPError as exc:
                raise PeerUnavailableError(f"token introspection failed: {exc}") from exc
            claims = {**claims, **self._check_introspection(answer)}
            self._remember(token, claims, generation)
        return claims

    async def _arefresh_and_get(self, kid: str) -> dict[str, Any]:
        if self.async_client is None:
            raise RuntimeError("fetching the JWKS needs an async HTTP client")
        try:
            answer = await self.async_client.get(self.config.jwks_url)
            answer.raise_for_status()
        except httpx.HTTPError as exc:
            raise PeerUnavailableError(f"cannot fetch the JWKS at {self.config.jwks_url}: {exc}") from exc
        self._store(answer.json())
        return self._known(kid)

    def _known(self, kid: str) -> dict[str, Any]:
        key = self._keys.get(kid)
        if key is None:
            raise InvalidTokenError("the access token was signed with an unknown key")
        return key

    def forget_keys(self) -> None:
        """Drop the cached JWKS and introspection answers (after a reset, for instance)."""
        with self._lock:
            self._keys = {}
        self.flush()

    # -- the introspection cache -------------------------------------------------------

    def known(self, token: str) -> Claims | None:
        """The claims kept for ``token`` if its answer is still good (no I/O), else ``None``."""
        entry = self._active.get(token)
        if entry is None:
            return None
        claims, until = entry
        if time.time() >= until:
            self._active.pop(token, None)
            return None
        return claims

    def _remember(self, token: str, claims: Claims, generation: int) -> None:
        if self.config.cache_seconds <= 0:
            return
        exp = claims.get("exp")
        if not isinstance(exp, int | float):
            return
        # Never past ``exp``: the issuer says inactive from then on, and so do we.
        until = min(float(exp), time.time() + self.config.cache_seconds)
        with self._lock:
            if generation != self._generation:
                return  # an event arrived while this answer was on its way: it may be stale
            if len(self._active) >= self.config.cache_limit:
                self._active.pop(next(iter(self._active)))
            self._active[token] = (claims, until)

    def flush(self) -> None:
        """Drop every kept introspection answer (a revocation event from the issuer)."""
        with self._lock:
            self._generation += 1
            self._active = {}

    @property
    def cached(self) -> int:
        """How many answers are kept (for ``/_sandbox`` and the tests)."""
        return len(self._active)

    # -- pushed security events (RFC 8935) ---------------------------------------------

    async def averify_event(self, token: str, audience: str) -> Claims:
        """The claims of a SET this issuer pushed to ``audience``, or :class:`SetError`."""
        try:
            header = self._header(token)
        except InvalidTokenError as exc:
            raise SetError("invalid_request", f"not a signed SET: {exc.detail}") from exc
        if header.get("typ") != SET_TYP:
            raise SetError("invalid_request", f"a SET has the JOSE header typ '{SET_TYP}'")
        try:
            key = self._keys.get(header["kid"]) or await self._arefresh_and_get(header["kid"])
        except InvalidTokenError as exc:
            raise SetError("invalid_key", "the SET's signing key is not in the issuer's JWKS") from exc
        except PeerUnavailableError as exc:
            raise SetError("invalid_key", f"the issuer's keys cannot be fetched: {exc.detail}") from exc
        if key.get("alg", header["alg"]) != header["alg"]:
            raise SetError("invalid_key", "the SET's algorithm does not match its key")
        try:
            claims: Claims = jwt.decode(
                token,
                key_object(key),
                algorithms=[header["alg"]],
                options={"verify_aud": False, "leeway": self.config.leeway, "require_exp": True},
            )
        except ExpiredSignatureError as exc:
            raise SetError("invalid_request", "the SET has expired") from exc
        except JWTError as exc:
            raise SetError("authentication_failed", f"the SET's signature does not verify: {exc}") from exc
        if claims.get("iss") != self.config.issuer:
            raise SetError("invalid_issuer", "the SET does not come from this issuer")
        aud = claims.get("aud")
        if audience not in (aud if isinstance(aud, list) else [aud]):
            raise SetError("invalid_audience", f"the SET is not addressed to {audience}")
        events = claims.get("events")
        if not isinstance(events, dict) or TOKENS_CHANGED not in events:
            raise SetError("invalid_request", f"the SET carries no {TOKENS_CHANGED} event")
        return claims


def unverified_issuer(token: str) -> str | None:
    """The ``iss`` a token claims, to pick its verifier (the signature is checked after)."""
    try:
        claims = jwt.get_unverified_claims(token)
    except JWTError:
        return None
    issuer = claims.get("iss") if isinstance(claims, dict) else None
    return issuer if isinstance(issuer, str) else None


class IssuerRouter:
    """Several trusted issuers (Pro Santé Connect, Mon espace santé) behind one check."""

    def __init__(self, verifiers: Sequence[TokenVerifier]) -> None:
        self.verifiers = {v.config.issuer: v for v in verifiers}

    def verifier_for(self, token: str) -> TokenVerifier:
        issuer = unverified_issuer(token)
        verifier = self.verifiers.get(issuer or "")
        if verifier is None:
            raise InvalidTokenError("the access token comes from an issuer this service does not trust")
        return verifier

    def verify(self, token: str) -> Claims:
        return self.verifier_for(token).verify(token)

    async def averify(self, token: str) -> Claims:
        return await self.verifier_for(token).averify(token)

    def forget_keys(self) -> None:
        for verifier in self.verifiers.values():
            verifier.forget_keys()

"""How a resource server (the DMP, MSSanté, Mon espace santé's APIs) checks a bearer token.

1. The compact JWS is parsed; its ``alg`` must be one we accept (RS256, ES256): never
   ``none``, never HS256 signed with our public key.
2. The key is found by ``kid`` in the issuer's JWKS, fetched from the issuer and cached;
   an unknown ``kid`` fetches the JWKS again (key rotation), as the PSC connector does.
3. Signature, ``iss``, ``aud`` (must contain our audience), ``exp``/``nbf``/``iat`` are
   checked (RFC 7519 §7.2) with a small leeway.
4. Optionally the token is introspected (RFC 7662): a revoked token, a logged-out session
   or a withdrawn consent is refused at once, everywhere.

Every failure raises :class:`shared.errors.InvalidTokenError` (401 with the RFC 6750
challenge) and never says more than the caller needs.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from jose import ExpiredSignatureError, JWTError, jwt

from shared.errors import InvalidTokenError, PeerUnavailableError
from shared.oauth.keys import ASYMMETRIC_ALGORITHMS, key_object

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
        """Drop the cached JWKS (after a reset of the issuer, for instance)."""
        with self._lock:
            self._keys = {}


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

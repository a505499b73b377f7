"""A resource server's view of its callers: Pro Santé Connect and Mon espace santé tokens.

Built in a service's lifespan with one client per issuer (made by the platform's client
factory, so the JWKS fetches and introspection calls are traced and recorded), then used
by the service's ``dependencies.py`` to turn a request into a :class:`Principal`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import httpx
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from shared.oauth.bearer import bearer_token
from shared.oauth.issuers import catalog_verifier, psc_verifier
from shared.oauth.principals import Principal, principal_from_claims
from shared.oauth.security_events import SetError
from shared.oauth.verify import IssuerRouter, TokenVerifier, unverified_issuer
from shared.personas import ServiceClient
from shared.settings import ServiceSettings


class ResourceServer:
    def __init__(
        self,
        settings: ServiceSettings,
        *,
        audience: str,
        credentials: ServiceClient,
        sync_client: Callable[[str], httpx.Client],
        async_client: Callable[[str], httpx.AsyncClient],
        introspect: bool = True,
    ) -> None:
        # Pro Santé Connect pushes its revocations here (services/psc_auth/events.py), so its
        # answers may be kept; Mon espace santé does not push: its tokens are introspected
        # on every request (consents, delegations and ages change what they may do).
        psc = replace(
            psc_verifier(settings, audience, credentials),
            cache_seconds=settings.introspection_cache_seconds,
        )
        mes = catalog_verifier(settings, audience, credentials)
        if not introspect:
            # Signature, issuer, audience and expiry only: no RFC 7662 call per request (a
            # revoked token then stays usable until it expires). For load tests, on request.
            psc, mes = replace(psc, introspection_url=None), replace(mes, introspection_url=None)
        self.client_id = credentials.client_id
        self.psc = TokenVerifier(psc, sync_client("psc_auth"), async_client("psc_auth"))
        self.mes = TokenVerifier(mes, sync_client("catalog"), async_client("catalog"))
        self.router = IssuerRouter([self.psc, self.mes])

    def _principal(self, verifier: TokenVerifier, claims: dict[str, object]) -> Principal:
        return principal_from_claims(dict(claims), "psc" if verifier is self.psc else "mes")

    def authenticate(self, request: Request) -> Principal:
        """For synchronous endpoints: the caller, or a 401."""
        token = bearer_token(request)
        verifier = self.router.verifier_for(token)
        return self._principal(verifier, verifier.verify(token))

    def known(self, request: Request) -> Principal | None:
        """The caller if its token's answer is kept (no I/O: callable on the event loop),
        else ``None``; a missing or foreign token is a 401 as in :meth:`authenticate`."""
        token = bearer_token(request)
        verifier = self.router.verifier_for(token)
        claims = verifier.known(token)
        return None if claims is None else self._principal(verifier, claims)

    async def caller(self, request: Request) -> Principal:
        """For ``async`` dependencies: a kept answer is read on the event loop, anything else
        is verified in the thread pool with the synchronous client (httpcore's asynchronous
        one imports ``sniffio`` on every request, which costs more than the hop)."""
        known = self.known(request)
        return known if known is not None else await run_in_threadpool(self.authenticate, request)

    async def aauthenticate(self, request: Request) -> Principal:
        token = bearer_token(request)
        verifier = self.router.verifier_for(token)
        return self._principal(verifier, await verifier.averify(token))

    async def areceive_event(self, token: str) -> None:
        """A Security Event Token pushed by an issuer (RFC 8935 §2): checked, then every
        answer of that issuer kept here is dropped. Raises :class:`SetError` (§2.3)."""
        verifier = self.router.verifiers.get(unverified_issuer(token) or "")
        if verifier is None:
            raise SetError("invalid_issuer", "this service trusts no such issuer")
        try:
            await verifier.averify_event(token, self.client_id)
        except SetError as exc:
            if exc.err == "invalid_key":
                # Dropping is always safe (the next request introspects): when the key
                # cannot be checked, fail towards fresh answers.
                verifier.flush()
            raise
        verifier.flush()

    def forget_keys(self) -> None:
        self.router.forget_keys()

    def close(self) -> None:
        for verifier in (self.psc, self.mes):
            if verifier.client is not None:
                verifier.client.close()

    async def aclose(self) -> None:
        self.close()
        for verifier in (self.psc, self.mes):
            if verifier.async_client is not None:
                await verifier.async_client.aclose()

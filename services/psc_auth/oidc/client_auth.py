"""Client authentication at the token, introspection, revocation and CIBA endpoints.

RFC 6749 §2.3.1 and OIDC Core §9. As Keycloak's "client id and secret" authenticator does,
a client registered with ``client_secret_basic`` or ``client_secret_post`` may use either;
``client_secret_jwt`` and ``private_key_jwt`` clients must send a JWT assertion (RFC 7523),
each ``jti`` accepted once; public clients (``none``) send only their ``client_id``.
"""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import Sequence

from sqlalchemy.orm import Session

from services.psc_auth.clock import Clock
from services.psc_auth.models import UsedAssertion
from services.psc_auth.registry import SECRET_METHODS, Client, Registry
from shared.errors import InvalidClientError
from shared.oauth.assertions import verify_client_assertion
from shared.oauth.client_auth import PresentedClient
from shared.oauth.refresh import token_hash


class ClientAuthenticator:
    def __init__(self, registry: Registry, clock: Clock, audiences: Sequence[str]) -> None:
        self.registry = registry
        self.clock = clock
        #: What ``aud`` of a client assertion may be: the issuer and the token endpoint.
        self.audiences = tuple(audiences)

    def _known(self, client_id: str) -> Client:
        client = self.registry.client(client_id) if client_id else None
        if client is None:
            raise InvalidClientError(f"unknown client '{client_id}'")
        return client

    def needs_database(self, presented: PresentedClient) -> bool:
        """Assertions need the replay store; secrets and public clients do not."""
        return presented.method == "client_assertion"

    def authenticate_secret(self, presented: PresentedClient) -> Client:
        """client_secret_basic / client_secret_post / none, from memory only."""
        client = self._known(presented.client_id)
        if presented.method == "none":
            if not client.public:
                method = client.auth_method
                raise InvalidClientError(
                    f"client '{client.client_id}' is confidential: it must authenticate ({method})"
                )
            return client
        if client.auth_method not in SECRET_METHODS:
            raise InvalidClientError(
                f"client '{client.client_id}' authenticates with {client.auth_method}, not a plain secret"
            )
        if (
            presented.secret is None
            or client.secret is None
            or not hmac.compare_digest(presented.secret.encode(), client.secret.encode())
        ):
            raise InvalidClientError("wrong client secret")
        return client

    def authenticate(self, session: Session, presented: PresentedClient) -> Client:
        if presented.method != "client_assertion":
            return self.authenticate_secret(presented)
        assertion = presented.assertion or ""
        client_id = presented.client_id or _assertion_issuer(assertion)
        client = self._known(client_id)
        if client.auth_method == "client_secret_jwt":
            verified = verify_client_assertion(
                assertion,
                client_id=client.client_id,
                audiences=self.audiences,
                now=self.clock.time(),
                secret=client.secret or "",
            )
        elif client.auth_method == "private_key_jwt":
            verified = verify_client_assertion(
                assertion,
                client_id=client.client_id,
                audiences=self.audiences,
                now=self.clock.time(),
                jwks=client.jwks or {},
            )
        else:
            raise InvalidClientError(
                f"client '{client.client_id}' does not authenticate with a JWT assertion"
            )
        key = token_hash(f"{client.client_id}\n{verified.jti}")
        if session.get(UsedAssertion, key) is not None:
            raise InvalidClientError("client_assertion replayed: its jti was already used")
        session.add(UsedAssertion(key=key, expires_at=dt.datetime.fromtimestamp(verified.exp, dt.UTC)))
        session.flush()
        return client

    def require_confidential(self, client: Client) -> Client:
        if client.public:
            raise InvalidClientError(
                f"client '{client.client_id}' is public: this endpoint needs a confidential client"
            )
        return client


def _assertion_issuer(assertion: str) -> str:
    """RFC 7523 §3: without ``client_id`` in the body, the client is the assertion's ``sub``."""
    from jose import jwt
    from jose.exceptions import JOSEError

    try:
        claims = jwt.get_unverified_claims(assertion)
    except JOSEError as exc:
        raise InvalidClientError("client_assertion is malformed") from exc
    sub = claims.get("sub") if isinstance(claims, dict) else None
    if not isinstance(sub, str) or not sub:
        raise InvalidClientError("client_assertion names no client (sub)")
    return sub

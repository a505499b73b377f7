"""Where the sandbox's two authorization servers publish their keys and introspection.

Pro Santé Connect keeps Keycloak's layout (``{issuer}/protocol/openid-connect/...``,
fr-ecosystem.md §1.1); Mon espace santé's layout is the sandbox's own (fictitious, README).
Services reach both through ``MES_PSC_URL`` / ``MES_CATALOG_URL`` (the compose network)
while the tokens carry the public issuers (``MES_PSC_ISSUER`` / ``MES_CATALOG_ISSUER``).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from shared.oauth.verify import VerifierConfig
from shared.personas import ServiceClient
from shared.settings import ServiceSettings

PSC_OIDC_PATH = "/protocol/openid-connect"
CATALOG_OAUTH_PATH = "/oauth"


def psc_internal_base(settings: ServiceSettings) -> str:
    """``{MES_PSC_URL}`` + the issuer's path: where services reach the realm."""
    return settings.peer_url("psc_auth") + urlsplit(settings.psc_issuer_url).path.rstrip("/")


def psc_verifier(settings: ServiceSettings, audience: str, credentials: ServiceClient) -> VerifierConfig:
    base = psc_internal_base(settings) + PSC_OIDC_PATH
    return VerifierConfig(
        issuer=settings.psc_issuer_url,
        jwks_url=f"{base}/certs",
        audience=audience,
        introspection_url=f"{base}/token/introspect",
        client_id=credentials.client_id,
        client_secret=credentials.client_secret,
    )


def catalog_verifier(settings: ServiceSettings, audience: str, credentials: ServiceClient) -> VerifierConfig:
    base = settings.peer_url("catalog") + CATALOG_OAUTH_PATH
    return VerifierConfig(
        issuer=settings.catalog_issuer_url,
        jwks_url=f"{base}/jwks",
        audience=audience,
        introspection_url=f"{base}/introspect",
        client_id=credentials.client_id,
        client_secret=credentials.client_secret,
    )

"""The discovery document (OpenID Connect Discovery 1.0 §3, RFC 8414 §2): exactly what works.

PSC publishes it as ``{issuer}/.well-known/wallet-openid-configuration`` (its own name,
fr-ecosystem.md §1.1); the sandbox serves it under the standard name too.
"""

from __future__ import annotations

from typing import Any

from services.psc_auth.oidc.authorize import ACR_VALUES, PROMPTS, SCOPES
from services.psc_auth.oidc.service import GRANT_TYPES
from shared.oauth.assertions import HMAC_ALGORITHMS, SIGNATURE_ALGORITHMS
from shared.oauth.issuers import PSC_OIDC_PATH

AUTH_METHODS = ["client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt"]

CLAIMS = [
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "azp",
    "sid",
    "at_hash",
    "idp",
    "authMode",
    "preferred_username",
    "given_name",
    "family_name",
    "SubjectNameID",
    "SubjectRefPro",
    "SubjectOrganization",
    "SubjectOrganizationID",
    "SubjectRole",
    "Secteur_Activite",
    "Palier_Authentification",
    "Mode_Acces_Raison",
    "Acces_Regulation_Medicale",
    "otherIds",
    "PSI_Locale",
    "UITVersion",
]


def document(issuer: str, wallet_url: str, signing_alg: str) -> dict[str, Any]:
    oidc = f"{issuer}{PSC_OIDC_PATH}"
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{wallet_url}/auth",
        "token_endpoint": f"{oidc}/token",
        "introspection_endpoint": f"{oidc}/token/introspect",
        "userinfo_endpoint": f"{oidc}/userinfo",
        "end_session_endpoint": f"{oidc}/logout",
        "revocation_endpoint": f"{oidc}/revoke",
        "jwks_uri": f"{oidc}/certs",
        "backchannel_authentication_endpoint": f"{oidc}/ext/ciba/auth",
        "grant_types_supported": list(GRANT_TYPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "subject_types_supported": ["public"],
        "scopes_supported": list(SCOPES),
        "claims_supported": CLAIMS,
        "claim_types_supported": ["normal"],
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "acr_values_supported": list(ACR_VALUES),
        "prompt_values_supported": list(PROMPTS),
        "code_challenge_methods_supported": ["S256"],
        "id_token_signing_alg_values_supported": [signing_alg],
        "userinfo_signing_alg_values_supported": [signing_alg],
        "token_endpoint_auth_methods_supported": [*AUTH_METHODS, "none"],
        "token_endpoint_auth_signing_alg_values_supported": [*SIGNATURE_ALGORITHMS, *HMAC_ALGORITHMS],
        "introspection_endpoint_auth_methods_supported": AUTH_METHODS,
        "introspection_endpoint_auth_signing_alg_values_supported": [*SIGNATURE_ALGORITHMS, *HMAC_ALGORITHMS],
        "revocation_endpoint_auth_methods_supported": [*AUTH_METHODS, "none"],
        "revocation_endpoint_auth_signing_alg_values_supported": [*SIGNATURE_ALGORITHMS, *HMAC_ALGORITHMS],
        "backchannel_token_delivery_modes_supported": ["poll"],
        "backchannel_authentication_request_signing_alg_values_supported": [],
        "backchannel_user_code_parameter_supported": False,
        "authorization_response_iss_parameter_supported": True,
        "frontchannel_logout_supported": False,
        "backchannel_logout_supported": False,
    }

"""The authorization server's protocol endpoints (paths are the sandbox's own: README).

Discovery (RFC 8414 / OIDC Discovery §3), JWKS (RFC 7517), token (RFC 6749 §3.2),
introspection (RFC 7662) and revocation (RFC 7009). The authorization endpoint and its
pages are in ``authorize_routes.py``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, Response

from services.catalog.dependencies import TokensDep
from services.catalog.oauth import grants
from services.catalog.service import DATA_SCOPES
from shared.oauth.client_auth import presented_client
from shared.oauth.issuers import CATALOG_OAUTH_PATH
from shared.oauth.refresh import RefreshTokenReused
from shared.oauth.revocation import revocation_request
from shared.web.deps import ReadSessionDep, WriteSessionDep
from shared.web.errors import render_for_request

OAUTH = CATALOG_OAUTH_PATH
router = APIRouter(tags=["OAuth 2"])
#: RFC 6749 §5.1: token responses must not be cached.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def metadata(tokens: TokensDep) -> dict[str, Any]:
    issuer = tokens.issuer
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}{OAUTH}/authorize",
        "token_endpoint": f"{issuer}{OAUTH}/token",
        "jwks_uri": f"{issuer}{OAUTH}/jwks",
        "introspection_endpoint": f"{issuer}{OAUTH}/introspect",
        "revocation_endpoint": f"{issuer}{OAUTH}/revoke",
        "scopes_supported": ["openid", *DATA_SCOPES, "dmp.manage"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["ES256", "RS256"],
        "claims_supported": ["sub", "idpe", "editor_oid", "auth_time", "nonce"],
        "authorization_response_iss_parameter_supported": True,
        "ui_locales_supported": ["fr-FR"],
    }


router.add_api_route(
    "/.well-known/openid-configuration", metadata, methods=["GET"], summary="OpenID Connect discovery"
)
router.add_api_route(
    "/.well-known/oauth-authorization-server",
    metadata,
    methods=["GET"],
    summary="Authorization server metadata (RFC 8414)",
)


@router.get(f"{OAUTH}/jwks", summary="JWKS: the keys that verify Mon espace santé tokens")
def jwks(session: ReadSessionDep, tokens: TokensDep) -> dict[str, Any]:
    return tokens.keys.jwks(session)


def _form_client(request: Request, client_id: str | None, client_secret: str | None) -> dict[str, str]:
    return {k: v for k, v in (("client_id", client_id), ("client_secret", client_secret)) if v is not None}


@router.post(f"{OAUTH}/token", summary="Token endpoint (RFC 6749 §3.2): authorization_code, refresh_token")
def token(
    request: Request,
    session: WriteSessionDep,
    tokens: TokensDep,
    grant_type: str = Form(""),
    code: str | None = Form(None),
    redirect_uri: str | None = Form(None),
    code_verifier: str | None = Form(None),
    refresh_token: str | None = Form(None),
    scope: str | None = Form(None),
    client_id: str | None = Form(None),
    client_secret: str | None = Form(None),
) -> Response:
    presented = presented_client(
        request.headers.get("authorization"), _form_client(request, client_id, client_secret)
    )
    app = grants.authenticate_app(session, presented)
    try:
        if grant_type == "authorization_code":
            body = grants.exchange_code(tokens, session, app, code, redirect_uri, code_verifier)
        elif grant_type == "refresh_token":
            body = grants.refresh(tokens, session, app, refresh_token, scope)
        else:
            body = grants.unsupported(grant_type)
    except (grants.RefusedAfterRevoking, RefreshTokenReused) as exc:
        # Answered, not raised: the request's transaction commits the revocation.
        return render_for_request(exc.body(), request)
    return JSONResponse(body, headers=NO_STORE)


@router.post(f"{OAUTH}/introspect", summary="Token introspection (RFC 7662)")
def introspect(
    request: Request,
    session: ReadSessionDep,
    tokens: TokensDep,
    token: str = Form(""),
    client_id: str | None = Form(None),
    client_secret: str | None = Form(None),
) -> dict[str, Any]:
    form = _form_client(request, client_id, client_secret)
    caller = tokens.authenticate_caller(session, presented_client(request.headers.get("authorization"), form))
    answer = tokens.introspect(session, token) if token else {"active": False}
    # An app learns about its own tokens only (RFC 7662 §4: no token scanning).
    services = {c.client_id for c in tokens.personas.data.services.values()}
    if caller not in services and answer.get("client_id") != caller:
        return {"active": False}
    return answer


@router.post(f"{OAUTH}/revoke", summary="Token revocation (RFC 7009)")
def revoke(
    request: Request,
    session: WriteSessionDep,
    tokens: TokensDep,
    token: str = Form(""),
    client_id: str | None = Form(None),
    client_secret: str | None = Form(None),
) -> JSONResponse:
    presented = presented_client(
        request.headers.get("authorization"), _form_client(request, client_id, client_secret)
    )
    app = grants.authenticate_app(session, presented)
    wanted = revocation_request({"token": token} if token else {})
    tokens.revoke(session, wanted.token, app.client_id)
    # §2.2: 200 whether or not the token was known.
    return JSONResponse({}, headers=NO_STORE)

"""Pro Santé Connect's protocol endpoints under the realm path of the issuer (Keycloak's
layout: ``{issuer}/protocol/openid-connect/...``, fr-ecosystem.md §1.1)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from services.psc_auth.dependencies import SESSION_COOKIE, FormDep, PscDep, oauth_form
from services.psc_auth.oidc import hot
from services.psc_auth.oidc import logout as logout_flow
from services.psc_auth.oidc.discovery import document
from services.psc_auth.oidc.hot import NO_STORE, json_response
from shared.oauth.bearer import bearer_token
from shared.oauth.client_auth import presented_client
from shared.oauth.issuers import PSC_OIDC_PATH
from shared.oauth.revocation import revocation_request

OIDC = PSC_OIDC_PATH


def discovery(psc: PscDep) -> dict[str, Any]:
    return document(psc.tokens.issuer, psc.settings.wallet_url, psc.tokens.keys.alg)


def build_hot_router(realm_path: str) -> APIRouter:
    """The token and introspection endpoints, as the OpenAPI document shows them;
    :func:`hot.front_routes` has them answered before routing, through the same functions."""
    router = APIRouter(prefix=realm_path, tags=["OpenID Connect"])

    @router.post(f"{OIDC}/token", summary="Token endpoint (RFC 6749 §3.2)")
    async def token(request: Request) -> Response:
        return await hot.respond(hot.token, request)

    @router.post(f"{OIDC}/token/introspect", summary="Token introspection (RFC 7662)")
    async def introspect(request: Request) -> Response:
        return await hot.respond(hot.introspect, request)

    return router


def build_router(realm_path: str) -> APIRouter:
    """The realm's routes; ``realm_path`` is the path of the issuer (overridable)."""
    router = APIRouter(prefix=realm_path, tags=["OpenID Connect"])
    router.add_api_route(
        "/.well-known/wallet-openid-configuration",
        discovery,
        methods=["GET"],
        summary="Discovery (PSC's own name)",
    )
    router.add_api_route(
        "/.well-known/openid-configuration", discovery, methods=["GET"], summary="Discovery (standard name)"
    )

    @router.get(f"{OIDC}/certs", summary="JWKS: the keys that verify PSC tokens")
    def certs(psc: PscDep) -> JSONResponse:
        from shared.oauth.keys import public_jwk

        return JSONResponse({"keys": [public_jwk(k) for k in psc.tokens.keys.verifying()]})

    @router.post(f"{OIDC}/revoke", summary="Token revocation (RFC 7009)")
    async def revoke(request: Request, psc: PscDep, form: FormDep) -> Response:
        presented = presented_client(request.headers.get("authorization"), form)
        wanted = revocation_request(form)

        def work(session: Session) -> None:
            client = psc.clients.authenticate(session, presented)
            psc.tokens.revoke(session, wanted.token, client.client_id)

        await run_in_threadpool(psc.tokens.run, work)
        return Response(status_code=200, headers=NO_STORE)

    async def userinfo(request: Request, psc: PscDep) -> Response:
        token = bearer_token(request)
        info, client = await run_in_threadpool(
            psc.tokens.run, lambda session: psc.oidc.userinfo(session, token), write=False
        )
        if client is not None and client.userinfo_format == "jwt":
            # OIDC Core §5.3.2: a signed JWT, with iss and aud, as application/jwt.
            signed = psc.tokens.sign({"iss": psc.tokens.issuer, "aud": client.client_id, **info})
            return Response(signed, media_type="application/jwt", headers=NO_STORE)
        return json_response(info)

    for method in ("GET", "POST"):
        router.add_api_route(
            f"{OIDC}/userinfo",
            userinfo,
            methods=[method],
            operation_id=f"userinfo_{method.lower()}",
            summary="Userinfo (OIDC Core §5.3)",
        )

    async def logout(request: Request, psc: PscDep) -> Response:
        if request.method == "POST":
            params = await oauth_form(request)
        else:
            params = {k: v for k, v in request.query_params.items() if v}
        cookie = request.cookies.get(SESSION_COOKIE)
        target = await run_in_threadpool(logout_flow.logout, psc, params, cookie)
        response: Response
        if target is not None:
            response = RedirectResponse(target, status_code=302 if request.method == "GET" else 303)
        else:
            response = HTMLResponse(psc.page("logged_out.html", title="Déconnexion"))
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    for method in ("GET", "POST"):
        router.add_api_route(
            f"{OIDC}/logout",
            logout,
            methods=[method],
            operation_id=f"logout_{method.lower()}",
            summary="Logout (OIDC RP-Initiated Logout 1.0)",
        )

    @router.post(f"{OIDC}/ext/ciba/auth", summary="Backchannel authentication (CIBA Core 1.0 §7)")
    async def ciba(request: Request, psc: PscDep, form: FormDep) -> Response:
        presented = presented_client(request.headers.get("authorization"), form)
        return json_response(await run_in_threadpool(psc.oidc.backchannel_authentication, presented, form))

    return router

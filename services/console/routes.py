"""The console's home, its sandbox-wide actions (reset, snapshot, forget the exchanges),
its own sign-in (when ``MES_ADMIN_TOKEN`` is set), and "log in as this professional"."""

from __future__ import annotations

import hmac
import json
from typing import Any
from urllib.parse import urlencode

import httpx
from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.console import service
from services.console.clients import SERVICES
from services.console.dependencies import COOKIE, ConsoleGuard, PeersDep, session_key
from services.console.journeys.tokens import find_tokens
from services.console.pages import render
from shared.errors import BadRequestError, PeerUnavailableError
from shared.oauth.issuers import PSC_OIDC_PATH, psc_internal_base
from shared.observability.tracing import current_trace_id
from shared.web.deps import RuntimeDep, WriteSessionDep

router = APIRouter(tags=["console"], dependencies=[ConsoleGuard])
public = APIRouter(tags=["console"])

#: The console's public client at Pro Santé Connect (personas ``psc_clients``).
CLIENT_ID = "mes-sandbox-console"


def _redirect(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


@router.get("/", response_class=HTMLResponse, summary="Accueil de la console")
async def home(request: Request, runtime: RuntimeDep, peers: PeersDep) -> HTMLResponse:
    personas = runtime.loaded_personas()
    organisations = {
        p.id: ", ".join(personas.organisation(a.organisation).name for a in p.activities)
        for p in personas.professionals
    }
    return render(
        request,
        "home.html",
        section="home",
        services=await peers.health(),
        urls={name: runtime.settings.peer_public_url(name) for name in SERVICES},
        professionals=personas.professionals,
        organisations=organisations,
        patients=[p for p in personas.patients if not p.ins_key_exempt],
        apps=personas.apps,
    )


@router.post("/reinitialiser", summary="Tout le bac à sable revient à son état initial")
async def reset(runtime: RuntimeDep, peers: PeersDep) -> Response:
    try:
        await peers.each("POST", "reset")
    except httpx.HTTPError as exc:
        raise PeerUnavailableError(f"la réinitialisation a échoué : {exc}") from exc
    runtime.reset()
    return _redirect("/?message=reinitialise")


@router.get("/instantane", summary="Un instantané de tous les services (format de mes-sandbox snapshot)")
async def snapshot(runtime: RuntimeDep, peers: PeersDep) -> Response:
    try:
        bundle = await service.snapshot_bundle(peers, runtime)
    except httpx.HTTPError as exc:
        raise PeerUnavailableError(f"l'instantané a échoué : {exc}") from exc
    return Response(
        json.dumps(bundle, ensure_ascii=False, indent=1),
        media_type="application/json",
        headers={"Content-Disposition": 'attachment; filename="mes-sandbox-instantane.json"'},
    )


@router.post("/instantane", summary="Charger un instantané dans tous les services")
async def load_snapshot(runtime: RuntimeDep, peers: PeersDep, fichier: UploadFile = File(...)) -> Response:
    try:
        bundle = json.loads(await fichier.read())
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequestError(f"l'instantané n'est pas du JSON : {exc}") from exc
    services = service.check_bundle(bundle)
    try:
        await peers.each("PUT", "snapshot", {n: services[n] for n in SERVICES})
    except httpx.HTTPStatusError as exc:
        raise BadRequestError(f"un service refuse l'instantané : {exc.response.text[:300]}") from exc
    except httpx.HTTPError as exc:
        raise PeerUnavailableError(f"le chargement a échoué : {exc}") from exc
    service.load_own_snapshot(runtime, services["console"])
    return _redirect("/?message=charge")


@router.post("/echanges/effacer", summary="Oublier les échanges enregistrés par chaque service")
async def clear_exchanges(peers: PeersDep) -> Response:
    try:
        await peers.each("DELETE", "exchanges")
    except httpx.HTTPError as exc:
        raise PeerUnavailableError(f"l'effacement a échoué : {exc}") from exc
    return _redirect("/parcours?message=efface")


# -- the console's own sign-in ------------------------------------------------------------


@public.get(
    "/connexion", response_class=HTMLResponse, summary="Connexion à la console (jeton d'administration)"
)
def sign_in_page(request: Request, suite: str = Query("/")) -> HTMLResponse:
    return render(request, "signin.html", section="", suite=_local(suite))


@public.post("/connexion", summary="Connexion à la console avec MES_ADMIN_TOKEN")
def sign_in(request: Request, runtime: RuntimeDep, jeton: str = Form(""), suite: str = Form("/")) -> Response:
    expected = runtime.settings.admin_token
    if expected and not hmac.compare_digest(jeton.strip().encode(), expected.encode()):
        return render(
            request,
            "signin.html",
            status_code=401,
            section="",
            suite=_local(suite),
            flash="Ce n'est pas le jeton d'administration du bac à sable (MES_ADMIN_TOKEN).",
            flash_kind="ko",
        )
    response = _redirect(_local(suite))
    if expected:
        response.set_cookie(COOKIE, session_key(expected), httponly=True, samesite="strict")
    return response


def _local(target: str) -> str:
    """Only paths of the console itself (no open redirect)."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


# -- "log in as this professional": the console as a public PSC client --------------------


@router.get("/connexion-pro/{persona}", summary="Se connecter à Pro Santé Connect comme ce professionnel")
async def login_as(
    persona: str, request: Request, runtime: RuntimeDep, session: WriteSessionDep, peers: PeersDep
) -> Response:
    personas = runtime.loaded_personas()
    pro = next((p for p in personas.professionals if p.id == persona), None)
    if pro is None:
        raise BadRequestError(f"professionnel inconnu : {persona}")
    discovery = await peers.psc_discovery()
    endpoint = discovery.get("authorization_endpoint")
    if not endpoint:
        raise PeerUnavailableError("Pro Santé Connect ne publie pas encore de point d'autorisation")
    state, nonce, challenge = service.start_login(session, pro.id)
    query = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": f"{runtime.settings.public_url}/auth/callback",
        "scope": "openid scope_all",
        "acr_values": "eidas1",
        "state": state,
        "nonce": nonce,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "login_hint": pro.idnat,
    }
    return _redirect(f"{endpoint}?{urlencode(query)}")


@router.get("/auth/callback", response_class=HTMLResponse, summary="Retour de Pro Santé Connect (code)")
async def callback(
    request: Request,
    runtime: RuntimeDep,
    session: WriteSessionDep,
    peers: PeersDep,
    state: str = Query(""),
    code: str | None = Query(None),
    error: str | None = Query(None),
    error_description: str | None = Query(None),
) -> HTMLResponse:
    pending = service.finish_login(session, state)
    context: dict[str, Any] = {"section": "home", "professional": pending.professional}
    if error or not code:
        context["problem"] = f"{error or 'pas de code'} : {error_description or ''}"
        return render(request, "callback.html", status_code=400, **context)
    token_url = f"{psc_internal_base(runtime.settings)}{PSC_OIDC_PATH}/token"
    answer = await peers.clients["psc_auth"].post(
        token_url,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": f"{runtime.settings.public_url}/auth/callback",
            "client_id": CLIENT_ID,
            "code_verifier": pending.verifier,
        },
    )
    record = {
        "request": {"headers": {}, "body": None},
        "response": {"headers": dict(answer.headers), "body": answer.text},
    }
    tokens = find_tokens(record, await peers.keysets(fresh=True))
    id_token = next((t for t in tokens if t.where.endswith("id_token")), None)
    context.update(
        status=answer.status_code,
        tokens=tokens,
        nonce_ok=id_token is not None and id_token.claims.get("nonce") == pending.nonce,
        trace=current_trace_id(),
        problem=None if answer.status_code == 200 else answer.text[:500],
    )
    return render(request, "callback.html", status_code=200 if answer.status_code == 200 else 502, **context)

"""The login pages, in French, under the prefix standing for the real ``wallet.*`` host.

Server-rendered and usable without JavaScript: each step is a form posted back here and
answered with a redirect (POST/redirect/GET). The e-CPS waiting page refreshes itself (a
``meta refresh``, and a small script that polls its status to go on at once).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from services.psc_auth.dependencies import SESSION_COOKIE, Psc, PscDep
from services.psc_auth.login.service import LoginFlow, Next
from services.psc_auth.mfa.service import MAX_PIN_ATTEMPTS
from services.psc_auth.models import LoginTransaction
from services.psc_auth.oidc.authorize import RedirectError, parse
from shared.web.deps import ReadSessionDep, SessionDep, WriteSessionDep


def _go(psc: Psc, step: Next) -> RedirectResponse:
    response = RedirectResponse(step.url, status_code=303)
    if step.session_id:
        response.set_cookie(
            SESSION_COOKIE,
            step.session_id,
            max_age=psc.settings.session_lifetime,
            path="/",
            httponly=True,
            samesite="lax",
            secure=psc.settings.wallet_url.startswith("https:"),
        )
    return response


def _page(
    psc: Psc, template: str, flow: LoginFlow, tx: LoginTransaction, status: int = 200, **context: object
) -> HTMLResponse:
    """A login page, with what every one of them shows (the software asking, the forms' base)."""
    client = psc.registry.client(tx.client_id)
    context.update(tx=tx, client_name=client.name if client else tx.client_id, base=flow.page_url(tx))
    return HTMLResponse(psc.page(template, **context), status_code=status)


def build_router(wallet_url: str) -> APIRouter:
    router = APIRouter(prefix=urlsplit(wallet_url).path.rstrip("/"), tags=["Pages de connexion"])

    @router.get("/auth", summary="Authorization endpoint (RFC 6749 §3.1, OIDC Core §3.1.2)")
    def authorize(request: Request, session: WriteSessionDep, psc: PscDep) -> Response:
        try:
            auth_request = parse(list(request.query_params.multi_items()), psc.registry)
        except RedirectError as exc:
            flow = LoginFlow(psc)
            return RedirectResponse(
                flow.error_redirect(exc.redirect_uri, exc.state, exc.error, exc.description), status_code=302
            )
        step = LoginFlow(psc).start(session, auth_request, request.cookies.get(SESSION_COOKIE))
        return RedirectResponse(step.url, status_code=302)

    @router.get("/login/{tx_id}", summary="Page: identification")
    def identify_page(tx_id: str, session: ReadSessionDep, psc: PscDep, erreur: str = "") -> HTMLResponse:
        flow = LoginFlow(psc)
        tx = flow.transaction(session, tx_id)
        pros = sorted(psc.registry.professionals().values(), key=lambda p: (p.family_name, p.given_name))
        return _page(
            psc,
            "identify.html",
            flow,
            tx,
            title="Identification",
            error=erreur,
            login_hint=tx.login_hint or "",
            professionals=pros,
            personas=psc.tokens.personas,
        )

    @router.post("/login/{tx_id}/identifiant", summary="Identification: idNatPS, RPPS or persona")
    def identify(tx_id: str, session: SessionDep, psc: PscDep, identifiant: str = Form("")) -> Response:
        flow = LoginFlow(psc)
        tx = flow.transaction(session, tx_id)
        if flow.identify(tx, identifiant) is None:
            return RedirectResponse(f"{flow.page_url(tx)}?erreur=inconnu", status_code=303)
        return RedirectResponse(flow.page_url(tx, "methode"), status_code=303)

    @router.get("/login/{tx_id}/methode", summary="Page: choice of the second factor")
    def method_page(tx_id: str, session: ReadSessionDep, psc: PscDep, erreur: str = "") -> HTMLResponse:
        flow = LoginFlow(psc)
        tx = flow.transaction(session, tx_id)
        pro = flow.professional(tx)
        return _page(
            psc,
            "method.html",
            flow,
            tx,
            title="Moyen d'authentification",
            pro=pro,
            error=erreur,
            card_blocked=psc.factors.card_blocked(session, pro.id),
        )

    @router.get("/login/{tx_id}/carte", summary="Page: CPS card PIN")
    def card_page(tx_id: str, session: ReadSessionDep, psc: PscDep) -> HTMLResponse:
        flow = LoginFlow(psc)
        tx = flow.transaction(session, tx_id)
        pro = flow.professional(tx)
        blocked = psc.factors.card_blocked(session, pro.id)
        return _page(
            psc,
            "card.html",
            flow,
            tx,
            title="Carte CPS",
            pro=pro,
            blocked=blocked,
            remaining=None,
        )

    @router.post("/login/{tx_id}/carte", summary="CPS card: check the PIN")
    def card(tx_id: str, session: SessionDep, psc: PscDep, pin: str = Form("")) -> Response:
        flow = LoginFlow(psc)
        tx = flow.transaction(session, tx_id)
        outcome = flow.card(session, tx, pin)
        if isinstance(outcome, Next):
            return _go(psc, outcome)
        return _page(
            psc,
            "card.html",
            flow,
            tx,
            status=423 if outcome.blocked else 400,
            title="Carte CPS",
            pro=flow.professional(tx),
            blocked=outcome.blocked,
            remaining=outcome.remaining,
            attempts=MAX_PIN_ATTEMPTS,
        )

    @router.post("/login/{tx_id}/ecps", summary="e-CPS: send a push to the app")
    def push(tx_id: str, session: SessionDep, psc: PscDep) -> RedirectResponse:
        flow = LoginFlow(psc)
        tx = flow.transaction(session, tx_id)
        request = flow.push(session, tx)
        return RedirectResponse(flow.page_url(tx, f"ecps/{request.id}"), status_code=303)

    @router.get("/login/{tx_id}/ecps/{push_id}", summary="Page: waiting for the e-CPS answer")
    def push_page(
        tx_id: str, push_id: str, session: WriteSessionDep, psc: PscDep, erreur: str = ""
    ) -> Response:
        flow = LoginFlow(psc)
        tx = flow.transaction(session, tx_id)
        outcome = flow.push_outcome(session, tx, push_id)
        if outcome is not None:
            return _go(psc, outcome)
        pro = flow.professional(tx)
        request = flow.the_push(session, tx, push_id)
        return _page(
            psc,
            "ecps_wait.html",
            flow,
            tx,
            title="Validation e-CPS",
            pro=pro,
            push=request,
            error=erreur,
            app_url=f"{psc.settings.public_url}/ecps/{pro.idnat}",
        )

    @router.get("/login/{tx_id}/ecps/{push_id}/statut", summary="The push's status (for the waiting page)")
    def push_status(tx_id: str, push_id: str, session: ReadSessionDep, psc: PscDep) -> JSONResponse:
        flow = LoginFlow(psc)
        tx = flow.transaction(session, tx_id)
        return JSONResponse({"status": psc.factors.status(flow.the_push(session, tx, push_id))})

    @router.post("/login/{tx_id}/totp", summary="e-CPS: a TOTP code instead of the push")
    def totp(
        tx_id: str, session: SessionDep, psc: PscDep, code: str = Form(""), notification: str = Form("")
    ) -> Response:
        flow = LoginFlow(psc)
        tx = flow.transaction(session, tx_id)
        outcome = flow.totp(session, tx, code)
        if outcome is not None:
            return _go(psc, outcome)
        back = flow.page_url(tx, f"ecps/{notification}") if notification else flow.page_url(tx, "methode")
        return RedirectResponse(f"{back}?erreur=code", status_code=303)

    @router.post("/login/{tx_id}/annuler", summary="Cancel: access_denied back to the software")
    def cancel(tx_id: str, session: SessionDep, psc: PscDep) -> RedirectResponse:
        flow = LoginFlow(psc)
        return _go(psc, flow.cancel(flow.transaction(session, tx_id)))

    return router

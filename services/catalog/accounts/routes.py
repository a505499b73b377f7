"""Sign-in, first activation and the choice of space (French pages; paths are fictitious)."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from services.catalog.accounts import service as accounts
from services.catalog.dependencies import TokensDep
from services.catalog.models import Account, LoginSession
from services.catalog.web import COOKIE, check_csrf, redirect, render, require_visitor, safe_next, with_next
from shared.errors import SandboxError
from shared.web.deps import SessionDep

router = APIRouter(prefix="/espace", tags=["Mon espace santé : connexion"])


def _with_cookie(response: Response, login: LoginSession, lifetime: int) -> Response:
    response.set_cookie(COOKIE, login.id, max_age=lifetime, httponly=True, samesite="lax", path="/")
    return response


@router.get("/connexion", summary="Sign-in page (INS and password)")
def login_page(
    request: Request,
    next_url: str | None = Query(None, alias="next"),
    login_hint: str | None = Query(None, description="the INS, prefilled"),
) -> Response:
    return render(request, "login.html", next=safe_next(next_url), identifier=login_hint)


@router.post("/connexion", summary="Check the password, send the one-time code")
def login(
    request: Request,
    session: SessionDep,
    tokens: TokensDep,
    identifiant: str = Form(...),
    mot_de_passe: str = Form(...),
    canal: str = Form("sms"),
    next_url: str | None = Form(None, alias="next"),
) -> Response:
    settings = tokens.settings
    try:
        login, _ = accounts.start_login(
            session, identifiant, mot_de_passe, canal, settings.session_lifetime, settings.otp_lifetime
        )
    except SandboxError as exc:
        return render(
            request,
            "login.html",
            status=exc.status_code,
            message=exc.detail,
            next=safe_next(next_url),
            identifier=identifiant,
            channel=canal,
        )
    target = with_next("/espace/connexion/code", safe_next(next_url))
    return _with_cookie(redirect(target), login, settings.session_lifetime)


def _pending(request: Request, session: SessionDep) -> LoginSession | None:
    login = accounts.current_login(session, request.cookies.get(COOKIE))
    return login if login is not None and login.stage == "password" else None


@router.get("/connexion/code", summary="One-time code page")
def code_page(
    request: Request, session: SessionDep, next_url: str | None = Query(None, alias="next")
) -> Response:
    login = _pending(request, session)
    code = accounts.pending_code(session, login) if login else None
    if login is None or code is None:
        return redirect(with_next("/espace/connexion", safe_next(next_url)))
    return render(
        request,
        "code.html",
        next=safe_next(next_url),
        channel=code.channel,
        destination=accounts.mask(code.destination),
    )


@router.post("/connexion/code", summary="Check the one-time code: signed in")
def check_code(
    request: Request,
    session: SessionDep,
    tokens: TokensDep,
    code: str = Form(...),
    next_url: str | None = Form(None, alias="next"),
) -> Response:
    login = _pending(request, session)
    target = safe_next(next_url)
    if login is None:
        return redirect(with_next("/espace/connexion", target))
    try:
        accounts.check_code(session, login, code, tokens.settings.otp_attempts)
    except SandboxError as exc:
        if login.stage == "failed":
            return render(request, "login.html", status=exc.status_code, message=exc.detail, next=target)
        pending = accounts.pending_code(session, login)
        return render(
            request,
            "code.html",
            status=exc.status_code,
            message=exc.detail,
            next=target,
            channel=pending.channel if pending else "sms",
            destination=accounts.mask(pending.destination) if pending else "",
        )
    if len(accounts.spaces_of(session, tokens.personas, login.account)) > 1:
        return redirect(with_next("/espace/choisir", target))
    return redirect(target)


@router.post("/connexion/renvoyer", summary="Send a new one-time code")
def resend_code(
    request: Request, session: SessionDep, tokens: TokensDep, next_url: str | None = Form(None, alias="next")
) -> Response:
    login = _pending(request, session)
    target = safe_next(next_url)
    if login is None:
        return redirect(with_next("/espace/connexion", target))
    previous = accounts.pending_code(session, login)
    account = session.get(Account, login.account)
    assert account is not None
    channel = previous.channel if previous else "sms"
    accounts.send_code(session, login, account, channel, tokens.settings.otp_lifetime)
    return redirect(with_next("/espace/connexion/code", target))


@router.post("/deconnexion", summary="Sign out")
def logout(request: Request, session: SessionDep, tokens: TokensDep, csrf: str = Form("")) -> Response:
    found = require_visitor(request, session, tokens.personas)
    check_csrf(found, csrf)
    session.delete(found.login)
    response = redirect("/espace/connexion")
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/choisir", summary="Choose whose space to open")
def choose_page(
    request: Request, session: SessionDep, tokens: TokensDep, next_url: str | None = Query(None, alias="next")
) -> Response:
    found = require_visitor(request, session, tokens.personas)
    return render(request, "choose.html", visitor=found, next=safe_next(next_url))


@router.post("/choisir", summary="Open a space (one's own, a child's, a delegator's)")
def choose(
    request: Request,
    session: SessionDep,
    tokens: TokensDep,
    espace: str = Form(...),
    csrf: str = Form(""),
    next_url: str | None = Form(None, alias="next"),
) -> Response:
    found = require_visitor(request, session, tokens.personas)
    check_csrf(found, csrf)
    actor, _, patient = espace.partition(":")
    chosen = next((s for s in found.spaces if s.actor == actor and s.patient.id == patient), None)
    if chosen is None:
        return render(
            request,
            "choose.html",
            status=403,
            visitor=found,
            next=safe_next(next_url),
            message="Espace inconnu.",
        )
    found.login.space, found.login.actor = chosen.patient.id, chosen.actor
    return redirect(safe_next(next_url))


@router.get("/activation", summary="First activation page")
def activation_page(request: Request) -> Response:
    return render(request, "activation.html")


@router.post("/activation", summary="Activate the account with the letter's code")
def activate(
    request: Request,
    session: SessionDep,
    tokens: TokensDep,
    identifiant: str = Form(...),
    code_activation: str = Form(...),
    date_naissance: dt.date = Form(...),
    mot_de_passe: str = Form(...),
    confirmation: str = Form(...),
) -> Response:
    try:
        if mot_de_passe != confirmation:
            return render(
                request,
                "activation.html",
                status=400,
                message="Les deux mots de passe sont différents.",
                identifier=identifiant,
            )
        accounts.activate(
            session, tokens.personas, identifiant, code_activation, date_naissance, mot_de_passe
        )
    except SandboxError as exc:
        return render(
            request, "activation.html", status=exc.status_code, message=exc.detail, identifier=identifiant
        )
    return render(
        request,
        "activation.html",
        done=True,
        identifier=identifiant.replace(" ", ""),
        message="Votre compte est activé. Vous pouvez vous connecter.",
        message_kind="success",
    )

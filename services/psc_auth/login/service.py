"""The login journey behind the authorization endpoint (flushes, never commits).

An authorization request becomes a :class:`LoginTransaction`; the professional identifies
(idNatPS, RPPS or a persona), proves the second factor (CPS card PIN, e-CPS push or TOTP),
and only then is a PSC session opened and a code sent back. A valid session cookie skips
the pages (single sign-on) unless ``prompt=login`` or ``max_age`` asks for a new login.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from services.psc_auth.claims import AuthMode
from services.psc_auth.errors import PageError
from services.psc_auth.mfa.service import PinResult
from services.psc_auth.models import EcpsRequest, LoginTransaction
from services.psc_auth.oidc.authorize import AuthRequest, redirect_to
from services.psc_auth.service import AMR_CARD, AMR_PUSH, AMR_TOTP, LoginSession
from shared.personas import Professional

if TYPE_CHECKING:
    from services.psc_auth.dependencies import Psc


@dataclass(frozen=True)
class Next:
    """Where the browser goes next, and the session cookie to set (a login completed)."""

    url: str
    session_id: str | None = None


class LoginFlow:
    def __init__(self, psc: Psc) -> None:
        self.psc = psc
        self.clock = psc.clock

    @property
    def wallet(self) -> str:
        return self.psc.settings.wallet_url

    def page_url(self, tx: LoginTransaction, step: str = "") -> str:
        return f"{self.wallet}/login/{tx.id}{'/' + step if step else ''}"

    # -- the authorization request -----------------------------------------------------

    def start(self, session: Session, request: AuthRequest, cookie_session: str | None) -> Next:
        psc_session = self.psc.tokens.live_session(session, cookie_session)
        if psc_session is not None and self._reusable(psc_session, request):
            return Next(self._code_redirect(session, request, psc_session))
        if "none" in request.prompt:
            return Next(
                self.error_redirect(
                    request.redirect_uri, request.state, "login_required", "no active session"
                )
            )
        now = self.clock.now()
        tx = LoginTransaction(
            id=str(uuid.uuid4()),
            client_id=request.client.client_id,
            redirect_uri=request.redirect_uri,
            scope=request.scope,
            state=request.state,
            nonce=request.nonce,
            code_challenge=request.code_challenge,
            login_hint=request.login_hint,
            created_at=now,
            expires_at=now + dt.timedelta(seconds=self.psc.settings.login_lifetime),
        )
        session.add(tx)
        return Next(self.page_url(tx))

    def _reusable(self, psc_session: LoginSession, request: AuthRequest) -> bool:
        """OIDC Core §3.1.2.1: ``prompt=login`` and ``max_age`` ask for a fresh login; a
        ``login_hint`` naming someone else does too."""
        if "login" in request.prompt:
            return False
        age = (self.clock.now() - psc_session.auth_time).total_seconds()
        if request.max_age is not None and age > request.max_age:
            return False
        if request.login_hint:
            pro = self.psc.registry.professional(request.login_hint)
            return pro is not None and pro.id == psc_session.professional_id
        return True

    def _code_redirect(self, session: Session, request: AuthRequest, psc_session: LoginSession) -> str:
        code = self.psc.oidc.issue_code(
            session,
            client_id=request.client.client_id,
            redirect_uri=request.redirect_uri,
            scope=request.scope,
            nonce=request.nonce,
            code_challenge=request.code_challenge,
            session_id=psc_session.id,
        )
        return redirect_to(
            request.redirect_uri, {"code": code, "state": request.state, "iss": self.psc.tokens.issuer}
        )

    def error_redirect(self, redirect_uri: str, state: str | None, error: str, description: str) -> str:
        return redirect_to(
            redirect_uri,
            {"error": error, "error_description": description, "state": state, "iss": self.psc.tokens.issuer},
        )

    # -- the transaction ---------------------------------------------------------------

    def transaction(self, session: Session, tx_id: str) -> LoginTransaction:
        tx = session.get(LoginTransaction, tx_id)
        if tx is None:
            raise PageError("Demande inconnue", "Cette demande de connexion n'existe pas.", status=404)
        if tx.finished_at is not None:
            raise PageError("Demande terminée", "Cette demande de connexion est déjà terminée.", status=410)
        if tx.expires_at <= self.clock.now():
            raise PageError(
                "Demande expirée",
                "Cette demande de connexion a expiré. Recommencez depuis votre logiciel.",
                status=410,
            )
        return tx

    def professional(self, tx: LoginTransaction) -> Professional:
        pro = self.psc.registry.professionals().get(tx.professional_id or "")
        if pro is None:
            raise PageError("Identification requise", "Indiquez d'abord votre identifiant.", status=409)
        return pro

    def identify(self, tx: LoginTransaction, identifier: str) -> Professional | None:
        pro = self.psc.registry.professional(identifier) if identifier.strip() else None
        if pro is not None:
            tx.professional_id = pro.id
        return pro

    def cancel(self, tx: LoginTransaction) -> Next:
        tx.finished_at = self.clock.now()
        return Next(
            self.error_redirect(
                tx.redirect_uri, tx.state, "access_denied", "the professional cancelled the login"
            )
        )

    def complete(
        self, session: Session, tx: LoginTransaction, pro: Professional, mode: AuthMode, amr: list[str]
    ) -> Next:
        """The second factor is proven: open the PSC session and send the code back."""
        psc_session = self.psc.tokens.open_session(session, pro, mode, amr)
        tx.finished_at = self.clock.now()
        code = self.psc.oidc.issue_code(
            session,
            client_id=tx.client_id,
            redirect_uri=tx.redirect_uri,
            scope=tx.scope,
            nonce=tx.nonce,
            code_challenge=tx.code_challenge,
            session_id=psc_session.id,
        )
        url = redirect_to(tx.redirect_uri, {"code": code, "state": tx.state, "iss": self.psc.tokens.issuer})
        return Next(url, psc_session.id)

    # -- the second factors ------------------------------------------------------------

    def card(self, session: Session, tx: LoginTransaction, pin: str) -> Next | PinResult:
        pro = self.professional(tx)
        result = self.psc.factors.check_pin(session, pro, pin)
        if result.ok:
            return self.complete(session, tx, pro, "CARD", AMR_CARD)
        return result

    def push(self, session: Session, tx: LoginTransaction) -> EcpsRequest:
        pro = self.professional(tx)
        if not pro.ecps.enrolled:
            raise PageError(
                "e-CPS non activée", f"{pro.display_name} n'a pas activé d'application e-CPS.", status=409
            )
        client = self.psc.registry.client(tx.client_id)
        return self.psc.factors.push(
            session,
            pro,
            purpose="login",
            client_id=tx.client_id,
            binding_message=f"Connexion à {client.name if client else tx.client_id}",
        )

    def the_push(self, session: Session, tx: LoginTransaction, push_id: str) -> EcpsRequest:
        push = session.get(EcpsRequest, push_id)
        if push is None or push.professional_id != tx.professional_id or push.purpose != "login":
            raise PageError("Notification inconnue", "Cette notification e-CPS n'existe pas.", status=404)
        return push

    def push_outcome(self, session: Session, tx: LoginTransaction, push_id: str) -> Next | None:
        """``None`` while the push waits; then the code (approved) or the error (refused,
        expired) goes back to the client."""
        push = self.the_push(session, tx, push_id)
        status = self.psc.factors.status(push)
        if status == "pending":
            return None
        if status == "approved":
            return self.complete(session, tx, self.professional(tx), "MOBILE", AMR_PUSH)
        tx.finished_at = self.clock.now()
        reason = (
            "the professional refused the e-CPS notification"
            if status == "refused"
            else "the e-CPS notification expired without an answer"
        )
        return Next(self.error_redirect(tx.redirect_uri, tx.state, "access_denied", reason))

    def totp(self, session: Session, tx: LoginTransaction, code: str) -> Next | None:
        pro = self.professional(tx)
        if self.psc.factors.check_totp(session, pro, code):
            return self.complete(session, tx, pro, "MOBILE", AMR_TOTP)
        return None

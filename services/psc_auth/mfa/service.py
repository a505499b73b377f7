"""Second-factor state and checks (flushes, never commits)."""

from __future__ import annotations

import datetime as dt
import hmac
import uuid
from dataclasses import dataclass
from typing import Literal, cast

import pyotp
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.psc_auth.clock import Clock
from services.psc_auth.errors import ConflictError, NotFoundError
from services.psc_auth.models import EcpsRequest, FactorState
from shared.personas import Professional

#: "Après trois saisies erronées du code porteur, la carte est bloquée" (like a real CPS).
MAX_PIN_ATTEMPTS = 3
#: RFC 6238 defaults, those of the e-CPS app and every authenticator: 6 digits, 30 s, SHA-1.
TOTP_STEP = 30

PushStatus = Literal["pending", "approved", "refused", "expired"]


@dataclass(frozen=True)
class PinResult:
    ok: bool
    remaining: int
    blocked: bool


class Factors:
    def __init__(self, clock: Clock, push_lifetime: int) -> None:
        self.clock = clock
        self.push_lifetime = push_lifetime

    # -- the CPS card ------------------------------------------------------------------

    def state(self, session: Session, pro_id: str) -> FactorState:
        state = session.get(FactorState, pro_id)
        if state is None:
            state = FactorState(professional_id=pro_id, failed_pins=0)
            session.add(state)
            session.flush()
        return state

    def card_blocked(self, session: Session, pro_id: str) -> bool:
        state = session.get(FactorState, pro_id)
        return state is not None and state.blocked_at is not None

    def check_pin(self, session: Session, pro: Professional, pin: str) -> PinResult:
        """One PIN presentation: a right PIN resets the counter, a wrong one counts, the
        third wrong one blocks the card; a blocked card refuses even the right PIN."""
        state = self.state(session, pro.id)
        if state.blocked_at is not None:
            return PinResult(ok=False, remaining=0, blocked=True)
        if hmac.compare_digest(pin.strip().encode(), pro.card.pin.encode()):
            state.failed_pins = 0
            return PinResult(ok=True, remaining=MAX_PIN_ATTEMPTS, blocked=False)
        state.failed_pins += 1
        if state.failed_pins >= MAX_PIN_ATTEMPTS:
            state.blocked_at = self.clock.now()
        return PinResult(
            ok=False,
            remaining=max(MAX_PIN_ATTEMPTS - state.failed_pins, 0),
            blocked=state.blocked_at is not None,
        )

    def unblock(self, session: Session, pro_id: str) -> FactorState:
        """What the card's PUK does (through the sandbox controls here)."""
        state = self.state(session, pro_id)
        state.failed_pins, state.blocked_at = 0, None
        return state

    # -- the e-CPS app: TOTP -----------------------------------------------------------

    def totp_now(self, pro: Professional) -> tuple[str, int]:
        """The code the app shows now, and how many seconds it stays valid."""
        now = self.clock.time()
        code = pyotp.TOTP(pro.ecps.totp_secret, interval=TOTP_STEP).at(now)
        return code, TOTP_STEP - int(now) % TOTP_STEP

    def check_totp(self, session: Session, pro: Professional, code: str) -> bool:
        """RFC 6238 §5.2: one step of clock drift either way, and an accepted code (its
        time step) is never accepted again."""
        code = code.strip().replace(" ", "")
        if not pro.ecps.enrolled or len(code) != 6 or not code.isdigit():
            return False
        totp = pyotp.TOTP(pro.ecps.totp_secret, interval=TOTP_STEP)
        now = self.clock.time()
        state = self.state(session, pro.id)
        for drift in (0, -1, 1):
            at = now + drift * TOTP_STEP
            step = int(at) // TOTP_STEP
            if hmac.compare_digest(totp.at(at), code):
                if state.last_totp_step is not None and step <= state.last_totp_step:
                    return False
                state.last_totp_step = step
                return True
        return False

    # -- the e-CPS app: pushes ---------------------------------------------------------

    def push(
        self,
        session: Session,
        pro: Professional,
        *,
        purpose: Literal["login", "ciba"],
        client_id: str,
        binding_message: str | None,
        lifetime: int | None = None,
    ) -> EcpsRequest:
        now = self.clock.now()
        request = EcpsRequest(
            id=str(uuid.uuid4()),
            professional_id=pro.id,
            purpose=purpose,
            client_id=client_id,
            binding_message=binding_message,
            status="pending",
            created_at=now,
            expires_at=now + dt.timedelta(seconds=lifetime or self.push_lifetime),
        )
        session.add(request)
        session.flush()
        return request

    def status(self, request: EcpsRequest) -> PushStatus:
        if request.status == "pending" and request.expires_at <= self.clock.now():
            return "expired"
        return cast(PushStatus, request.status)

    def pending(self, session: Session, pro_id: str | None = None) -> list[EcpsRequest]:
        query = select(EcpsRequest).where(
            EcpsRequest.status == "pending", EcpsRequest.expires_at > self.clock.now()
        )
        if pro_id is not None:
            query = query.where(EcpsRequest.professional_id == pro_id)
        return list(session.scalars(query.order_by(EcpsRequest.created_at)))

    def answer(
        self, session: Session, request_id: str, approve: bool, pro_id: str | None = None
    ) -> EcpsRequest:
        """Accept or Refuse on the app: only a pending, unexpired push of that professional."""
        request = session.get(EcpsRequest, request_id)
        if request is None or (pro_id is not None and request.professional_id != pro_id):
            raise NotFoundError(f"no e-CPS request '{request_id}'")
        status = self.status(request)
        if status != "pending":
            raise ConflictError(f"the e-CPS request is already {status}")
        request.status = "approved" if approve else "refused"
        request.answered_at = self.clock.now()
        return request

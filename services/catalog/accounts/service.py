"""Patients' accounts: first activation, sign-in with a one-time code, spaces, caregivers.

What Mon espace santé does not publish is the sandbox's own (README, fictitious):

* activation: the INS (numéro de sécurité sociale), the activation code of the letter, the
  birth date, and a new password of 8 characters or more;
* sign-in: the INS and the password, then a 6-digit code "sent" by SMS or e-mail, valid
  5 minutes, 3 wrong tries (readable in ``GET /_sandbox/one-time-codes``);
* spaces: a person reaches their own space, the space of a child they are the legal
  representative of (until the child is 18), and the space of a patient who delegated to
  them (aidant) until the end date, with the rights chosen by the patient.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.catalog.models import Account, Delegation, LoginSession, OneTimeCode
from services.catalog.service import PATIENT_SCOPES, find_patient, is_minor, parse_scope, today
from shared.db.base import utcnow
from shared.errors import BadRequestError, ForbiddenError, NotFoundError, UnauthorizedError
from shared.personas import Patient, Personas

PASSWORD_ITERATIONS = 2_000
#: Rights a patient can delegate to a caregiver (the scopes of their token).
DELEGABLE = (
    "documents.read",
    "documents.write",
    "mesures.read",
    "mesures.write",
    "messages.read",
    "messages.write",
    "agenda.read",
    "profil.read",
    "dmp.manage",
)


# -- passwords -----------------------------------------------------------------------------


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """PBKDF2-SHA256 (stdlib); few iterations on purpose: the personas' passwords are public."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, PASSWORD_ITERATIONS)
    encode = base64.b64encode
    return f"pbkdf2_sha256${PASSWORD_ITERATIONS}${encode(salt).decode()}${encode(digest).decode()}"


def check_password(password: str, stored: str | None) -> bool:
    if not stored:
        return False
    try:
        _, iterations, salt, digest = stored.split("$")
        computed = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), int(iterations))
    except ValueError:
        return False
    return hmac.compare_digest(base64.b64encode(computed).decode(), digest)


def mask(destination: str) -> str:
    """``+33600000001`` → ``+33 6 •• •• •• 01``; ``claire@example.org`` → ``c•••@example.org``."""
    if "@" in destination:
        name, _, domain = destination.partition("@")
        return f"{name[:1]}•••@{domain}"
    return f"{destination[:3]} {destination[3:4]} •• •• •• {destination[-2:]}"


# -- accounts ------------------------------------------------------------------------------


def account_by_ins(session: Session, ins: str) -> Account | None:
    return session.scalars(select(Account).where(Account.ins == ins.replace(" ", ""))).first()


def activate(
    session: Session, personas: Personas, ins: str, code: str, birth_date: dt.date, password: str
) -> Account:
    """The first activation (the letter's code); the account can then sign in."""
    account = account_by_ins(session, ins)
    if account is None or not hmac.compare_digest(account.activation_code, code.strip().upper()):
        raise UnauthorizedError(
            "numéro de sécurité sociale ou code d'activation incorrect", error="invalid_code"
        )
    if account.activated_at is not None:
        raise BadRequestError("ce compte est déjà activé : connectez-vous", error="already_activated")
    if personas.patient(account.patient).birth_date != birth_date:
        raise UnauthorizedError("la date de naissance ne correspond pas", error="invalid_code")
    if len(password) < 8:
        raise BadRequestError("le mot de passe doit compter au moins 8 caractères", error="weak_password")
    account.password_hash = hash_password(password)
    account.activated_at = utcnow()
    session.flush()
    return account


# -- sign-in -------------------------------------------------------------------------------


def _session_id() -> str:
    return secrets.token_urlsafe(32)


def start_login(
    session: Session, ins: str, password: str, channel: str, lifetime: int, otp_lifetime: int
) -> tuple[LoginSession, OneTimeCode]:
    """Step 1: the password is right; a one-time code is sent (step 2 checks it)."""
    account = account_by_ins(session, ins)
    if account is not None and account.activated_at is None:
        raise ForbiddenError("ce compte n'est pas encore activé", error="not_activated")
    if account is None or not check_password(password, account.password_hash):
        raise UnauthorizedError("identifiant ou mot de passe incorrect", error="invalid_credentials")
    now = utcnow()
    login = LoginSession(
        id=_session_id(),
        account=account.patient,
        stage="password",
        csrf=secrets.token_urlsafe(16),
        created_at=now,
        expires_at=now + dt.timedelta(seconds=lifetime),
    )
    session.add(login)
    return login, send_code(session, login, account, channel, otp_lifetime)


def send_code(
    session: Session, login: LoginSession, account: Account, channel: str, lifetime: int
) -> OneTimeCode:
    now = utcnow()
    for previous in session.scalars(
        select(OneTimeCode).where(OneTimeCode.session_id == login.id, OneTimeCode.used_at.is_(None))
    ):
        previous.used_at = now  # a new code replaces the previous one
    code = OneTimeCode(
        id=str(uuid.uuid4()),
        session_id=login.id,
        account=account.patient,
        code=f"{secrets.randbelow(1_000_000):06d}",
        channel="email" if channel == "email" else "sms",
        destination=account.email if channel == "email" else account.phone,
        attempts=0,
        created_at=now,
        expires_at=now + dt.timedelta(seconds=lifetime),
    )
    session.add(code)
    session.flush()
    return code


def pending_code(session: Session, login: LoginSession) -> OneTimeCode | None:
    return session.scalars(
        select(OneTimeCode)
        .where(OneTimeCode.session_id == login.id, OneTimeCode.used_at.is_(None))
        .order_by(OneTimeCode.created_at.desc())
    ).first()


def check_code(session: Session, login: LoginSession, value: str, max_attempts: int) -> None:
    """Step 2: the one-time code; three wrong tries (or an old code) end the attempt."""
    code = pending_code(session, login)
    now = utcnow()
    if code is None or code.expires_at <= now:
        raise UnauthorizedError("ce code a expiré : demandez-en un nouveau", error="expired_code")
    if not hmac.compare_digest(code.code, value.strip()):
        code.attempts += 1
        if code.attempts >= max_attempts:
            code.used_at = now
            login.stage = "failed"
            session.flush()
            raise UnauthorizedError("trop d'essais : recommencez la connexion", error="too_many_attempts")
        session.flush()
        left = max_attempts - code.attempts
        raise UnauthorizedError(f"code incorrect ({left} essai(s) restant(s))", error="invalid_code")
    code.used_at = now
    login.stage = "authenticated"
    login.space = login.account
    login.actor = "patient"
    session.flush()


def current_login(session: Session, session_id: str | None) -> LoginSession | None:
    if not session_id:
        return None
    login = session.get(LoginSession, session_id)
    if login is None or login.expires_at <= utcnow():
        return None
    return login


def latest_codes(session: Session, patient: str, limit: int = 10) -> list[OneTimeCode]:
    return list(
        session.scalars(
            select(OneTimeCode)
            .where(OneTimeCode.account == patient)
            .order_by(OneTimeCode.created_at.desc())
            .limit(limit)
        )
    )


# -- spaces and delegations ----------------------------------------------------------------


@dataclass(frozen=True)
class Space:
    """A space the signed-in person may open: whose, as whom, with which rights."""

    patient: Patient
    actor: str
    rights: tuple[str, ...]
    until: dt.date | None = None

    @property
    def label(self) -> str:
        if self.actor == "patient":
            return "Mon espace"
        if self.actor == "representant_legal":
            return f"Espace de {self.patient.display_name} (représentant légal)"
        end = self.until.strftime("%d/%m/%Y") if self.until else ""
        return f"Espace de {self.patient.display_name} (aidant, jusqu'au {end})"


def active_delegation(session: Session, patient: str, caregiver: str) -> Delegation | None:
    delegation = session.scalars(
        select(Delegation).where(
            Delegation.patient == patient, Delegation.caregiver == caregiver, Delegation.revoked_at.is_(None)
        )
    ).first()
    if delegation is None or delegation.until < today():
        return None
    return delegation


def spaces_of(session: Session, personas: Personas, person: str) -> list[Space]:
    """Every space ``person`` may open, their own first."""
    own = personas.patient(person)
    spaces = [Space(own, "patient", tuple(parse_scope(PATIENT_SCOPES)))]
    for child in personas.patients:
        if person in child.legal_representatives and is_minor(child):
            spaces.append(Space(child, "representant_legal", tuple(parse_scope(PATIENT_SCOPES))))
    delegations = session.scalars(
        select(Delegation).where(Delegation.caregiver == person, Delegation.revoked_at.is_(None))
    )
    for delegation in delegations:
        if delegation.until >= today():
            spaces.append(
                Space(
                    personas.patient(delegation.patient), "aidant", tuple(delegation.rights), delegation.until
                )
            )
    return spaces


def delegations_of(session: Session, patient: str) -> list[Delegation]:
    return list(
        session.scalars(
            select(Delegation)
            .where(Delegation.patient == patient, Delegation.revoked_at.is_(None))
            .order_by(Delegation.created_at)
        )
    )


def delegate(
    session: Session, personas: Personas, patient: str, caregiver_ref: str, rights: list[str], until: dt.date
) -> Delegation:
    """The patient delegates their space to another account holder (replacing any previous one)."""
    try:
        caregiver = find_patient(personas, caregiver_ref)
    except NotFoundError:
        raise BadRequestError(
            "aucun compte Mon espace santé pour cet aidant", error="unknown_caregiver"
        ) from None
    if caregiver.id == patient:
        raise BadRequestError("on ne peut pas être son propre aidant", error="invalid_caregiver")
    unknown = [r for r in rights if r not in DELEGABLE]
    if unknown or not rights:
        raise BadRequestError(
            f"droits inconnus : {', '.join(unknown)}" if unknown else "choisissez au moins un droit",
            error="invalid_rights",
        )
    if until < today():
        raise BadRequestError("la date de fin est déjà passée", error="invalid_until")
    now = utcnow()
    for previous in delegations_of(session, patient):
        if previous.caregiver == caregiver.id:
            previous.revoked_at = now
    delegation = Delegation(
        id=str(uuid.uuid4()),
        patient=patient,
        caregiver=caregiver.id,
        rights=[r for r in DELEGABLE if r in rights],
        until=until,
        created_at=now,
    )
    session.add(delegation)
    session.flush()
    return delegation


def end_delegation(session: Session, patient: str, delegation_id: str) -> Delegation:
    delegation = session.get(Delegation, delegation_id)
    if delegation is None or delegation.patient != patient or delegation.revoked_at is not None:
        raise NotFoundError("aucune délégation de ce type")
    delegation.revoked_at = utcnow()
    session.flush()
    return delegation

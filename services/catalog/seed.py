"""Mon espace santé's seed: signing keys, one account per patient persona (activated or
not), the catalogue's apps and the caregivers' delegations of the personas.

The personas give fixed dates (a referencing from 2026-03-01 to 2027-03-01, a delegation
until 2027-12-31) that describe the state as of :data:`PERSONAS_AS_OF`. A period that was
still running then is moved forward by whole years when the calendar has passed its end,
so that whenever the seed is computed Ma Balance is still referenced and Claire still
Henri's caregiver (and the tests keep passing) instead of everything expiring on a fixed
day; a period that had ended by then (Carnet Tension's referencing) is kept as written.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid

from sqlalchemy.orm import Session

from services.catalog.accounts.service import hash_password
from services.catalog.catalogue.service import from_persona
from services.catalog.models import Account, Delegation, SigningKey
from services.catalog.service import today
from shared.oauth.keystore import KeyStore
from shared.personas import Personas

SEEDED_AT = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
#: The day the personas' dates describe.
PERSONAS_AS_OF = dt.date(2026, 11, 23)


def years_later(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def current_period(start: dt.date | None, end: dt.date, on: dt.date) -> tuple[dt.date | None, dt.date]:
    """``(start, end)`` moved forward by the whole years that make it still run ``on`` if it
    was running on :data:`PERSONAS_AS_OF`; unchanged otherwise."""
    if end <= PERSONAS_AS_OF or end > on:
        return start, end
    years = on.year - end.year
    while years_later(end, years) <= on:
        years += 1
    return (years_later(start, years) if start else None), years_later(end, years)


def _seed_hash(patient: str, password: str) -> str:
    # A salt derived from the persona: the seed stays the same from one start to the next.
    return hash_password(password, salt=hashlib.sha256(f"mes:salt:{patient}".encode()).digest()[:16])


def seed(session: Session, personas: Personas) -> None:
    on = today()
    KeyStore(SigningKey, "ES256", 0).create(session, "ES256")
    KeyStore(SigningKey, "RS256", 0).create(session, "RS256")
    for patient in personas.patients:
        account = patient.mes
        session.add(
            Account(
                patient=patient.id,
                ins=patient.ins,
                activation_code=account.activation_code,
                activated_at=SEEDED_AT if account.activated else None,
                password_hash=_seed_hash(patient.id, account.password) if account.activated else None,
                email=account.email,
                phone=account.phone,
            )
        )
        for caregiver in patient.caregivers:
            session.add(
                Delegation(
                    # Stable ids: the same personas give the same seed.
                    id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"mes:delegation:{patient.id}:{caregiver.person}")),
                    patient=patient.id,
                    caregiver=caregiver.person,
                    rights=list(caregiver.rights),
                    until=current_period(None, caregiver.until, on)[1],
                    created_at=SEEDED_AT,
                )
            )
    for app in personas.apps:
        row = from_persona(app)
        start, end = current_period(row.referenced_on, row.expires_on, on)
        row.referenced_on, row.expires_on = start or row.referenced_on, end
        session.add(row)

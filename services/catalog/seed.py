"""Mon espace santé's seed: signing keys, one account per patient persona (activated or
not), the catalogue's apps and the caregivers' delegations of the personas."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid

from sqlalchemy.orm import Session

from services.catalog.accounts.service import hash_password
from services.catalog.catalogue.service import from_persona
from services.catalog.models import Account, Delegation, SigningKey
from shared.oauth.keystore import KeyStore
from shared.personas import Personas

SEEDED_AT = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)


def _seed_hash(patient: str, password: str) -> str:
    # A salt derived from the persona: the seed stays the same from one start to the next.
    return hash_password(password, salt=hashlib.sha256(f"mes:salt:{patient}".encode()).digest()[:16])


def seed(session: Session, personas: Personas) -> None:
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
                    until=caregiver.until,
                    created_at=SEEDED_AT,
                )
            )
    for app in personas.apps:
        session.add(from_persona(app))

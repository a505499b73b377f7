"""Consents to data exchange and the pairing they create (fr-ecosystem.md §4).

"The holder's prior consent is always required before any exchange." One consent per
patient and app: granting (the consent page, or the sandbox shortcut) creates it with the
app-specific patient id (idPe) or makes a new version of it; revoking makes an inactive
version. Tokens remember the version they were issued under: a revocation refuses every
token of that app for that patient at once, and a later new consent does not bring the old
tokens back; a change of the consented data narrows the scope of the tokens in force.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.catalog.models import App, Consent, ConsentVersion
from shared.db.base import utcnow
from shared.errors import ConflictError, NotFoundError


def new_idpe() -> str:
    """The app-specific patient id (fictitious format: a UUID; README)."""
    return str(uuid.uuid4())


def find(session: Session, patient: str, app_id: str) -> Consent | None:
    return session.scalars(
        select(Consent).where(Consent.patient == patient, Consent.app_id == app_id)
    ).first()


def get(session: Session, consent_id: str) -> Consent:
    consent = session.get(Consent, consent_id)
    if consent is None:
        raise NotFoundError(f"no Consent '{consent_id}'", fhir_code="not-found")
    return consent


def of_patient(session: Session, patient: str) -> list[Consent]:
    return list(
        session.scalars(select(Consent).where(Consent.patient == patient).order_by(Consent.created_at))
    )


def versions(session: Session, consent_id: str) -> list[ConsentVersion]:
    return list(
        session.scalars(
            select(ConsentVersion)
            .where(ConsentVersion.consent_id == consent_id)
            .order_by(ConsentVersion.version.desc())
        )
    )


def _record(session: Session, consent: Consent, action: str, by_account: str, by_actor: str) -> None:
    session.add(
        ConsentVersion(
            consent_id=consent.id,
            version=consent.version,
            status=consent.status,
            grants=list(consent.grants),
            action=action,
            by_account=by_account,
            by_actor=by_actor,
            at=consent.updated_at,
        )
    )


def grant(
    session: Session, patient: str, app: App, grants: list[str], *, by_account: str, by_actor: str
) -> Consent:
    """The patient (or a parent) consents to exactly ``grants`` with ``app``."""
    now = utcnow()
    consent = find(session, patient, app.id)
    if consent is None:
        consent = Consent(
            id=str(uuid.uuid4()),
            patient=patient,
            app_id=app.id,
            idpe=new_idpe(),
            status="active",
            grants=list(grants),
            version=1,
            active_since=1,
            created_at=now,
            updated_at=now,
        )
        session.add(consent)
        action = "granted"
    elif consent.status == "active" and consent.grants == list(grants):
        return consent  # nothing changes: no new version
    else:
        action = "granted" if consent.status != "active" else "updated"
        consent.version += 1
        if consent.status != "active":
            consent.active_since = consent.version
        consent.status = "active"
        consent.grants = list(grants)
        consent.updated_at = now
    session.flush()
    _record(session, consent, action, by_account, by_actor)
    return consent


def revoke(session: Session, consent: Consent, *, by_account: str, by_actor: str) -> Consent:
    """From now on, every token of this app for this patient is refused (README)."""
    if consent.status != "active":
        raise ConflictError(f"the consent to '{consent.app_id}' is already revoked")
    consent.status = "inactive"
    consent.version += 1
    consent.updated_at = utcnow()
    session.flush()
    _record(session, consent, "revoked", by_account, by_actor)
    return consent

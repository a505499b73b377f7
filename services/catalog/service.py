"""What every part of Mon espace santé shares: the patients, the data vocabulary, the date.

The data categories and directions are the scopes of Mon espace santé tokens
(``shared/oauth/principals.py``): ``<category>.<read|write>``, plus ``dmp.manage`` for the
patient's own controls over the DMP and ``openid`` for an ID token.
"""

from __future__ import annotations

import datetime as dt

from shared.db.base import utcnow
from shared.errors import NotFoundError
from shared.personas import Patient, Personas

#: The data categories of Mon espace santé, as the consent page names them.
CATEGORIES: dict[str, str] = {
    "mesures": "Mesures de santé (poids, tension, glycémie...)",
    "documents": "Documents de santé",
    "agenda": "Agenda",
    "messages": "Messagerie de santé",
    "profil": "Profil médical",
}
ACCESS_LABELS: dict[str, str] = {"read": "lecture", "write": "écriture"}
DATA_SCOPES: tuple[str, ...] = tuple(f"{c}.{a}" for c in CATEGORIES for a in ACCESS_LABELS)

#: The patient's own scopes: everything in their space, and their controls over the DMP.
PATIENT_SCOPES = (
    "openid documents.read documents.write messages.read messages.write "
    "mesures.read mesures.write agenda.read profil.read dmp.manage"
)
#: The client id of the patient's space itself (its own calls to the DMP).
SPACE_CLIENT = "mon-espace-sante"
#: Minors are reached by their legal representatives until they come of age.
MAJORITY = 18


def today() -> dt.date:
    return utcnow().date()


def parse_scope(scope: str | None) -> list[str]:
    """A scope string as its distinct values, in order (RFC 6749 §3.3)."""
    seen: list[str] = []
    for value in (scope or "").split():
        if value not in seen:
            seen.append(value)
    return seen


def scope_label(scope: str) -> str:
    """``mesures.write`` → ``Mesures de santé (...) — écriture``."""
    category, _, access = scope.partition(".")
    if category in CATEGORIES and access in ACCESS_LABELS:
        return f"{CATEGORIES[category]} — {ACCESS_LABELS[access]}"
    if scope == "dmp.manage":
        return "Gestion de mon DMP (accès des professionnels, masquage, traces)"
    return scope


def find_patient(personas: Personas, reference: str) -> Patient:
    """By persona id or INS matricule."""
    patient = personas.patient_by_ins(reference)
    if patient is not None:
        return patient
    try:
        return personas.patient(reference)
    except KeyError:
        raise NotFoundError(f"no patient '{reference}' (persona id or INS)") from None


def is_minor(patient: Patient, on: dt.date | None = None) -> bool:
    day = on or today()
    birthday = patient.birth_date
    age = day.year - birthday.year - ((day.month, day.day) < (birthday.month, birthday.day))
    return age < MAJORITY

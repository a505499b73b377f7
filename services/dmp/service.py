"""The DMP's business logic (flushes, never commits: the request owns the transaction)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.dmp.models import Dossier
from shared import identifiers
from shared.errors import BadRequestError


def parse_ins_token(value: str) -> tuple[str, str]:
    """``urn:oid:<OID>|<INS>`` → (OID, INS), both checked (the INS key included)."""
    system, sep, ins = value.partition("|")
    if not sep or not system or not ins:
        raise BadRequestError(
            f"identifier must be 'urn:oid:<INS OID>|<INS>', got '{value}'", expression=["identifier"]
        )
    try:
        oid = identifiers.validate_ins_oid(system)
        identifiers.validate_ins(ins)
    except identifiers.IdentifierError as exc:
        raise BadRequestError(str(exc), expression=["identifier"]) from exc
    return oid, ins


def find_dossier(session: Session, oid: str, ins: str) -> Dossier | None:
    return session.scalars(select(Dossier).where(Dossier.ins_oid == oid, Dossier.ins == ins)).first()


def patient_resource(dossier: Dossier, base_url: str) -> dict[str, Any]:
    """TD0.2's Patient: ``active`` tells an open (true) from a closed (false) DMP."""
    return {
        "resourceType": "Patient",
        "id": dossier.id,
        "identifier": [
            {
                "use": "official",
                "system": f"urn:oid:{dossier.ins_oid}",
                "value": dossier.ins,
                "type": {
                    "coding": [
                        {
                            "system": "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203",
                            "code": identifiers.INS_TYPES[dossier.ins_oid],
                        }
                    ]
                },
            }
        ],
        "active": dossier.status == "open",
        "name": [{"use": "official", "family": dossier.family_name, "given": dossier.given_names.split()}],
        "gender": dossier.gender,
        "birthDate": dossier.birth_date.isoformat(),
    }

"""Consents as FHIR R4 ``Consent`` resources (https://hl7.org/fhir/R4/consent.html).

A consent to data exchange is a privacy consent (``scope`` = ``patient-privacy``), opt-in
(``policyRule`` = ``OPTIN``), whose recipient is the app (``provision.actor`` with role
``IRCP``), with one nested provision per data category and direction: ``access`` for the
app reading, ``collect`` for the app writing into Mon espace santé (consentaction). The
category codes are the sandbox's own CodeSystem (fictitious, README). A revoked consent is
``inactive`` and its provision's period ends at the revocation. Each change is a version
(``meta.versionId``), readable through ``_history``.
"""

from __future__ import annotations

from typing import Any

from services.catalog.models import App, Consent, ConsentVersion
from services.catalog.service import CATEGORIES
from shared.personas import Patient, Personas

CATEGORY_SYSTEM = "https://mes-sandbox.example/fhir/CodeSystem/categorie-donnees"
ACTIONS = {"read": "access", "write": "collect"}


def _instant(value: Any) -> str:
    return str(value.isoformat(timespec="seconds")).replace("+00:00", "Z")


def _person(patient: Patient) -> dict[str, Any]:
    return {
        "identifier": {"system": patient.ins_system, "value": patient.ins},
        "display": patient.display_name,
    }


def _provision(grant: str) -> dict[str, Any]:
    category, _, access = grant.partition(".")
    return {
        "type": "permit",
        "action": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/consentaction",
                        "code": ACTIONS.get(access, access),
                    }
                ],
                "text": "lecture" if access == "read" else "écriture",
            }
        ],
        "code": [
            {"coding": [{"system": CATEGORY_SYSTEM, "code": category, "display": CATEGORIES.get(category)}]}
        ],
    }


def resource(
    consent: Consent, version: ConsentVersion, app: App, personas: Personas, activated: ConsentVersion
) -> dict[str, Any]:
    """The consent as it stood at ``version`` (``activated``: when it last became active)."""
    patient = personas.patient(consent.patient)
    period: dict[str, str] = {"start": _instant(activated.at)}
    if version.status != "active":
        period["end"] = _instant(version.at)
    return {
        "resourceType": "Consent",
        "id": consent.id,
        "meta": {"versionId": str(version.version), "lastUpdated": _instant(version.at)},
        "identifier": [{"use": "secondary", "system": f"urn:oid:{app.editor_oid}", "value": consent.idpe}],
        "status": version.status,
        "scope": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                    "code": "patient-privacy",
                    "display": "Privacy Consent",
                }
            ]
        },
        "category": [
            {"coding": [{"system": "http://loinc.org", "code": "59284-0", "display": "Patient Consent"}]}
        ],
        "patient": _person(patient),
        "dateTime": _instant(version.at),
        "performer": [_person(personas.patient(version.by_account))],
        "organization": [{"display": "Mon espace santé"}],
        "policyRule": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}]
        },
        "provision": {
            "type": "permit",
            "period": period,
            "actor": [
                {
                    "role": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                                "code": "IRCP",
                                "display": "information recipient",
                            }
                        ]
                    },
                    "reference": {
                        "identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:oid:{app.editor_oid}"},
                        "display": f"{app.name} ({app.editor})",
                    },
                }
            ],
            "provision": [_provision(grant) for grant in version.grants],
        },
    }


def activated_version(history: list[ConsentVersion], version: int) -> ConsentVersion:
    """The version at which the consent last became active, as of ``version``."""
    current = None
    for item in sorted(history, key=lambda v: v.version):
        if item.version > version:
            break
        if item.action == "granted":
            current = item
    assert current is not None
    return current

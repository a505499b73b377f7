"""An access trace as a FHIR R4 ``AuditEvent`` (IHE BALP-style; MHD audit profiles)."""

from __future__ import annotations

from typing import Any

from services.dmp import terminology as term
from services.dmp.audit.service import SUBTYPES
from services.dmp.dates import instant
from services.dmp.models import AuditRecord

DCM = "http://dicom.nema.org/resources/ontology/DCM"
#: DICOM event ids (audit "type") of each action.
EVENT_TYPES = {
    "C": ("110107", "Import"),
    "R": ("110106", "Export"),
    "U": ("110110", "Patient Record"),
    "D": ("110110", "Patient Record"),
    "E": ("110112", "Query"),
}
IHE_EVENT_TYPE = "urn:ihe:event-type-code"
OUTCOMES = {"0": "Success", "4": "Minor failure", "8": "Serious failure"}
AGENT_ROLES = {
    "professional": ("PROV", "healthcare provider"),
    "patient": ("PAT", "patient"),
    "aidant": ("CAREGIVER", "caregiver"),
    "representant_legal": ("GUARD", "guardian"),
    "app": ("AUCG", "application"),
    "software": ("AUCG", "application"),
}


def _agent(row: AuditRecord) -> dict[str, Any]:
    code, display = AGENT_ROLES.get(row.agent_kind, ("AUCG", row.agent_kind))
    who: dict[str, Any] = {"display": row.agent_name}
    if row.agent_kind == "professional":
        who["identifier"] = {"system": "urn:oid:1.2.250.1.71.4.2.1", "value": row.agent_id}
    else:
        who["identifier"] = {"system": "urn:mes-sandbox:mon-espace-sante:account", "value": row.agent_id}
    agent: dict[str, Any] = {
        "type": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-RoleClass",
                    "code": code,
                    "display": display,
                }
            ]
        },
        "who": who,
        "requestor": True,
        "purposeOfUse": [_purpose(row)],
    }
    if row.client_id:
        agent["altId"] = row.client_id
    if row.agent_org:
        agent["location"] = {"display": row.agent_org}
    return agent


def _purpose(row: AuditRecord) -> dict[str, Any]:
    purpose: dict[str, Any] = {
        "coding": [
            {
                "system": term.TRE_R248,
                "code": row.access_mode,
                "display": term.ACCESS_MODES.get(row.access_mode, row.access_mode),
            }
        ]
    }
    if row.reason:
        purpose["text"] = row.reason
    return purpose


def audit_event(row: AuditRecord) -> dict[str, Any]:
    code, display = EVENT_TYPES[row.action]
    entities: list[dict[str, Any]] = []
    if row.patient_ins:
        entities.append(
            {
                "what": {
                    "identifier": {"system": f"urn:oid:{row.patient_ins_oid}", "value": row.patient_ins}
                },
                "type": {
                    "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
                    "code": "1",
                    "display": "Person",
                },
                "role": {
                    "system": "http://terminology.hl7.org/CodeSystem/object-role",
                    "code": "1",
                    "display": "Patient",
                },
            }
        )
    for entity in row.entities:
        entities.append(
            {
                "what": {"reference": f"{entity['type']}/{entity['id']}"},
                "type": {
                    "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
                    "code": "2",
                    "display": "System Object",
                },
                "role": {
                    "system": "http://terminology.hl7.org/CodeSystem/object-role",
                    "code": "3",
                    "display": "Report",
                },
            }
        )
    if row.query:
        entities.append(
            {
                "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2"},
                "role": {
                    "system": "http://terminology.hl7.org/CodeSystem/object-role",
                    "code": "24",
                    "display": "Query",
                },
                "description": row.query[:1000],
            }
        )
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": row.id,
        "type": {"system": DCM, "code": code, "display": display},
        "subtype": [
            {"system": IHE_EVENT_TYPE, "code": row.subtype, "display": SUBTYPES.get(row.subtype, row.subtype)}
        ],
        "action": row.action,
        "recorded": instant(row.recorded),
        "outcome": row.outcome,
        "purposeOfEvent": [_purpose(row)],
        "agent": [_agent(row)],
        "source": {
            "observer": {"display": "DMP (mes-sandbox)"},
            "type": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/security-source-type",
                    "code": "4",
                    "display": "Application Server",
                }
            ],
        },
    }
    if row.outcome_desc:
        event["outcomeDesc"] = row.outcome_desc
    if entities:
        event["entity"] = entities
    return event

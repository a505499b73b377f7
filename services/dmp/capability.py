"""The CapabilityStatement (``GET /fhir/metadata``): what works here, and only that.

IHE ITI TF-2x Appendix Z.3; MHD Document Recipient (Comprehensive) and Document Responder.
The search parameters listed are the very sets the search code reads
(``documents.search.DOCUMENT_PARAMS`` / ``LIST_PARAMS``, ``audit.routes.AUDIT_PARAMS``):
a test checks that each one is listed. ``patchFormat`` lists the PATCH formats accepted
(PDSm ``st_maj.md``: declare JSON Patch when it is accepted).
"""

from __future__ import annotations

from typing import Any

from services.dmp.settings import DmpSettings

FORMATS = ["application/fhir+json", "application/fhir+xml"]
PATCH_FORMATS = ["application/json-patch+json", "application/fhir+json", "application/fhir+xml"]
MHD = "https://profiles.ihe.net/ITI/MHD/CapabilityStatement"
PDSM = "https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition"

#: name → (type, documentation), for each resource's search.
DOCUMENT_SEARCH = {
    "patient": ("reference", "Patient/<id> of the DMP"),
    "patient.identifier": ("token", "the INS: <system>|<INS> (MHD, PDSm)"),
    "patient:identifier": ("token", "the INS, Mon espace santé API spelling"),
    "status": ("token", "current | superseded (default current, with a warning)"),
    "type": ("token", "typeCode"),
    "category": ("token", "classCode"),
    "format": ("token", "formatCode"),
    "facility": ("token", "healthcareFacilityTypeCode"),
    "setting": ("token", "practiceSettingCode"),
    "security-label": ("token", "confidentialityCode and TRE_A07 visibility"),
    "event": ("token", "eventCodeList"),
    "date": ("date", "DocumentReference.date"),
    "creation": ("date", "attachment.creation (IHE DocumentReference-Creation)"),
    "period": ("date", "serviceStartTime/serviceStopTime overlap"),
    "period-start": ("date", "serviceStartTime (PDSm)"),
    "period-end": ("date", "serviceStopTime (PDSm)"),
    "identifier": ("token", "uniqueId (masterIdentifier) or logicalId (identifier)"),
    "related": ("token", "referenceIdList (context.related.identifier)"),
    "relatesto": ("reference", "documents replacing DocumentReference/<id>"),
    "relatesTo": ("reference", "PDSm spelling of relatesto"),
    "author.given": ("string", "author's given name (starts with)"),
    "author.family": ("string", "author's family name (starts with)"),
    "author.identifier": ("token", "author's idNatPS"),
    "isArchived": ("token", "true | false (PDSm)"),
}
LIST_SEARCH = {
    "patient": ("reference", "Patient/<id> of the DMP"),
    "patient.identifier": ("token", "the INS: <system>|<INS>"),
    "patient:identifier": ("token", "the INS, Mon espace santé API spelling"),
    "code": ("token", "MHDlistTypes: submissionset | folder"),
    "status": ("token", "current"),
    "date": ("date", "submissionTime"),
    "designationType": ("token", "contentTypeCode"),
    "identifier": ("token", "uniqueId or id"),
    "sourceId": ("token", "sourceId"),
    "title": ("string", "title (starts with)"),
    "source.given": ("string", "author's given name"),
    "source.family": ("string", "author's family name"),
    "source.identifier": ("token", "author's idNatPS"),
    "authorOrg": ("token", "the publishing structure (PSC SubjectOrganizationID)"),
}
AUDIT_SEARCH = {
    "patient.identifier": ("token", "the INS (required)"),
    "patient:identifier": ("token", "the INS, Mon espace santé API spelling"),
    "date": ("date", "recorded"),
    "action": ("token", "C | R | U | D | E"),
    "outcome": ("token", "0 | 4 | 8"),
    "subtype": ("token", "ITI-65, ITI-67, ITI-68, TD0.2, TD3.3..."),
    "agent.identifier": ("token", "the professional's idNatPS"),
    "purpose": ("token", "access mode: normal | bris_de_glace | centre_15"),
}


def _params(specs: dict[str, tuple[str, str]]) -> list[dict[str, str]]:
    return [{"name": name, "type": kind, "documentation": doc} for name, (kind, doc) in specs.items()]


def _resources() -> list[dict[str, Any]]:
    return [
        {
            "type": "DocumentReference",
            "profile": f"{PDSM}/pdsm-comprehensive-document-reference",
            "interaction": [
                {"code": "read"},
                {"code": "search-type", "documentation": "ITI-67 (GET and POST _search)"},
                {"code": "create", "documentation": "ITI-105 Simplified Publish"},
                {"code": "patch", "documentation": "TD3.3a-d; conditional on identifier"},
            ],
            "versioning": "versioned",
            "conditionalUpdate": False,
            "searchParam": _params(DOCUMENT_SEARCH),
        },
        {
            "type": "List",
            "profile": f"{PDSM}/pdsm-submissionset-comprehensive",
            "interaction": [{"code": "search-type", "documentation": "ITI-66 (GET and POST _search)"}],
            "searchParam": _params(LIST_SEARCH),
        },
        {
            "type": "Binary",
            "interaction": [
                {"code": "read", "documentation": "ITI-68: the raw document or the Binary resource"}
            ],
        },
        {
            "type": "Patient",
            "profile": "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient",
            "interaction": [
                {"code": "read"},
                {"code": "search-type", "documentation": "TD0.2"},
                {"code": "create", "documentation": "DMP creation (or reopening)"},
                {"code": "patch", "documentation": "DMP closure or reopening (active)"},
            ],
            "searchParam": _params({"identifier": ("token", "the INS: <system>|<INS>")}),
        },
        {
            "type": "AuditEvent",
            "interaction": [{"code": "search-type", "documentation": "access traces"}],
            "searchParam": _params(AUDIT_SEARCH),
        },
    ]


def capability_statement(base_url: str, settings: DmpSettings) -> dict[str, Any]:
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-23",
        "publisher": "mes-sandbox",
        "kind": "instance",
        "instantiates": [
            f"{MHD}/IHE.MHD.DocumentRecipient.Comprehensive",
            f"{MHD}/IHE.MHD.DocumentResponder",
        ],
        "software": {"name": "mes-sandbox DMP"},
        "implementation": {"description": "mes-sandbox DMP (PDSm / IHE MHD)", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": FORMATS,
        "patchFormat": PATCH_FORMATS,
        "rest": [
            {
                "mode": "server",
                "documentation": f"Deletion: {settings.deletion_mode} (MES_DMP_DELETION_MODE).",
                "security": {
                    "service": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                    "code": "OAuth",
                                }
                            ]
                        }
                    ],
                    "description": "Bearer tokens of Pro Santé Connect (professionals) or Mon espace santé "
                    "(patients, caregivers, legal representatives, apps). Access mode in X-DMP-Access-Mode.",
                },
                "resource": _resources(),
                "interaction": [{"code": "transaction", "documentation": "ITI-65 Provide Document Bundle"}],
            }
        ],
    }

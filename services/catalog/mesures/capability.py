"""The CapabilityStatement of Mon espace santé's FHIR base (FHIR R4 §capabilitystatement)."""

from __future__ import annotations

from typing import Any

SECURITY = "http://terminology.hl7.org/CodeSystem/restful-security-service"


def capability_statement(base: str) -> dict[str, Any]:
    observation_params = [
        {"name": "subject.identifier", "type": "token", "documentation": "<idPe system>|<idPe>, mandatory"},
        {"name": "code", "type": "token", "documentation": "the LOINC code of the measure, mandatory"},
        {"name": "date", "type": "date", "documentation": "'all' search: both bounds (ge/gt and le/lt)"},
        {"name": "_sort", "type": "string", "documentation": "'last' search: -date with _count=1"},
        {"name": "_count", "type": "number", "documentation": "at most 100, 50 by default"},
        {"name": "_offset", "type": "number", "documentation": "the first page is 0"},
    ]
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-23",
        "kind": "instance",
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "application/fhir+xml"],
        "implementation": {
            "description": "mes-sandbox Mon espace santé (mesures, consentements)",
            "url": base,
        },
        "rest": [
            {
                "mode": "server",
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
                    "description": "Bearer token of Mon espace santé: an app token with the consent",
                },
                "interaction": [{"code": "transaction"}],
                "resource": [
                    {
                        "type": "Observation",
                        "interaction": [{"code": "read"}, {"code": "search-type"}],
                        "searchInclude": ["Observation:device"],
                        "searchParam": observation_params,
                    },
                    {"type": "Device", "interaction": [{"code": "read"}], "conditionalCreate": True},
                    {
                        "type": "Consent",
                        "interaction": [
                            {"code": "read"},
                            {"code": "vread"},
                            {"code": "history-instance"},
                            {"code": "search-type"},
                        ],
                        "versioning": "versioned",
                        "searchParam": [
                            {"name": "patient.identifier", "type": "token"},
                            {"name": "status", "type": "token"},
                            {"name": "_id", "type": "token"},
                        ],
                    },
                ],
            }
        ],
    }

"""The ordonnance as a DMP document: an ITI-65 "Provide Document Bundle" (PDSm4DMP TD2).

A ``transaction`` Bundle: the submission set (``List``), the ``DocumentReference`` (type
LOINC ``57833-6`` "Prescription for medication", class TRE_A03 ``42`` Prescription —
fr-ecosystem.md §3.3 and §7 item 4 — format ``urn:ihe:iti:xds:2017:mimeTypeSufficient``)
and the PDF as a ``Binary``, in the shape of the ANS example
(../shared/reference/examples/pdsm4dmp-iti65-submission-bundle.json).
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from typing import Any

from services.mss.models import Ordonnance

TRE_A03 = "https://mos.esante.gouv.fr/NOS/TRE_A03-ClasseDocument/FHIR/TRE-A03-ClasseDocument"
LOINC = "http://loinc.org"
TYPE_CODE = "57833-6"
CLASS_CODE = "42"


def iti65_bundle(ordonnance: Ordonnance, pdf: bytes) -> dict[str, Any]:
    ids = [f"urn:uuid:{uuid.uuid4()}" for _ in range(3)]
    when = ordonnance.issued_at.isoformat()
    ins_system = f"urn:oid:{ordonnance.patient_ins_oid}"
    subject = {"reference": f"Patient?identifier={ins_system}|{ordonnance.patient_ins}"}
    contained = [
        {
            "resourceType": "Patient",
            "id": "patient-source",
            "identifier": [{"system": ins_system, "value": ordonnance.patient_ins}],
        },
        {
            "resourceType": "Practitioner",
            "id": "practitioner-author",
            "identifier": [{"system": "urn:oid:1.2.250.1.71.4.2.1", "value": ordonnance.prescriber_idnat}],
        },
    ]
    category = {"coding": [{"system": TRE_A03, "code": CLASS_CODE, "display": "Prescription"}]}
    submission = {
        "resourceType": "List",
        "meta": {
            "profile": [
                "https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/pdsm-submissionset-comprehensive"
            ]
        },
        "contained": contained,
        "extension": [
            {
                "url": "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-designationType",
                "valueCodeableConcept": category,
            },
            {
                "url": "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-sourceId",
                "valueIdentifier": {"system": "urn:ietf:rfc:3986", "value": "urn:oid:1.2.250.1.999.5.1"},
            },
            {
                "url": "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-sourcePatientId",
                "valueReference": {"reference": "#patient-source"},
            },
        ],
        "identifier": [
            {"use": "official", "system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{uuid.uuid4()}"}
        ],
        "status": "current",
        "mode": "working",
        "title": f"Ordonnance numérique {ordonnance.number}",
        "code": {
            "coding": [
                {
                    "system": "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes",
                    "code": "submissionset",
                }
            ]
        },
        "subject": subject,
        "date": when,
        "source": {"reference": "#practitioner-author"},
        "entry": [{"item": {"reference": ids[1]}}],
    }
    document = {
        "resourceType": "DocumentReference",
        "meta": {
            "profile": [
                "https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/pdsm-comprehensive-document-reference"
            ]
        },
        "contained": contained,
        "masterIdentifier": {
            "system": "urn:ietf:rfc:3986",
            "value": f"urn:oid:1.2.250.1.999.5.2.{uuid.uuid4().int % 10**12}",
        },
        "identifier": [{"system": "https://mes-sandbox.example/ordonnance", "value": ordonnance.number}],
        "status": "current",
        "type": {"coding": [{"system": LOINC, "code": TYPE_CODE, "display": "Prescription for medication"}]},
        "category": [category],
        "subject": subject,
        "date": when,
        "author": [{"reference": "#practitioner-author"}],
        "securityLabel": [
            {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "N"}]}
        ],
        "content": [
            {
                "attachment": {
                    "contentType": "application/pdf",
                    "language": "fr-FR",
                    "url": ids[2],
                    "size": len(pdf),
                    "hash": base64.b64encode(hashlib.sha1(pdf).digest()).decode(),  # noqa: S324 - FHIR attachment hash
                    "title": f"Ordonnance numérique {ordonnance.number}",
                    "creation": when,
                },
                "format": {
                    "system": "http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/formatcode",
                    "code": "urn:ihe:iti:xds:2017:mimeTypeSufficient",
                    "display": "mimeType Sufficient",
                },
            }
        ],
        "context": {
            "period": {"start": when},
            "sourcePatientInfo": {"reference": "#patient-source"},
            "facilityType": {
                "coding": [
                    {
                        "system": "https://mos.esante.gouv.fr/NOS/TRE_R02-SecteurActivite/FHIR/TRE-R02-SecteurActivite",
                        "code": "SA07",
                    }
                ]
            },
            "practiceSetting": {
                "coding": [
                    {
                        "system": "https://mos.esante.gouv.fr/NOS/TRE_A00-ProducteurDocNonPS/FHIR/TRE-A00-ProducteurDocNonPS",
                        "code": "ETABLISSEMENT",
                    }
                ]
            },
        },
    }
    binary = {
        "resourceType": "Binary",
        "contentType": "application/pdf",
        "data": base64.b64encode(pdf).decode(),
    }
    return {
        "resourceType": "Bundle",
        "meta": {
            "profile": [
                "https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/pdsm-comprehensive-provide-document-bundle"
            ]
        },
        "type": "transaction",
        "entry": [
            {"fullUrl": ids[0], "resource": submission, "request": {"method": "POST", "url": "List"}},
            {
                "fullUrl": ids[1],
                "resource": document,
                "request": {"method": "POST", "url": "DocumentReference"},
            },
            {"fullUrl": ids[2], "resource": binary, "request": {"method": "POST", "url": "Binary"}},
        ],
    }


def document_location(response: dict[str, Any]) -> str | None:
    """The DocumentReference's location in an ITI-65 transaction-response."""
    for entry in response.get("entry") or []:
        location = (entry.get("response") or {}).get("location") or ""
        if "DocumentReference/" in location:
            return str(location)
    return None

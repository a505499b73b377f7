"""Bundles and DocumentReferences built from the personas, for the DMP's tests."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

from shared.personas import Patient, Professional

# Copies of the ANS examples (../shared/reference/examples), kept in the repository so that a
# clean clone tests on its own.
EXAMPLES = Path(__file__).with_name("data")

TRE_A03 = "https://mos.esante.gouv.fr/NOS/TRE_A03-ClasseDocument/FHIR/TRE-A03-ClasseDocument"
TRE_A07 = (
    "https://mos.esante.gouv.fr/NOS/TRE_A07-StatutVisibiliteDocument/FHIR/TRE-A07-StatutVisibiliteDocument"
)
TRE_A11 = "https://mos.esante.gouv.fr/NOS/TRE_A11-IheFormatCode/FHIR/TRE-A11-IheFormatCode"
TRE_R02 = "https://mos.esante.gouv.fr/NOS/TRE_R02-SecteurActivite/FHIR/TRE-R02-SecteurActivite"
TRE_A01 = "https://mos.esante.gouv.fr/NOS/TRE_A01-CadreExercice/FHIR/TRE-A01-CadreExercice"
CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
MHD_LIST_TYPES = "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes"
IDNATPS = "urn:oid:1.2.250.1.71.4.2.1"


def example(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / name).read_text())
    return data


def sha1_b64(content: bytes) -> str:
    return base64.b64encode(hashlib.sha1(content).digest()).decode()


def pdf_bytes(size: int = 2048, seed: str = "") -> bytes:
    """A PDF-looking payload of ``size`` bytes (unique per ``seed``)."""
    head = f"%PDF-1.4\n% mes-sandbox test document {seed or uuid.uuid4()}\n".encode()
    return (head + b"0" * max(0, size - len(head) - 6) + b"\n%%EOF")[:size] if size > len(head) else head


def subject(patient: Patient) -> dict[str, str]:
    return {"reference": f"Patient?identifier={patient.ins_system}|{patient.ins}"}


def practitioner(pro: Professional, ident: str = "author") -> dict[str, Any]:
    return {
        "resourceType": "Practitioner",
        "id": ident,
        "identifier": [{"system": IDNATPS, "value": pro.idnat}],
        "name": [{"family": pro.family_name, "given": [pro.given_name]}],
    }


def document_reference(
    patient: Patient,
    author: Professional,
    content: bytes,
    *,
    binary_url: str | None = "urn:uuid:binary",
    unique_id: str | None = None,
    title: str = "Compte rendu de consultation",
    type_code: str = "11488-4",
    class_code: str = "10",
    visibility: tuple[str, ...] = (),
    inline: bool = False,
    date: str = "2026-06-12T10:00:00+02:00",
) -> dict[str, Any]:
    labels = [{"coding": [{"system": CONFIDENTIALITY, "code": "N"}]}]
    labels += [{"coding": [{"system": TRE_A07, "code": code}]} for code in visibility]
    attachment: dict[str, Any] = {
        "contentType": "application/pdf",
        "language": "fr-FR",
        "size": len(content),
        "hash": sha1_b64(content),
        "title": title,
        "creation": date,
    }
    if inline:
        attachment["data"] = base64.b64encode(content).decode()
    elif binary_url:
        attachment["url"] = binary_url
    return {
        "resourceType": "DocumentReference",
        "contained": [
            {
                "resourceType": "Patient",
                "id": "patient",
                "identifier": [{"system": patient.ins_system, "value": patient.ins}],
            },
            practitioner(author),
        ],
        "masterIdentifier": {"system": "urn:ietf:rfc:3986", "value": unique_id or f"urn:uuid:{uuid.uuid4()}"},
        "status": "current",
        "type": {"coding": [{"system": "http://loinc.org", "code": type_code}]},
        "category": [{"coding": [{"system": TRE_A03, "code": class_code}]}],
        "subject": subject(patient),
        "date": date,
        "author": [{"reference": "#author"}],
        "custodian": {
            "identifier": {"system": "urn:oid:1.2.250.1.71.4.2.2", "value": author.activities[0].organisation}
        },
        "securityLabel": labels,
        "content": [
            {"attachment": attachment, "format": {"system": TRE_A11, "code": "urn:ihe:iti:xds-sd:pdf:2008"}}
        ],
        "context": {
            "period": {"start": date},
            "facilityType": {"coding": [{"system": TRE_R02, "code": "SA07"}]},
            "practiceSetting": {"coding": [{"system": TRE_A01, "code": "AMBULATOIRE"}]},
            "sourcePatientInfo": {"reference": "#patient"},
        },
    }


def submission_set(patient: Patient, author: Professional, members: list[str]) -> dict[str, Any]:
    return {
        "resourceType": "List",
        "contained": [practitioner(author)],
        "extension": [
            {
                "url": "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-sourceId",
                "valueIdentifier": {"system": "urn:ietf:rfc:3986", "value": "urn:oid:1.2.250.1.999.42"},
            },
            {
                "url": "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-designationType",
                "valueCodeableConcept": {"coding": [{"system": TRE_R02, "code": "SA07"}]},
            },
        ],
        "status": "current",
        "mode": "working",
        "code": {"coding": [{"system": MHD_LIST_TYPES, "code": "submissionset"}]},
        "subject": subject(patient),
        "date": "2026-06-12T10:05:00+02:00",
        "source": {"reference": "#author"},
        "entry": [{"item": {"reference": member}} for member in members],
    }


def bundle(
    patient: Patient,
    author: Professional,
    documents: int = 1,
    *,
    content: bytes | None = None,
    replaces: str | None = None,
    **options: Any,
) -> dict[str, Any]:
    """An ITI-65 transaction: SubmissionSet, then per document a DocumentReference and its
    Binary; with ``replaces``, the UpdateDocumentRefs PATCH of that DocumentReference."""
    entries: list[dict[str, Any]] = []
    members = []
    docs = []
    for index in range(documents):
        payload = content if content is not None else pdf_bytes(1024, f"{uuid.uuid4()}")
        binary_url, doc_url = f"urn:uuid:{uuid.uuid4()}", f"urn:uuid:{uuid.uuid4()}"
        doc = document_reference(patient, author, payload, binary_url=binary_url, **options)
        if replaces and index == 0:
            doc["relatesTo"] = [
                {"code": "replaces", "target": {"reference": f"DocumentReference/{replaces}"}}
            ]
        members.append(doc_url)
        docs.append(
            (
                {
                    "fullUrl": doc_url,
                    "resource": doc,
                    "request": {"method": "POST", "url": "DocumentReference"},
                },
                {
                    "fullUrl": binary_url,
                    "resource": {
                        "resourceType": "Binary",
                        "contentType": "application/pdf",
                        "data": base64.b64encode(payload).decode(),
                    },
                    "request": {"method": "POST", "url": "Binary"},
                },
            )
        )
    entries.append(
        {
            "fullUrl": f"urn:uuid:{uuid.uuid4()}",
            "resource": submission_set(patient, author, members),
            "request": {"method": "POST", "url": "List"},
        }
    )
    if replaces:
        entries.append(
            {
                "fullUrl": f"urn:uuid:{uuid.uuid4()}",
                "resource": supersede_patch(),
                "request": {"method": "PATCH", "url": f"DocumentReference/{replaces}"},
            }
        )
    for doc_entry, binary_entry in docs:
        entries += [doc_entry, binary_entry]
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def supersede_patch() -> dict[str, Any]:
    return {
        "resourceType": "Parameters",
        "parameter": [
            {
                "name": "operation",
                "part": [
                    {"name": "type", "valueCode": "replace"},
                    {"name": "path", "valueString": "DocumentReference.status"},
                    {"name": "value", "valueCode": "superseded"},
                ],
            }
        ],
    }


def clone(resource: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(resource)

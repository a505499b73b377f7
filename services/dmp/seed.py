"""The DMP's seed: a DMP per patient persona who has one, the holders' choices from the
personas, and a few documents that show every visibility rule (fr-ecosystem.md §2.8).

Deterministic (ids are ``uuid5``): the same personas give the same seed.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from services.dmp import terminology as term
from services.dmp.documents.render import logical_identifier
from services.dmp.models import Binary, Document, DocumentList, Dossier, ProfessionalControl
from services.dmp.patients.service import subject_reference
from services.dmp.publication.metadata import attachment_hash
from shared.personas import Patient, Personas, Professional

SEEDED_AT = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
_NS = uuid.NAMESPACE_URL
PRACTITIONER_ID = "urn:oid:1.2.250.1.71.4.2.1"
SEED_SOURCE_ID = "urn:oid:1.2.250.1.999.9.1"


def _id(*parts: str) -> str:
    return str(uuid.uuid5(_NS, "dmp:" + ":".join(parts)))


@dataclass(frozen=True)
class SeedDocument:
    patient: str
    author: str
    title: str
    type_code: str
    type_display: str
    class_code: str
    class_display: str
    date: dt.datetime
    visibility: tuple[str, ...] = ()


DOCUMENTS = (
    SeedDocument(
        "dominique-pat-trois",
        "jeanne-martin",
        "Compte rendu de consultation",
        "11488-4",
        "Compte rendu de consultation",
        "10",
        "Compte rendu",
        dt.datetime(2025, 11, 3, 9, 30, tzinfo=dt.UTC),
    ),
    SeedDocument(
        "dominique-pat-trois",
        "karim-benali",
        "Compte rendu de consultation de cardiologie",
        "11488-4",
        "Compte rendu de consultation",
        "10",
        "Compte rendu",
        dt.datetime(2025, 12, 1, 14, 0, tzinfo=dt.UTC),
        (term.MASQUE_PS,),
    ),
    SeedDocument(
        "dominique-pat-trois",
        "jeanne-martin",
        "Résultats d'examens biologiques",
        "11502-2",
        "Compte rendu d'examens biologiques",
        "10",
        "Compte rendu",
        dt.datetime(2025, 12, 15, 8, 0, tzinfo=dt.UTC),
        (term.INVISIBLE_PATIENT,),
    ),
    SeedDocument(
        "lucas-pat-trois",
        "jeanne-martin",
        "Consultation pédiatrique",
        "11488-4",
        "Compte rendu de consultation",
        "10",
        "Compte rendu",
        dt.datetime(2025, 10, 20, 17, 0, tzinfo=dt.UTC),
    ),
    SeedDocument(
        "lucas-pat-trois",
        "jeanne-martin",
        "Consultation confidentielle",
        "11488-4",
        "Compte rendu de consultation",
        "10",
        "Compte rendu",
        dt.datetime(2025, 12, 10, 17, 0, tzinfo=dt.UTC),
        (term.INVISIBLE_RL,),
    ),
    SeedDocument(
        "gabriel-fontaine",
        "karim-benali",
        "Compte rendu d'hospitalisation",
        "34133-9",
        "Synthèse d'épisode de soins",
        "11",
        "Synthèse",
        dt.datetime(2025, 9, 12, 11, 0, tzinfo=dt.UTC),
    ),
    SeedDocument(
        "ghjulia-santoni",
        "karim-benali",
        "Compte rendu de consultation de cardiologie",
        "11488-4",
        "Compte rendu de consultation",
        "10",
        "Compte rendu",
        dt.datetime(2025, 8, 4, 10, 0, tzinfo=dt.UTC),
    ),
    SeedDocument(
        "henri-leclerc",
        "karim-benali",
        "Compte rendu d'échographie cardiaque",
        "18748-4",
        "Compte rendu d'imagerie médicale",
        "31",
        "Imagerie médicale",
        dt.datetime(2025, 11, 18, 10, 0, tzinfo=dt.UTC),
    ),
    SeedDocument(
        "henri-leclerc",
        "jeanne-martin",
        "Ordonnance",
        "57833-6",
        "Prescription de médicaments",
        "42",
        "Prescription",
        dt.datetime(2025, 11, 20, 9, 0, tzinfo=dt.UTC),
    ),
)


def pdf(title: str, patient: str) -> bytes:
    """A small, valid, deterministic PDF naming the document (fictitious content)."""
    text = f"{title} - {patient} - document fictif mes-sandbox".encode("latin-1", "replace")
    stream = b"BT /F1 12 Tf 50 780 Td (" + text.replace(b"(", b"[").replace(b")", b"]") + b") Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def _practitioner(pro: Professional) -> dict[str, Any]:
    return {
        "resourceType": "Practitioner",
        "id": "author",
        "identifier": [{"system": PRACTITIONER_ID, "value": pro.idnat}],
        "name": [{"family": pro.family_name, "given": [pro.given_name]}],
    }


def _resource(
    spec: SeedDocument,
    patient: Patient,
    pro: Professional,
    personas: Personas,
    content: bytes,
    dossier: Dossier,
    index: int,
) -> dict[str, Any]:
    organisation = personas.organisation(pro.activities[0].organisation)
    labels: list[dict[str, Any]] = [
        {"coding": [{"system": term.CONFIDENTIALITY, "code": "N", "display": "normal"}]}
    ]
    labels += [
        {"coding": [{"system": term.TRE_A07, "code": code, "display": term.VISIBILITY[code]}]}
        for code in spec.visibility
    ]
    return {
        "resourceType": "DocumentReference",
        "contained": [
            {
                "resourceType": "Patient",
                "id": "patient",
                "identifier": [{"system": patient.ins_system, "value": patient.ins}],
            },
            _practitioner(pro),
        ],
        "masterIdentifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:oid:1.2.250.1.999.9.1.{index}"},
        "status": "current",
        "type": {"coding": [{"system": term.LOINC, "code": spec.type_code, "display": spec.type_display}]},
        "category": [
            {"coding": [{"system": term.TRE_A03, "code": spec.class_code, "display": spec.class_display}]}
        ],
        "subject": subject_reference(dossier),
        "date": spec.date.isoformat(),
        "author": [{"reference": "#author"}],
        "custodian": {
            "identifier": {"system": "urn:oid:1.2.250.1.71.4.2.2", "value": organisation.technical_id},
            "display": organisation.name,
        },
        "securityLabel": labels,
        "content": [
            {
                "attachment": {
                    "contentType": "application/pdf",
                    "language": "fr-FR",
                    "size": len(content),
                    "hash": attachment_hash(content),
                    "title": spec.title,
                    "creation": spec.date.isoformat(),
                },
                "format": {"system": term.TRE_A11, "code": "urn:ihe:iti:xds-sd:pdf:2008", "display": "PDF"},
            }
        ],
        "context": {
            "period": {"start": spec.date.isoformat()},
            "facilityType": {"coding": [{"system": term.TRE_R02, "code": pro.activities[0].sector}]},
            "practiceSetting": {"coding": [{"system": term.TRE_A01, "code": "AMBULATOIRE"}]},
            "sourcePatientInfo": {"reference": "#patient"},
        },
    }


def _dossier(patient: Patient, personas: Personas) -> Dossier:
    doctor = personas.professional(patient.medecin_traitant) if patient.medecin_traitant else None
    return Dossier(
        id=_id(patient.ins_oid, patient.ins),
        ins_oid=patient.ins_oid,
        ins=patient.ins,
        family_name=patient.family_name,
        given_names=" ".join(patient.given_names),
        gender=patient.gender,
        birth_date=patient.birth_date,
        status=patient.dmp,
        created_at=SEEDED_AT,
        created_by="seed",
        closed_at=SEEDED_AT if patient.dmp == "closed" else None,
        medecin_traitant=doctor.idnat if doctor else None,
        break_glass_objection=patient.break_glass_objection,
    )


def _document(
    session: Session, spec: SeedDocument, index: int, dossiers: dict[str, Dossier], personas: Personas
) -> None:
    patient, pro = personas.patient(spec.patient), personas.professional(spec.author)
    dossier = dossiers[patient.id]
    content = pdf(spec.title, f"{patient.given_name.title()} {patient.family_name}")
    key = f"{spec.patient}:{index}"
    binary_id, list_id, logical_id = _id("binary", key), _id("list", key), _id("logical", key)
    organisation = personas.organisation(pro.activities[0].organisation)
    resource = _resource(spec, patient, pro, personas, content, dossier, index)
    session.add(
        Binary(
            id=binary_id,
            dossier_id=dossier.id,
            content_type="application/pdf",
            data=content,
            size=len(content),
            sha1=resource["content"][0]["attachment"]["hash"],
            created_at=SEEDED_AT,
        )
    )
    token = term.token
    session.add(
        Document(
            id=_id("document", key),
            logical_id=logical_id,
            version=1,
            latest=True,
            dossier_id=dossier.id,
            binary_id=binary_id,
            submission_set_id=list_id,
            unique_id=resource["masterIdentifier"]["value"],
            status="current",
            deleted=False,
            archived=False,
            masked_ps=term.MASQUE_PS in spec.visibility,
            invisible_patient=term.INVISIBLE_PATIENT in spec.visibility,
            invisible_rl=term.INVISIBLE_RL in spec.visibility,
            type_token=token(term.LOINC, spec.type_code),
            class_token=token(term.TRE_A03, spec.class_code),
            format_token=token(term.TRE_A11, "urn:ihe:iti:xds-sd:pdf:2008"),
            facility_token=token(term.TRE_R02, pro.activities[0].sector),
            setting_token=token(term.TRE_A01, "AMBULATOIRE"),
            tokens={
                "security": [token(term.CONFIDENTIALITY, "N")]
                + [token(term.TRE_A07, c) for c in spec.visibility],
                "event": [],
                "related": [],
            },
            date=spec.date,
            creation=spec.date,
            period_start=spec.date,
            period_end=None,
            authors=[
                {
                    "kind": "Practitioner",
                    "idnat": pro.idnat,
                    "given": pro.given_name,
                    "family": pro.family_name,
                }
            ],
            submitter=pro.idnat,
            author_org=organisation.technical_id,
            replaces=None,
            resource=resource,
            created_at=SEEDED_AT,
        )
    )
    session.add(
        DocumentList(
            id=list_id,
            dossier_id=dossier.id,
            kind="submissionset",
            status="current",
            date=SEEDED_AT,
            source_id=SEED_SOURCE_ID,
            designation_token=token(term.TRE_R02, pro.activities[0].sector),
            unique_id=None,
            title=None,
            author_idnat=pro.idnat,
            author_given=pro.given_name,
            author_family=pro.family_name,
            author_org=organisation.technical_id,
            members=[logical_id],
            resource={
                "resourceType": "List",
                "contained": [_practitioner(pro)],
                "extension": [
                    {
                        "url": term.EXT_SOURCE_ID,
                        "valueIdentifier": {"system": "urn:ietf:rfc:3986", "value": SEED_SOURCE_ID},
                    },
                    {
                        "url": term.EXT_DESIGNATION,
                        "valueCodeableConcept": {
                            "coding": [{"system": term.TRE_R02, "code": pro.activities[0].sector}]
                        },
                    },
                ],
                "identifier": [logical_identifier(list_id)],
                "status": "current",
                "mode": "working",
                "code": {"coding": [{"system": term.MHD_LIST_TYPES, "code": "submissionset"}]},
                "subject": subject_reference(dossier),
                "date": SEEDED_AT.isoformat(),
                "source": {"reference": "#author"},
            },
            created_at=SEEDED_AT,
        )
    )


def seed(session: Session, personas: Personas) -> None:
    dossiers: dict[str, Dossier] = {}
    for patient in personas.patients:
        if patient.dmp == "none":
            continue
        dossier = _dossier(patient, personas)
        dossiers[patient.id] = dossier
        session.add(dossier)
        for persona_id in patient.blocked_professionals:
            session.add(
                ProfessionalControl(
                    dossier_id=dossier.id,
                    idnat=personas.professional(persona_id).idnat,
                    kind="blocked",
                    until=None,
                    granted_by="seed",
                    created_at=SEEDED_AT,
                )
            )
    session.flush()
    for index, spec in enumerate(DOCUMENTS, start=1):
        if spec.patient in dossiers:
            _document(session, spec, index, dossiers, personas)

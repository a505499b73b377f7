"""The ordonnance's rules (flushes, never commits).

* Prescribers: professions 10 (médecin), 40 (chirurgien-dentiste), 50 (sage-femme); the
  requester of every MedicationRequest is the prescriber of the token.
* Pharmacists (profession 21) read an ordonnance by its number and dispense it line by
  line: ``full`` (what remains), ``partial`` (less than what remains) or
  ``substitution`` (another product, full or partial); a line already fully dispensed,
  or a cancelled ordonnance, is a 409.
* The prescriber sees the dispensing unless the patient objected
  (``PUT /api/patient/ordonnances/objection``); the prescriber cancels an ordonnance
  nothing of which was dispensed.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.mss.models import (
    Dispensation,
    DispensingObjection,
    Mailbox,
    MailboxMember,
    Ordonnance,
    OrdonnanceLine,
)
from services.mss.ordonnance import formats
from shared.db.base import utcnow
from shared.errors import (
    BadRequestError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    UnprocessableError,
)
from shared.identifiers import INS_OIDS, IdentifierError, validate_ins
from shared.oauth.principals import MesUser, Principal, Professional

PRESCRIBERS = ("10", "40", "50")
PHARMACIST = "21"
INS_SYSTEMS = tuple(f"urn:oid:{oid}" for oid in INS_OIDS)
IDNATPS_SYSTEM = "urn:oid:1.2.250.1.71.4.2.1"


@dataclass
class Prescription:
    group_system: str
    group_value: str
    ins: str
    ins_oid: str
    requests: list[dict[str, Any]]


def prescriber(principal: Principal) -> Professional:
    if not isinstance(principal, Professional) or principal.profession not in PRESCRIBERS:
        raise ForbiddenError(
            "only a prescriber (médecin, chirurgien-dentiste, sage-femme) issues an ordonnance"
        )
    return principal


def pharmacist(principal: Principal) -> Professional:
    if not isinstance(principal, Professional) or principal.profession != PHARMACIST:
        raise ForbiddenError("only a pharmacist (profession 21) dispenses an ordonnance")
    return principal


def _bad(detail: str, where: str) -> BadRequestError:
    return BadRequestError(detail, expression=[where])


def read_bundle(bundle: Any, who: Professional) -> Prescription:
    """The MedicationRequests of a Bundle, checked (FHIR paths in the errors)."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise _bad("send a FHIR Bundle of MedicationRequest", "Bundle")
    requests: list[dict[str, Any]] = [
        e["resource"]
        for e in bundle.get("entry") or []
        if isinstance(e, dict) and isinstance(e.get("resource"), dict)
    ]
    if not requests:
        raise _bad("the Bundle holds no MedicationRequest", "Bundle.entry")
    groups, patients = set(), set()
    for i, mr in enumerate(requests):
        where = f"Bundle.entry[{i}].resource"
        if mr.get("resourceType") != "MedicationRequest":
            raise _bad("every entry must be a MedicationRequest", where)
        if mr.get("status") != "active" or mr.get("intent") != "order":
            raise _bad("a prescription line is status 'active', intent 'order'", f"{where}.status")
        group = mr.get("groupIdentifier") or {}
        if not group.get("value"):
            raise _bad("groupIdentifier groups the lines of one prescription", f"{where}.groupIdentifier")
        groups.add((group.get("system", ""), group["value"]))
        ident = (mr.get("subject") or {}).get("identifier") or {}
        if ident.get("system") not in INS_SYSTEMS or not ident.get("value"):
            raise _bad(
                "subject.identifier must be the patient's INS (urn:oid:1.2.250.1.213.1.4.x)",
                f"{where}.subject",
            )
        patients.add((ident["system"], ident["value"]))
        requester = ((mr.get("requester") or {}).get("identifier") or {}).get("value")
        if requester and requester != who.idnat:
            raise ForbiddenError(f"requester {requester} is not the prescriber of the token ({who.idnat})")
        coding = ((mr.get("medicationCodeableConcept") or {}).get("coding") or [{}])[0]
        if not coding.get("code"):
            raise _bad(
                "medicationCodeableConcept.coding needs a code (UCD, CIP...)",
                f"{where}.medicationCodeableConcept",
            )
    if len(groups) != 1:
        raise _bad("all lines must share one groupIdentifier", "Bundle.entry.resource.groupIdentifier")
    if len(patients) != 1:
        raise _bad("all lines must be for one patient", "Bundle.entry.resource.subject")
    ((system, value),) = groups
    ((ins_system, ins),) = patients
    try:
        validate_ins(ins)
    except IdentifierError as exc:
        raise _bad(str(exc), "MedicationRequest.subject.identifier.value") from exc
    return Prescription(system, value, ins, ins_system.removeprefix("urn:oid:"), requests)


def _line_of(index: int, mr: dict[str, Any], number: str) -> OrdonnanceLine:
    coding = mr["medicationCodeableConcept"]["coding"][0]
    dosage = " ".join(d.get("text", "") for d in mr.get("dosageInstruction") or []).strip()
    quantity = ((mr.get("dispenseRequest") or {}).get("quantity")) or {}
    return OrdonnanceLine(
        number=number,
        line=index,
        request_id=str(mr.get("id") or index),
        medication_system=coding.get("system", ""),
        medication_code=coding["code"],
        medication_display=coding.get("display") or coding["code"],
        dosage=dosage,
        quantity=float(quantity.get("value", 1)),
        unit=str(quantity.get("unit", "boîte")),
        dispensed=0.0,
    )


def prepare(
    session: Session, who: Professional, prescription: Prescription, issued: dt.datetime
) -> tuple[Ordonnance, list[OrdonnanceLine]]:
    """A new, unsaved ordonnance (its number checked unique) and its lines."""
    patient = session.get(Mailbox, f"{prescription.ins}@patient.mssante.fr")
    if patient is None:
        raise UnprocessableError(
            f"INS {prescription.ins} is no patient of the sandbox", error="unknown_patient"
        )
    number = formats.new_number(issued.date())
    while session.get(Ordonnance, number) is not None:
        number = formats.new_number(issued.date())
    ordonnance = Ordonnance(
        number=number,
        group_system=prescription.group_system,
        group_value=prescription.group_value,
        patient_ins=prescription.ins,
        patient_ins_oid=prescription.ins_oid,
        patient_name=patient.display_name,
        prescriber_idnat=who.idnat,
        prescriber_name=f"Dr {who.given_name.title()} {who.family_name}",
        prescriber_organisation=who.organisation or "",
        issued_at=issued,
        status="active",
        requests=prescription.requests,
    )
    return ordonnance, [_line_of(i, mr, number) for i, mr in enumerate(prescription.requests, start=1)]


def prescriber_mailbox(session: Session, who: Professional) -> Mailbox:
    box = session.scalars(
        select(Mailbox)
        .join(MailboxMember, MailboxMember.address == Mailbox.address)
        .where(MailboxMember.idnat == who.idnat, Mailbox.type == "PER")
        .order_by(Mailbox.address)
    ).first()
    if box is None:
        raise UnprocessableError(f"{who.idnat} has no personal MSSanté mailbox to send from")
    return box


def find(session: Session, number: str) -> Ordonnance:
    try:
        number = formats.number_from_payload(number)
    except formats.NumberError as exc:
        raise BadRequestError(str(exc), error="invalid_number") from exc
    ordonnance = session.get(Ordonnance, number)
    if ordonnance is None:
        raise NotFoundError(f"no ordonnance {number}", error="unknown_ordonnance")
    return ordonnance


def lines_of(session: Session, number: str) -> list[OrdonnanceLine]:
    return list(
        session.scalars(
            select(OrdonnanceLine).where(OrdonnanceLine.number == number).order_by(OrdonnanceLine.line)
        )
    )


def objected(session: Session, ins: str) -> bool:
    row = session.get(DispensingObjection, ins)
    return bool(row and row.objection)


def view(session: Session, principal: Principal, ordonnance: Ordonnance) -> dict[str, Any]:
    """What ``principal`` may see of ``ordonnance`` (403 for anyone else)."""
    is_prescriber = isinstance(principal, Professional) and principal.idnat == ordonnance.prescriber_idnat
    is_pharmacist = isinstance(principal, Professional) and principal.profession == PHARMACIST
    is_patient = isinstance(principal, MesUser) and principal.patient_ins == ordonnance.patient_ins
    if not (is_prescriber or is_pharmacist or is_patient):
        raise ForbiddenError("only the prescriber, a pharmacist or the patient reads this ordonnance")
    show_dispensing = not (is_prescriber and not is_pharmacist and objected(session, ordonnance.patient_ins))
    lines = lines_of(session, ordonnance.number)
    dispensations = (
        list(
            session.scalars(
                select(Dispensation).where(Dispensation.number == ordonnance.number).order_by(Dispensation.at)
            )
        )
        if show_dispensing
        else []
    )
    return {
        "number": ordonnance.number,
        "qr_payload": formats.qr_payload(
            ordonnance.number, ordonnance.prescriber_idnat, ordonnance.issued_at.date()
        ),
        "status": ordonnance.status if show_dispensing or ordonnance.status == "cancelled" else "active",
        "issued_at": ordonnance.issued_at,
        "group_identifier": {"system": ordonnance.group_system, "value": ordonnance.group_value},
        "patient": {"ins": ordonnance.patient_ins, "name": ordonnance.patient_name},
        "prescriber": {"idnat": ordonnance.prescriber_idnat, "name": ordonnance.prescriber_name},
        "dispensing_visible": show_dispensing,
        "lines": [
            {
                "line": line.line,
                "medication": {
                    "system": line.medication_system,
                    "code": line.medication_code,
                    "display": line.medication_display,
                },
                "dosage": line.dosage,
                "quantity": line.quantity,
                "unit": line.unit,
                **(
                    {"dispensed": line.dispensed, "remaining": max(line.quantity - line.dispensed, 0.0)}
                    if show_dispensing
                    else {}
                ),
            }
            for line in lines
        ],
        "dispensations": [
            {
                "line": d.line,
                "kind": d.kind,
                "quantity": d.quantity,
                "substitute": {"code": d.substitute_code, "display": d.substitute_display}
                if d.substitute_code
                else None,
                "pharmacist": d.pharmacist_idnat,
                "pharmacy": d.pharmacy,
                "at": d.at,
            }
            for d in dispensations
        ],
        "dmp_document": ordonnance.dmp_document,
        "patient_message_id": ordonnance.patient_message_id,
    }


def dispense(
    session: Session, who: Professional, ordonnance: Ordonnance, items: list[dict[str, Any]]
) -> None:
    """Record the dispensing of ``items`` (all or nothing)."""
    if ordonnance.status == "cancelled":
        raise ConflictError(
            f"ordonnance {ordonnance.number} was cancelled by its prescriber", error="cancelled"
        )
    lines = {line.line: line for line in lines_of(session, ordonnance.number)}
    now = utcnow()
    for item in items:
        line = lines.get(item["line"])
        if line is None:
            raise NotFoundError(
                f"ordonnance {ordonnance.number} has no line {item['line']}", error="unknown_line"
            )
        remaining = line.quantity - line.dispensed
        if remaining <= 0:
            raise ConflictError(f"line {line.line} was already fully dispensed", error="already_dispensed")
        kind = item["kind"]
        quantity = (
            remaining
            if kind == "full" or (kind == "substitution" and item.get("quantity") is None)
            else item.get("quantity")
        )
        if quantity is None or quantity <= 0 or quantity > remaining:
            raise BadRequestError(
                f"line {line.line}: quantity must be > 0 and at most {remaining:g}", expression=["quantity"]
            )
        if kind == "partial" and quantity >= remaining:
            raise BadRequestError(f"line {line.line}: a partial dispensing leaves something (use 'full')")
        substitute = item.get("substitute") or {}
        if kind == "substitution" and not substitute.get("code"):
            raise BadRequestError(
                f"line {line.line}: a substitution names the product given", expression=["substitute"]
            )
        line.dispensed += quantity
        session.add(
            Dispensation(
                id=str(uuid.uuid4()),
                number=ordonnance.number,
                line=line.line,
                kind=kind,
                quantity=quantity,
                substitute_code=substitute.get("code"),
                substitute_display=substitute.get("display"),
                pharmacist_idnat=who.idnat,
                pharmacist_name=f"{who.given_name.title()} {who.family_name}",
                pharmacy=who.organisation or "",
                at=now,
            )
        )
    done = all(line.dispensed >= line.quantity for line in lines.values())
    ordonnance.status = "dispensed" if done else "partially-dispensed"
    session.flush()


def cancel(session: Session, who: Professional, ordonnance: Ordonnance) -> None:
    if ordonnance.prescriber_idnat != who.idnat:
        raise ForbiddenError("only the prescriber cancels an ordonnance")
    if ordonnance.status == "cancelled":
        raise ConflictError(f"ordonnance {ordonnance.number} is already cancelled", error="cancelled")
    if ordonnance.status != "active":
        raise ConflictError(
            f"ordonnance {ordonnance.number} was (partly) dispensed: it cannot be cancelled",
            error="already_dispensed",
        )
    ordonnance.status = "cancelled"
    ordonnance.cancelled_at = utcnow()
    session.flush()


def set_objection(session: Session, principal: Principal, objection: bool) -> None:
    if not isinstance(principal, MesUser) or principal.actor not in ("patient", "representant_legal"):
        raise ForbiddenError("the patient (or a legal representative) sets this objection")
    row = session.get(DispensingObjection, principal.patient_ins)
    if row is None:
        session.add(
            DispensingObjection(patient_ins=principal.patient_ins, objection=objection, updated_at=utcnow())
        )
    else:
        row.objection = objection
        row.updated_at = utcnow()
    session.flush()

"""What the receiving system does with an MSSanté message: integrate its XDM documents.

The sandbox plays the recipient's software (LPS) and applies the ERR-5 integration codes
(fr-ecosystem.md §3.2) that its acknowledgement reports:

* 906 other: ``IHE_XDM.zip`` unreadable, a document missing, ``X-MSS-CODECDA`` not the
  codes of the CDA documents in the package;
* 903 INS missing: no INS in the metadata (``XDSDocumentEntry.patientId``) or in a CDA;
* 902 unknown patient: an INS that is no patient of the sandbox;
* 904 INS not matching: the CDA's INS differs from the metadata's, the document's INS
  is not the INS of the citizen mailbox it was sent to, or a trait contradicts the
  patient's identity (birth date, sex);
* 905 INS incomplete: a trait is missing (name, birth date, sex: PID-5/7/8, or the CDA);
* 900 wrong version: a replacement (RPLC) of a document this mailbox never integrated,
  or one already replaced;
* 901 author not allowed: a replacement by another author than the replaced document's.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from services.mss.mail import xdm
from services.mss.mail.mime import ParsedMessage
from services.mss.models import IntegratedDocument, Mailbox
from shared.identifiers import is_valid_ins

XDM_NAME = "IHE_XDM.ZIP"


@dataclass(frozen=True)
class Outcome:
    error: str | None
    explanation: str = ""
    documents: tuple[xdm.XdmDocument, ...] = ()


class _Failed(Exception):
    def __init__(self, code: str, explanation: str) -> None:
        super().__init__(explanation)
        self.code = code
        self.explanation = explanation


def xdm_attachments(parsed: ParsedMessage) -> list[bytes]:
    return [a.data for a in parsed.attachments if a.filename.upper() == XDM_NAME]


def check(session: Session, parsed: ParsedMessage, recipient: Mailbox) -> Outcome:
    """The integration outcome of ``parsed`` for ``recipient`` (nothing is written)."""
    packages = xdm_attachments(parsed)
    if not packages:
        return Outcome(None)
    try:
        documents = [doc for package in packages for doc in _read(package)]
        _check_cda_codes(parsed, documents)
        for doc in documents:
            _check_patient(session, doc, recipient)
            _check_replacement(session, doc, recipient)
    except _Failed as failed:
        return Outcome(failed.code, failed.explanation)
    return Outcome(None, documents=tuple(documents))


def record(session: Session, outcome: Outcome, recipient: Mailbox) -> None:
    """Remember what ``recipient`` integrated (for later replacements)."""
    for doc in outcome.documents:
        if doc.replaces:
            previous = session.get(IntegratedDocument, (recipient.address, doc.replaces))
            if previous is not None:
                previous.replaced = True
        if session.get(IntegratedDocument, (recipient.address, doc.unique_id)) is None:
            session.add(
                IntegratedDocument(
                    mailbox=recipient.address,
                    unique_id=doc.unique_id,
                    author=doc.author or "",
                    patient_ins=(doc.patient.ins if doc.patient else None) or "",
                )
            )


def _read(package: bytes) -> list[xdm.XdmDocument]:
    try:
        return xdm.read(package)
    except xdm.XdmError as exc:
        raise _Failed("906", str(exc)) from exc


def _check_cda_codes(parsed: ParsedMessage, documents: list[xdm.XdmDocument]) -> None:
    codes: list[str] = []
    for doc in documents:
        try:
            facts = xdm.read_cda(doc.data) if "xml" in doc.mime_type else None
        except xdm.XdmError as exc:
            raise _Failed("906", f"CDA document '{doc.title}': {exc}") from exc
        if facts is not None and facts.code:
            codes.append(facts.code)
            doc.patient = _merge(doc.patient, facts.patient, doc.title)
    declared = [c.strip() for v in parsed.header_values("X-MSS-CODECDA") for c in v.split(",") if c.strip()]
    if declared and sorted(declared) != sorted(codes):
        raise _Failed("906", f"X-MSS-CODECDA {declared} differs from the CDA codes in IHE_XDM.zip {codes}")


def _merge(meta: xdm.PatientTraits | None, cda: xdm.PatientTraits, title: str) -> xdm.PatientTraits:
    if cda.ins is None:
        raise _Failed("903", f"the CDA document '{title}' carries no INS (recordTarget/patientRole/id)")
    if meta is None or meta.ins is None:
        return cda
    if meta.ins != cda.ins:
        raise _Failed("904", f"the CDA's INS {cda.ins} differs from the metadata's INS {meta.ins}")
    return xdm.PatientTraits(
        ins=meta.ins,
        ins_oid=meta.ins_oid,
        family_name=meta.family_name or cda.family_name,
        given_name=meta.given_name or cda.given_name,
        birth_date=meta.birth_date or cda.birth_date,
        gender=meta.gender or cda.gender,
    )


def _check_patient(session: Session, doc: xdm.XdmDocument, recipient: Mailbox) -> None:
    traits = doc.patient
    if traits is None or not traits.ins or not (traits.ins_oid or "").startswith("1.2.250.1.213.1.4."):
        raise _Failed("903", f"document '{doc.title}': no INS in XDSDocumentEntry.patientId")
    citizen = session.get(Mailbox, f"{traits.ins.lower()}@patient.mssante.fr")
    if not is_valid_ins(traits.ins) or citizen is None:
        raise _Failed("902", f"document '{doc.title}': INS {traits.ins} is no patient known here")
    if recipient.type == "PAT" and recipient.holder != traits.ins:
        raise _Failed(
            "904", f"document '{doc.title}' is for INS {traits.ins}, not for this mailbox's patient"
        )
    missing = [
        label
        for label, value in (
            ("nom (PID-5)", traits.family_name),
            ("date de naissance (PID-7)", traits.birth_date),
            ("sexe (PID-8)", traits.gender),
        )
        if not value
    ]
    if missing:
        raise _Failed("905", f"document '{doc.title}': traits missing: {', '.join(missing)}")
    _check_traits_against_ins(doc.title, traits.ins, traits)


def _check_traits_against_ins(title: str, ins: str, traits: xdm.PatientTraits) -> None:
    """The NIR carries the sex (1/2), the year and the month of birth (§5.1): they must agree."""
    birth = (traits.birth_date or "").replace("-", "")
    if len(birth) >= 6 and birth[2:4] + birth[4:6] != ins[1:5] and ins[3:5].isdigit() and int(ins[3:5]) <= 12:
        raise _Failed("904", f"document '{title}': birth date {traits.birth_date} does not match INS {ins}")
    sex = {"M": "1", "MALE": "1", "F": "2", "FEMALE": "2"}.get((traits.gender or "").upper())
    if sex is not None and ins[0] in "12" and sex != ins[0]:
        raise _Failed("904", f"document '{title}': sex {traits.gender} does not match INS {ins}")


def _check_replacement(session: Session, doc: xdm.XdmDocument, recipient: Mailbox) -> None:
    if not doc.replaces:
        return
    previous = session.get(IntegratedDocument, (recipient.address, doc.replaces))
    if previous is None or previous.replaced:
        raise _Failed("900", f"document {doc.replaces} to replace is unknown here or already replaced")
    if previous.author and doc.author and previous.author != doc.author:
        raise _Failed("901", f"document {doc.replaces} was written by {previous.author}, not by {doc.author}")

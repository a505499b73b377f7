"""MSSanté's tables: mailboxes, messages and their flags, ordonnances and dispensing.

Everything a client can observe lives here (README, "State"), so that reset, snapshot and
restart cover it, the SMTP/IMAP listeners' certificate included.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db.base import UTCDateTime, make_metadata


class Base(DeclarativeBase):
    metadata = make_metadata()


class Mailbox(Base):
    """An MSSanté mailbox (BAL): its address, TRE_R257 type and holder."""

    __tablename__ = "mailboxes"

    address: Mapped[str] = mapped_column(String(254), primary_key=True)
    #: PER, ORG, APP, CAB, or PAT for a citizen mailbox.
    type: Mapped[str] = mapped_column(String(3))
    #: idNatPS of a PER holder, technical id of an organisation, INS of a patient.
    holder: Mapped[str] = mapped_column(String(64), index=True)
    display_name: Mapped[str] = mapped_column(String(200))
    #: The organisation persona id (ORG/CAB/APP, and PER of a professional's first activity).
    organisation: Mapped[str] = mapped_column(String(64), default="")
    #: APP mailboxes: the Pro Santé Connect client that may use it.
    client_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    #: PBKDF2 of the mailbox's sandbox application password (SMTP/IMAP PLAIN/LOGIN), if set.
    password_hash: Mapped[str | None] = mapped_column(String(200), nullable=True)
    #: IMAP: UIDVALIDITY and the next UID (shared by the folders, ascending in each).
    uid_validity: Mapped[int] = mapped_column(Integer, default=1)
    next_uid: Mapped[int] = mapped_column(Integer, default=1)


class MailboxMember(Base):
    """A professional who may use a mailbox (PER: its holder; ORG/CAB: the structure's)."""

    __tablename__ = "mailbox_members"

    address: Mapped[str] = mapped_column(ForeignKey("mailboxes.address"), primary_key=True)
    idnat: Mapped[str] = mapped_column(String(64), primary_key=True)


class Message(Base):
    """One copy of a message in one folder of one mailbox (``INBOX`` or ``Sent``)."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("mailbox", "uid"),
        Index("ix_messages_mailbox_folder", "mailbox", "folder"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    mailbox: Mapped[str] = mapped_column(ForeignKey("mailboxes.address"))
    folder: Mapped[str] = mapped_column(String(32))
    uid: Mapped[int] = mapped_column(Integer)
    #: RFC 5322 ``Message-ID`` (with its angle brackets).
    message_id: Mapped[str] = mapped_column(String(255), index=True)
    #: The conversation: the ``Message-ID`` of its first message.
    thread: Mapped[str] = mapped_column(String(255), index=True)
    in_reply_to: Mapped[str | None] = mapped_column(String(255), nullable=True)
    sender: Mapped[str] = mapped_column(String(254))
    #: ``professional`` (PER/ORG/CAB), ``software`` (APP) or ``patient`` (citizen).
    sender_kind: Mapped[str] = mapped_column(String(16))
    to: Mapped[list[str]] = mapped_column(JSON)
    cc: Mapped[list[str]] = mapped_column(JSON)
    subject: Mapped[str] = mapped_column(Text)
    #: ``[{"filename", "content_type", "size"}]`` of the MIME attachments.
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    seen: Mapped[bool] = mapped_column(Boolean, default=False)
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    answered: Mapped[bool] = mapped_column(Boolean, default=False)
    #: IMAP ``\\Deleted`` (removed by EXPUNGE); the HTTP API deletes at once.
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    draft: Mapped[bool] = mapped_column(Boolean, default=False)
    keywords: Mapped[list[str]] = mapped_column(JSON)


class IntegratedDocument(Base):
    """A document a receiving mailbox integrated from an XDM package (for replace rules)."""

    __tablename__ = "integrated_documents"

    mailbox: Mapped[str] = mapped_column(ForeignKey("mailboxes.address"), primary_key=True)
    unique_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    author: Mapped[str] = mapped_column(String(64))
    patient_ins: Mapped[str] = mapped_column(String(15))
    replaced: Mapped[bool] = mapped_column(Boolean, default=False)


class TlsMaterial(Base):
    """The sandbox certificate of the SMTP/IMAP STARTTLS (generated once, with the seed)."""

    __tablename__ = "tls_material"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    certificate_pem: Mapped[str] = mapped_column(Text)
    key_pem: Mapped[str] = mapped_column(Text)


class Ordonnance(Base):
    """An ordonnance numérique: the prescription behind a (fictitious) unique number."""

    __tablename__ = "ordonnances"

    number: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: ``MedicationRequest.groupIdentifier`` (system|value).
    group_system: Mapped[str] = mapped_column(String(255))
    group_value: Mapped[str] = mapped_column(String(255))
    patient_ins: Mapped[str] = mapped_column(String(15), index=True)
    patient_ins_oid: Mapped[str] = mapped_column(String(64))
    patient_name: Mapped[str] = mapped_column(String(200))
    prescriber_idnat: Mapped[str] = mapped_column(String(64), index=True)
    prescriber_name: Mapped[str] = mapped_column(String(200))
    prescriber_organisation: Mapped[str] = mapped_column(String(200))
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    #: ``active``, ``partially-dispensed``, ``dispensed`` or ``cancelled``.
    status: Mapped[str] = mapped_column(String(24))
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: The MedicationRequests as submitted (FHIR JSON).
    requests: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    #: Where it went: the DMP document id, the Message-ID sent to the patient.
    dmp_document: Mapped[str | None] = mapped_column(String(255), nullable=True)
    patient_message_id: Mapped[str | None] = mapped_column(String(255), nullable=True)


class OrdonnanceLine(Base):
    """One prescribed line (one MedicationRequest) and how much of it was dispensed."""

    __tablename__ = "ordonnance_lines"

    number: Mapped[str] = mapped_column(ForeignKey("ordonnances.number"), primary_key=True)
    line: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[str] = mapped_column(String(64))
    medication_system: Mapped[str] = mapped_column(String(255))
    medication_code: Mapped[str] = mapped_column(String(64))
    medication_display: Mapped[str] = mapped_column(String(255))
    dosage: Mapped[str] = mapped_column(Text)
    quantity: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(64))
    dispensed: Mapped[float] = mapped_column(Float, default=0.0)


class Dispensation(Base):
    """A pharmacist's dispensing of one line: full, partial or by substitution."""

    __tablename__ = "dispensations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    number: Mapped[str] = mapped_column(ForeignKey("ordonnances.number"), index=True)
    line: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    quantity: Mapped[float] = mapped_column(Float)
    substitute_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    substitute_display: Mapped[str | None] = mapped_column(String(255), nullable=True)
    pharmacist_idnat: Mapped[str] = mapped_column(String(64))
    pharmacist_name: Mapped[str] = mapped_column(String(200))
    pharmacy: Mapped[str] = mapped_column(String(200))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class DispensingObjection(Base):
    """A patient's objection to the prescriber seeing the dispensing (runtime setting)."""

    __tablename__ = "dispensing_objections"

    patient_ins: Mapped[str] = mapped_column(String(15), primary_key=True)
    objection: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())

"""The DMP's tables.

* ``dossiers``: one DMP per patient (INS), its status and the holder's choices (médecin
  traitant, objection to break-the-glass access);
* ``professional_controls``: professionals blocked by the holder, and access
  authorisations (granted by the holder with an end date, or at the DMP's creation);
* ``documents``: one row per *version of the metadata* of a document (PDSm4DMP
  ``annexe_identifiants_xds_fhir.md``): ``id`` is the entryUUID (new at every change),
  ``logical_id`` the logicalId (stable across metadata changes), ``unique_id`` the
  producer's uniqueId; only the row with ``latest`` true is the document today;
* ``binaries``: the documents' bytes, shared by every metadata version of a document;
* ``lists``: SubmissionSets and Folders (IHE MHD ``List``);
* ``audit_events``: the access traces (FHIR ``AuditEvent``), every read and write;
* ``notifications``: the outbox of messages the DMP sends through MSSanté (the patient and
  the médecin traitant informed of a break-the-glass access).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    insert,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from shared.db.base import UTCDateTime, make_metadata


class Base(DeclarativeBase):
    metadata = make_metadata()


class Dossier(Base):
    """A patient's DMP, keyed by INS (system OID + matricule)."""

    __tablename__ = "dossiers"
    __table_args__ = (UniqueConstraint("ins_oid", "ins"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    ins_oid: Mapped[str] = mapped_column(String(64))
    ins: Mapped[str] = mapped_column(String(15))
    family_name: Mapped[str] = mapped_column(String(100))
    given_names: Mapped[str] = mapped_column(String(200))
    gender: Mapped[str] = mapped_column(String(10))
    birth_date: Mapped[dt.date]
    #: ``open`` or ``closed`` (``Patient.active`` in TD0.2).
    status: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    #: Who created it: an idNatPS, ``patient`` or ``seed``.
    created_by: Mapped[str] = mapped_column(String(32), default="seed")
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    closure_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    #: idNatPS of the médecin traitant ("médecin traitant DMP"), if any.
    medecin_traitant: Mapped[str | None] = mapped_column(String(20), nullable=True)
    #: The holder objected to access in an emergency (bris de glace, centre 15).
    break_glass_objection: Mapped[bool] = mapped_column(Boolean, default=False)


class ProfessionalControl(Base):
    """A professional blocked by the holder, or authorised to consult (until a date)."""

    __tablename__ = "professional_controls"

    dossier_id: Mapped[str] = mapped_column(ForeignKey("dossiers.id"), primary_key=True)
    idnat: Mapped[str] = mapped_column(String(20), primary_key=True)
    #: ``blocked`` or ``authorized``.
    kind: Mapped[str] = mapped_column(String(12), primary_key=True)
    #: Last day of an authorisation (inclusive); None: no end (creation of the DMP).
    until: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    #: ``patient``, ``representant_legal``, ``creation`` or ``seed``.
    granted_by: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class Binary(Base):
    __tablename__ = "binaries"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    dossier_id: Mapped[str] = mapped_column(ForeignKey("dossiers.id"), index=True)
    content_type: Mapped[str] = mapped_column(String(100))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)
    #: base64 of the SHA-1 of ``data`` (FHIR ``Attachment.hash``).
    sha1: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class Document(Base):
    """One version of a DocumentReference's metadata (see the module docstring)."""

    __tablename__ = "documents"
    __table_args__ = (
        Index("ix_documents_dossier_latest", "dossier_id", "latest"),
        Index("ix_documents_logical_id", "logical_id"),
        Index("ix_documents_unique_id", "unique_id"),
        # A uniqueId names one document (XDSDuplicateUniqueIdInRegistry): checked before
        # writing, and held here when two submissions of it race (each version is a row,
        # one of them the latest).
        Index(
            "ux_documents_unique_id_latest",
            "unique_id",
            unique=True,
            sqlite_where=text("latest"),
            postgresql_where=text("latest"),
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    logical_id: Mapped[str] = mapped_column(String(36))
    version: Mapped[int] = mapped_column(Integer)
    latest: Mapped[bool] = mapped_column(Boolean)
    dossier_id: Mapped[str] = mapped_column(ForeignKey("dossiers.id"))
    binary_id: Mapped[str] = mapped_column(ForeignKey("binaries.id"))
    submission_set_id: Mapped[str] = mapped_column(String(36))
    unique_id: Mapped[str] = mapped_column(String(256))
    #: ``current``, ``superseded`` or ``entered-in-error``.
    status: Mapped[str] = mapped_column(String(20))
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    masked_ps: Mapped[bool] = mapped_column(Boolean, default=False)
    invisible_patient: Mapped[bool] = mapped_column(Boolean, default=False)
    invisible_rl: Mapped[bool] = mapped_column(Boolean, default=False)
    #: ``system|code`` of the coded metadata searched by ITI-67.
    type_token: Mapped[str] = mapped_column(String(300))
    class_token: Mapped[str] = mapped_column(String(300))
    format_token: Mapped[str] = mapped_column(String(300))
    facility_token: Mapped[str] = mapped_column(String(300))
    setting_token: Mapped[str] = mapped_column(String(300))
    #: Multi-valued search keys: ``{"security": [...], "event": [...], "related": [...]}``.
    tokens: Mapped[dict[str, Any]] = mapped_column(JSON)
    date: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    creation: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    period_start: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    period_end: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: ``[{"idnat", "given", "family", "kind"}]`` from the contained authors.
    authors: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    #: Who published it (idNatPS or ``patient:<ins>``) and from which structure.
    submitter: Mapped[str] = mapped_column(String(40))
    author_org: Mapped[str | None] = mapped_column(String(40), nullable=True)
    #: The logicalId of the document this one replaces (``relatesTo.replaces``).
    replaces: Mapped[str | None] = mapped_column(String(36), nullable=True)
    #: The DocumentReference as published (its metadata-managed parts set at rendering).
    resource: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


#: A uniqueId is the latest version of one document only (a concurrent submission of the
#: same uniqueId is refused by the database: :func:`shared.db.conflicts.unique_violation`).
UNIQUE_ID_LATEST = next(
    i for i in cast(Table, Document.__table__).indexes if i.name == "ux_documents_unique_id_latest"
)


class DocumentList(Base):
    """A SubmissionSet or a Folder."""

    __tablename__ = "lists"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    dossier_id: Mapped[str] = mapped_column(ForeignKey("dossiers.id"), index=True)
    #: ``submissionset`` or ``folder``.
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    date: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    source_id: Mapped[str | None] = mapped_column(String(256), nullable=True)
    designation_token: Mapped[str | None] = mapped_column(String(300), nullable=True)
    unique_id: Mapped[str | None] = mapped_column(String(256), nullable=True)
    title: Mapped[str | None] = mapped_column(String(300), nullable=True)
    author_idnat: Mapped[str | None] = mapped_column(String(20), nullable=True)
    author_given: Mapped[str | None] = mapped_column(String(100), nullable=True)
    author_family: Mapped[str | None] = mapped_column(String(100), nullable=True)
    author_org: Mapped[str | None] = mapped_column(String(40), nullable=True)
    #: The logicalIds of the documents it holds, in order.
    members: Mapped[list[str]] = mapped_column(JSON)
    resource: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class AuditRecord(Base):
    """One access trace, rendered as a FHIR ``AuditEvent``."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_dossier_recorded", "dossier_id", "recorded"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    recorded: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    dossier_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    patient_ins: Mapped[str | None] = mapped_column(String(15), nullable=True)
    patient_ins_oid: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: FHIR AuditEvent.action: C, R, U, D, E.
    action: Mapped[str] = mapped_column(String(1))
    #: The transaction: ITI-65, ITI-67, TD0.2, TD3.3a...
    subtype: Mapped[str] = mapped_column(String(40))
    #: 0 success, 4 minor failure (refused), 8 serious failure.
    outcome: Mapped[str] = mapped_column(String(2))
    outcome_desc: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: professional, patient, aidant, representant_legal, app, software.
    agent_kind: Mapped[str] = mapped_column(String(20))
    agent_id: Mapped[str] = mapped_column(String(64))
    agent_name: Mapped[str] = mapped_column(String(200))
    agent_org: Mapped[str | None] = mapped_column(String(200), nullable=True)
    on_behalf_of: Mapped[str | None] = mapped_column(String(64), nullable=True)
    client_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    access_mode: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: ``[{"type": "DocumentReference", "id": ...}, ...]``
    entities: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    query: Mapped[str | None] = mapped_column(Text, nullable=True)


class Notification(Base):
    """A message to send through MSSanté (an outbox: written with the access it reports)."""

    __tablename__ = "notifications"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    dossier_id: Mapped[str] = mapped_column(String(36), index=True)
    #: ``bris_de_glace`` or ``centre_15``.
    kind: Mapped[str] = mapped_column(String(20))
    #: The professional whose access is reported (one notice per day and professional).
    about: Mapped[str] = mapped_column(String(20))
    recipients: Mapped[list[str]] = mapped_column(JSON)
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    #: ``pending``, ``sent`` or ``failed``.
    status: Mapped[str] = mapped_column(String(10))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    message_id: Mapped[str | None] = mapped_column(String(300), nullable=True)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)


_INSERTS: dict[type[Base], Any] = {}


def _insert(model: type[Base]) -> Any:
    """The INSERT statement of a table, built once."""
    statement = _INSERTS.get(model)
    if statement is None:
        statement = _INSERTS[model] = insert(model)
    return statement


def insert_row(session: Session, row: Base | tuple[type[Base], dict[str, Any]]) -> None:
    """Write a new row with one Core INSERT, at once: the hot paths (publication, traces)
    skip the unit of work's flush, and the row is in the database before the next step.
    ``row`` is a transient mapped object, or (model, column values) to skip building one.

    Executed on the session's connection, in its transaction: ``session.execute(insert(...))``
    would take the ORM's bulk-insert path, which cost as much as the rest of a publication."""
    if isinstance(row, tuple):
        model, values = row
        session.connection().execute(_insert(model), values)
        return
    values = {column.key: getattr(row, column.key) for column in row.__table__.columns}
    session.connection().execute(_insert(type(row)), values)

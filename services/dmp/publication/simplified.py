"""ITI-105 Simplified Publish: one DocumentReference with its document inline.

MHD ITI-105 / PDSm ``st_ajout_simplifie.md``: ``POST [base]/DocumentReference`` with
``content.attachment.data``; the Document Recipient makes the Binary and the SubmissionSet
itself and answers ``201 Created`` with ``Location`` and the DocumentReference as stored
(id, ``meta.versionId``, ``lastUpdated``). ``size`` and ``hash`` are computed when absent and
checked when present. The SubmissionSet the DMP makes is described in the README: its
``sourceId`` is the sandbox's fictitious OID and its ``designationType`` the document's type.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from services.dmp import terminology as term
from services.dmp.documents import render
from services.dmp.errors import Problems
from services.dmp.models import DocumentList, insert_row
from services.dmp.patients import service as patients
from services.dmp.patients.service import InsError
from services.dmp.publication.bundle import check_size_and_hash
from services.dmp.publication.metadata import attachment_hash, check_document
from services.dmp.publication.rows import (
    Context,
    check_unique_ids,
    checkpoint,
    new_binary,
    new_document,
    session_insert,
)
from services.dmp.publication.service import open_dossier
from shared.errors import Issue
from shared.personas import Personas

#: The sourceId of the SubmissionSets the sandbox's DMP makes for ITI-105 (fictitious).
SIMPLIFIED_SOURCE_ID = "urn:oid:1.2.250.1.999.9.105"


def publish(
    session: Session, resource: dict[str, Any], personas: Personas, ctx: Context
) -> tuple[dict[str, Any], int, list[Issue]]:
    """The stored DocumentReference, its version and the warnings, or every problem found."""
    where = "DocumentReference"
    problems = Problems()
    if resource.get("resourceType") != "DocumentReference":
        problems.error(
            f"ITI-105 expects a DocumentReference, got {resource.get('resourceType')!r}",
            "DocumentReference",
            code="structure",
            structural=True,
        )
        problems.raise_if_any()
    facts = check_document(resource, where, problems, inline=True)
    if any(code == "replaces" for code, _, _ in facts.relates):
        problems.error(
            "a replacement goes through ITI-65 with its UpdateDocumentRefs PATCH entry (TD2.1)",
            f"{where}.relatesTo",
            code="not-supported",
        )
    if facts.data is not None:
        check_size_and_hash(facts, facts.data, f"{where}.content[0].attachment", problems)
    subject = None
    reference = (resource.get("subject") or {}).get("reference")
    if reference:
        try:
            subject = patients.parse_subject(str(reference), ctx.base_url, personas)
        except InsError as exc:
            problems.error(f"subject INS: {exc}", f"{where}.subject", code="value", xds="XDSUnknownPatientId")
        except ValueError as exc:
            problems.error(str(exc), f"{where}.subject", structural=True)
    problems.raise_if_any()
    assert subject is not None
    assert facts.data is not None
    dossier = open_dossier(session, subject, ctx.caller, ctx.trace)
    check_unique_ids(session, [(facts.unique_id, f"{where}.masterIdentifier")], problems)
    problems.raise_if_any()
    content = facts.data
    resource = dict(resource)
    content_element = dict(resource["content"][0])
    attachment = dict(content_element["attachment"])
    attachment.setdefault("size", len(content))
    attachment.setdefault("hash", attachment_hash(content))
    content_element["attachment"] = attachment
    resource["content"] = [content_element]
    binary_id, list_id = str(uuid.uuid4()), str(uuid.uuid4())
    checkpoint(ctx.faults, "Binary")
    insert = session_insert(session)
    new_binary(insert, dossier, binary_id, facts.content_type, content, ctx.now)
    checkpoint(ctx.faults, "DocumentReference")
    written = new_document(
        insert, dossier, resource, facts, binary_id=binary_id, submission_set_id=list_id, ctx=ctx
    )
    row = written.row()
    checkpoint(ctx.faults, "List")
    insert_row(session, _submission_set(dossier, resource, facts.type_token, list_id, row.logical_id, ctx))
    session.flush()
    ctx.trace.add("DocumentReference", row.id)
    return render.document(row, ctx.base_url), row.version, facts.warnings


def _submission_set(
    dossier: Any, resource: dict[str, Any], type_token: str, list_id: str, member: str, ctx: Context
) -> DocumentList:
    system, _, code = type_token.partition("|")
    authors = [
        c for c in resource.get("contained") or () if c.get("id") and c.get("resourceType") != "Patient"
    ]
    source_ref = next(iter(resource.get("author") or ()), None)
    list_resource: dict[str, Any] = {
        "resourceType": "List",
        "extension": [
            {
                "url": term.EXT_SOURCE_ID,
                "valueIdentifier": {"system": "urn:ietf:rfc:3986", "value": SIMPLIFIED_SOURCE_ID},
            },
            {
                "url": term.EXT_DESIGNATION,
                "valueCodeableConcept": {"coding": [{"system": system, "code": code}]},
            },
        ],
        "status": "current",
        "mode": "working",
        "code": {"coding": [{"system": term.MHD_LIST_TYPES, "code": "submissionset"}]},
        "subject": patients.subject_reference(dossier),
        "date": ctx.now.isoformat(),
    }
    if authors and source_ref:
        list_resource["contained"] = authors
        list_resource["source"] = source_ref
    pro = ctx.caller.professional
    return DocumentList(
        id=list_id,
        dossier_id=dossier.id,
        kind="submissionset",
        status="current",
        date=ctx.now,
        source_id=SIMPLIFIED_SOURCE_ID,
        designation_token=type_token,
        unique_id=None,
        title=None,
        author_idnat=pro.idnat if pro else None,
        author_given=pro.given_name if pro else None,
        author_family=pro.family_name if pro else None,
        author_org=pro.organisation_id if pro else None,
        members=[member],
        resource=list_resource,
        created_at=ctx.now,
    )

"""Consulting a DMP: who the caller is to it, the searches, a read, a retrieve.

Every function runs in the request's transaction and fills the request's :class:`Trace`.
A refusal about the whole DMP (blocked, outside the care team...) is a 403: it says
nothing of any document. A document the caller may not see is "not found", exactly like one
that does not exist (IHE ITI TF-2x Appendix Z.8).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.dmp.access import policy
from services.dmp.access.caller import Caller
from services.dmp.access.policy import DossierFacts
from services.dmp.access.service import facts_of
from services.dmp.audit.service import Trace
from services.dmp.documents import render, search
from services.dmp.documents.params import Params, count
from services.dmp.models import Binary, Document, Dossier
from services.dmp.notifications import queue_emergency_notice
from services.dmp.patients import service as patients
from shared.errors import BadRequestError, GoneError, Issue, NotFoundError
from shared.fhir.outcome import operation_outcome
from shared.personas import Personas


@dataclass(frozen=True)
class Reader:
    """What a consultation needs besides the session."""

    caller: Caller
    base_url: str
    personas: Personas
    trace: Trace
    now: dt.datetime
    page_size: int
    max_page_size: int


def grant(facts: DossierFacts, reader: Reader) -> policy.Viewer:
    """The caller's access to this DMP (raises :class:`policy.Refused`), on the trace."""
    reader.trace.about(facts)
    viewer = policy.consult(reader.caller, facts, reader.now.date())
    reader.trace.basis = viewer.basis
    return viewer


def consult(session: Session, dossier: Dossier, reader: Reader) -> policy.Viewer:
    """:func:`grant`; an emergency access queues the notice to the holder and the médecin
    traitant."""
    viewer = grant(facts_of(session, dossier), reader)
    if viewer.emergency is not None:
        reader.trace.also.append(
            lambda writing: queue_emergency_notice(
                writing, dossier, reader.caller, viewer, reader.personas, reader.now
            )
        )
    return viewer


def patient_dossier(session: Session, params: Params, reader: Reader) -> Dossier | None:
    return patients.find(session, subject(params, reader))


def subject(params: Params, reader: Reader) -> patients.SubjectRef:
    """The searched patient, checked and noted on the trace; refused (403) to a Mon espace
    santé token of another patient and to a software account."""
    name, value = search.subject_of(params)
    if name == "patient":
        reference = value if "/" in value or "?" in value else f"Patient/{value}"
        try:
            ref = patients.parse_subject(reference, reader.base_url, reader.personas)
        except ValueError as exc:
            raise BadRequestError(str(exc), expression=["patient"], fhir_code="value") from exc
    else:
        oid, ins = patients.parse_ins_token(value, reader.personas, name)
        ref = patients.SubjectRef(oid=oid, ins=ins)
    reader.trace.ins, reader.trace.ins_oid = ref.ins, ref.oid
    mes = reader.caller.mes
    if (
        mes is not None
        and ref.ins is not None
        and (mes.patient_ins_oid, mes.patient_ins) != (ref.oid, ref.ins)
    ):
        raise policy.Refused("this Mon espace santé token gives access to another patient's data only")
    if reader.caller.kind == "software":
        raise policy.Refused("a software account (client_credentials) cannot consult a DMP")
    return ref


def _links(
    params: Params, base: str, resource: str, offset: int, size: int, total: int
) -> list[dict[str, str]]:
    from urllib.parse import urlencode

    kept = [(k, v) for k, v in params.raw if k not in ("_offset", "_count")]

    def url(at: int) -> str:
        return f"{base}/{resource}?" + urlencode([*kept, ("_count", str(size)), ("_offset", str(at))])

    links = [{"relation": "self", "url": url(offset)}]
    if offset + size < total:
        links.append({"relation": "next", "url": url(offset + size)})
    if offset > 0:
        links.append({"relation": "previous", "url": url(max(0, offset - size))})
    return links


def searchset(
    params: Params,
    base: str,
    resource: str,
    total: int,
    entries: list[dict[str, Any]],
    offset: int,
    size: int,
    warnings: list[Issue],
) -> dict[str, Any]:
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "total": total}
    bundle["link"] = _links(params, base, resource, offset, size, total)
    if warnings:
        entries = [*entries, {"resource": operation_outcome(warnings), "search": {"mode": "outcome"}}]
    if entries:
        bundle["entry"] = entries
    return bundle


@dataclass(frozen=True)
class Paging:
    """An ITI-67 search's page and warnings, read from its parameters before any row."""

    size: int
    offset: int
    warnings: list[Issue]


def paging(params: Params, reader: Reader) -> Paging:
    size, offset = count(params, reader.page_size, reader.max_page_size)
    warnings = [w for w in [params.warning(search.DOCUMENT_PARAMS)] if w]
    if not params.occurrences("status"):
        warnings.append(
            Issue(
                "status is required by ITI-67: searched status=current",
                code="required",
                severity="warning",
                expression=("status",),
            )
        )
    return Paging(size, offset, warnings)


def page_of(pages: Paging, rows: list[Document], reader: Reader) -> list[Document]:
    """The rows of the page asked for, named on the trace."""
    page = rows[pages.offset : pages.offset + pages.size]
    reader.trace.add_all("DocumentReference", [r.id for r in page])
    return page


def replaced_ids(page: list[Document]) -> list[str]:
    """The logicalIds the page's documents replace (their ``relatesTo`` names the current
    entryUUID)."""
    return [r.replaces for r in page if r.replaces]


def document_bundle(
    params: Params,
    pages: Paging,
    total: int,
    page: list[Document],
    replaced: dict[str, str],
    reader: Reader,
) -> dict[str, Any]:
    """ITI-67's searchset of ``page`` (``total`` matches)."""
    entries = [
        {
            "fullUrl": f"{reader.base_url}/DocumentReference/{row.id}",
            "resource": render.document(row, reader.base_url, replaced),
            "search": {"mode": "match"},
        }
        for row in page
    ]
    return searchset(
        params, reader.base_url, "DocumentReference", total, entries, pages.offset, pages.size, pages.warnings
    )


def find_documents(session: Session, params: Params, reader: Reader) -> dict[str, Any]:
    """ITI-67 (TD3.1a, TD3.1b); :mod:`services.dmp.documents.direct` answers the usual
    search with the same functions, without the session."""
    pages = paging(params, reader)
    dossier = patient_dossier(session, params, reader)
    if dossier is None:
        return document_bundle(params, pages, 0, [], {}, reader)
    viewer = consult(session, dossier, reader)
    rows = search.find_documents(session, dossier.id, params, viewer)
    page = page_of(pages, rows, reader)
    replaced = search.current_ids(session, replaced_ids(page))
    return document_bundle(params, pages, len(rows), page, replaced, reader)


def find_lists(session: Session, params: Params, reader: Reader) -> dict[str, Any]:
    """ITI-66: SubmissionSets and Folders."""
    size, offset = count(params, reader.page_size, reader.max_page_size)
    warnings = [w for w in [params.warning(search.LIST_PARAMS)] if w]
    dossier = patient_dossier(session, params, reader)
    if dossier is None:
        return searchset(params, reader.base_url, "List", 0, [], offset, size, warnings)
    viewer = consult(session, dossier, reader)
    every = Params([("status", "current,superseded")])
    members = {row.logical_id: row.id for row in search.find_documents(session, dossier.id, every, viewer)}
    found = search.find_lists(session, dossier.id, params, members)
    page = found[offset : offset + size]
    reader.trace.add_all("List", [row.id for row, _ in page])
    entries = [
        {
            "fullUrl": f"{reader.base_url}/List/{row.id}",
            "resource": render.document_list(row, reader.base_url, visible),
            "search": {"mode": "match"},
        }
        for row, visible in page
    ]
    return searchset(params, reader.base_url, "List", len(found), entries, offset, size, warnings)


def visible_document(session: Session, row: Document | None, reader: Reader) -> tuple[Document, Dossier]:
    """The document if the caller may see it; 404 otherwise, whatever the reason (Z.8)."""
    hidden = NotFoundError("no such document", expression=["DocumentReference.id"])
    if row is None:
        raise hidden
    dossier = session.get(Dossier, row.dossier_id)
    assert dossier is not None
    try:
        viewer = consult(session, dossier, reader)
    except policy.Refused as refusal:
        reader.trace.basis = str(refusal)
        raise NotFoundError("no such document", expression=["DocumentReference.id"]) from refusal
    latest = (
        row
        if row.latest
        else session.scalars(
            select(Document).where(Document.logical_id == row.logical_id, Document.latest.is_(True))
        ).one()
    )
    if not policy.visible(search.columns(latest), viewer) and not (
        latest.deleted and _could_see(latest, viewer)
    ):
        raise hidden
    return row, dossier


def _could_see(row: Document, viewer: policy.Viewer) -> bool:
    columns = search.columns(row)
    columns["deleted"] = False
    return policy.visible(columns, viewer)


def read_document(session: Session, document_id: str, reader: Reader) -> Document:
    row, _ = visible_document(session, session.get(Document, document_id), reader)
    reader.trace.add("DocumentReference", row.id)
    if row.deleted:
        raise GoneError("this document was deleted", expression=["DocumentReference.id"])
    if not row.latest:
        newer = session.scalars(
            select(Document.id).where(Document.logical_id == row.logical_id, Document.latest.is_(True))
        ).one()
        raise GoneError(
            f"this is a former version of the document's metadata: its entryUUID is now {newer} "
            f"(identifier urn:uuid:{row.logical_id})",
            expression=["DocumentReference.id"],
        )
    return row


def retrieve(session: Session, binary_id: str, reader: Reader) -> Binary:
    """ITI-68: the document's bytes (404 unknown or hidden; 410 replaced or deleted)."""
    row = session.scalars(
        select(Document)
        .where(Document.binary_id == binary_id, Document.latest.is_(True))
        .order_by(Document.version.desc())
    ).first()
    row, _ = visible_document(session, row, reader)
    reader.trace.add("Binary", binary_id)
    if row.deleted or row.status != "current":
        raise GoneError(
            f"this document is {'deleted' if row.deleted else row.status}: it is no longer available "
            "(MHD ITI-68: 410)",
            expression=["Binary.id"],
        )
    binary = session.get(Binary, binary_id)
    if binary is None:
        raise NotFoundError("no such document", expression=["Binary.id"])
    return binary

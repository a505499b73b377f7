"""Writing a checked submission, all of it or nothing (the request's transaction).

Rules that need the database are applied here, before anything is written: the patient
has an open DMP the caller may feed, no uniqueId is already in the DMP
(XDSDuplicateUniqueIdInRegistry), a replaced document is the current version of a
document of the same DMP and the caller is its author (or of its author's structure),
and the UpdateDocumentRefs PATCH only moves it to ``superseded``. Then the rows are
written in the order of the entries, with a fault checkpoint before each (the seam that
lets a test crash the transaction half-way: ``/_sandbox/faults``, method ``DMP:STORE``);
the rows themselves are written by :mod:`services.dmp.publication.rows`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy.orm import Session

from services.dmp.access import policy
from services.dmp.access.caller import Caller
from services.dmp.access.service import facts_of
from services.dmp.audit.service import Trace
from services.dmp.dates import instant
from services.dmp.documents import render
from services.dmp.documents.patch import apply_fhirpath_patch
from services.dmp.documents.search import columns
from services.dmp.errors import (
    DEPRECATED_DOCUMENT,
    UNKNOWN_PATIENT,
    Problems,
)
from services.dmp.models import Document, Dossier
from services.dmp.patients import service as patients
from services.dmp.patients.service import DossierKeys
from services.dmp.publication.bundle import DocPlan, ListPlan, Plan
from services.dmp.publication.rows import (
    Context,
    Insert,
    NewDocument,
    check_unique_ids,
    checkpoint,
    new_binary,
    new_document,
    new_version,
    session_insert,
    submission_list,
)
from shared.errors import ForbiddenError, Issue, NotFoundError, UnprocessableError
from shared.fhir.outcome import operation_outcome


def open_dossier(session: Session, subject: patients.SubjectRef, caller: Caller, trace: Trace) -> Dossier:
    dossier = patients.find(session, subject)
    if dossier is None:
        trace.ins, trace.ins_oid = subject.ins, subject.oid
        raise NotFoundError(
            "this patient has no DMP (TD0.2 answers 0 entries)",
            details_code=UNKNOWN_PATIENT,
            expression=["subject"],
        )
    trace.about(dossier)
    trace.basis = policy.publish(caller, facts_of(session, dossier))
    return dossier


def _replaced(
    session: Session, dossier: Dossier, target: str, ctx: Context, problems: Problems, expression: str
) -> Document | None:
    row = session.get(Document, target)
    viewer_facts = facts_of(session, dossier)
    if row is None or row.dossier_id != dossier.id or row.deleted:
        problems.error(
            f"DocumentReference/{target} is not a document of this DMP",
            expression,
            code="not-found",
            xds="UnresolvedReferenceException",
        )
        return None
    if not row.latest or row.status != "current":
        problems.error(
            f"DocumentReference/{target} is not the current version of a document (status "
            f"{row.status}): it cannot be replaced",
            expression,
            code="conflict",
            xds=DEPRECATED_DOCUMENT,
        )
        return None
    if not policy.is_author(ctx.caller, columns(row), viewer_facts):
        raise ForbiddenError(
            "only the author of a document, or someone of the author's structure, may replace "
            "it (PDSm4DMP TD3.3c NB2)",
            expression=[expression],
        )
    return row


def _supersede(
    session: Session,
    target: Document,
    parameters: dict[str, Any],
    ctx: Context,
    problems: Problems,
    expression: str,
) -> dict[str, Any] | None:
    """The UpdateDocumentRefs PATCH: it may only move the document to ``superseded``."""
    before = render.document(target, ctx.base_url)
    try:
        after = apply_fhirpath_patch(before, parameters)
    except (UnprocessableError, ValueError) as exc:
        problems.error(f"the PATCH does not apply: {exc}", expression, code="processing")
        return None
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    if changed != {"status"} or after.get("status") != "superseded":
        problems.error(
            "in ITI-65 the PATCH of a replaced DocumentReference only sets status to 'superseded' "
            f"(it changed {sorted(changed) or 'nothing'})",
            expression,
            code="invalid",
        )
        return None
    return after


def _outcome(warnings: list[Issue]) -> dict[str, Any] | None:
    return operation_outcome(warnings) if warnings else None


def _entry(
    kind: str,
    resource_id: str,
    base_url: str,
    status: str,
    version: int | None,
    now: dt.datetime,
    warnings: list[Issue],
) -> dict[str, Any]:
    location = f"{kind}/{resource_id}" + (f"/_history/{version}" if version else "")
    response: dict[str, Any] = {"status": status, "location": location, "lastModified": instant(now)}
    if version:
        response["etag"] = render.etag(version)
    outcome = _outcome(warnings)
    if outcome:
        response["outcome"] = outcome
    return {"fullUrl": f"{base_url}/{kind}/{resource_id}", "response": response}


def submit(session: Session, plan: Plan, ctx: Context) -> dict[str, Any]:
    """ITI-65 after :func:`plan_transaction`: the transaction-response Bundle."""
    dossier = open_dossier(session, plan.subject, ctx.caller, ctx.trace)
    problems = Problems()
    check_unique_ids(
        session,
        [(p.facts.unique_id, f"Bundle.entry[{p.index}].resource.masterIdentifier") for p in plan.documents],
        problems,
    )
    targets: dict[str, Document] = {}
    for doc in plan.documents:
        if doc.replaces:
            found = _replaced(
                session, dossier, doc.replaces, ctx, problems, f"Bundle.entry[{doc.index}].resource.relatesTo"
            )
            if found is not None:
                targets[doc.replaces] = found
    patched: dict[int, dict[str, Any]] = {}
    for patch in plan.patches:
        if patch.target in targets:
            after = _supersede(
                session,
                targets[patch.target],
                patch.parameters,
                ctx,
                problems,
                f"Bundle.entry[{patch.index}].resource",
            )
            if after is not None:
                patched[patch.index] = after
    problems.raise_if_any()
    return _write(session, dossier, plan, targets, patched, ctx)


def _write(
    session: Session,
    dossier: Dossier,
    plan: Plan,
    targets: dict[str, Document],
    patched: dict[int, dict[str, Any]],
    ctx: Context,
) -> dict[str, Any]:
    entries = write_new(session_insert(session), dossier, plan, targets, ctx)
    patches = {p.index: p for p in plan.patches}
    for index in sorted(patches):
        checkpoint(ctx.faults, "PATCH")
        target = targets[patches[index].target]
        fresh = new_version(
            session, target, _without_managed(patched[index], target), ctx.now, status="superseded"
        )
        ctx.trace.add("DocumentReference", fresh.id)
        entries[index] = _entry(
            "DocumentReference", fresh.id, ctx.base_url, "200 OK", fresh.version, ctx.now, []
        )
    session.flush()
    return response_bundle(entries, ctx)


def write_new(
    insert: Insert, dossier: DossierKeys, plan: Plan, targets: dict[str, Document], ctx: Context
) -> list[dict[str, Any]]:
    """The new Binary, DocumentReference and List rows of a submission; the response's
    entries (those of the PATCHes left empty: :func:`_write` fills them)."""
    ids = {index: str(uuid.uuid4()) for index in plan.binaries}
    list_ids = {p.index: str(uuid.uuid4()) for p in [plan.submission_set, *plan.folders]}
    by_index: dict[int, DocPlan] = {d.index: d for d in plan.documents}
    lists: dict[int, ListPlan] = {p.index: p for p in [plan.submission_set, *plan.folders]}
    entries: list[dict[str, Any]] = [{} for _ in range(plan.size)]
    documents: dict[int, NewDocument] = {}
    # Written kind by kind, parents first, each row by an INSERT executed at once (the rows
    # are in the database when the next checkpoint may fail); answered in request order.
    for index in sorted(plan.binaries):
        checkpoint(ctx.faults, "Binary")
        owner = next(d for d in plan.documents if d.binary_index == index)
        new_binary(
            insert, dossier, ids[index], owner.facts.content_type, owner.content, ctx.now, owner.digest
        )
        entries[index] = _entry("Binary", ids[index], ctx.base_url, "201 Created", None, ctx.now, [])
    for index in sorted(by_index):
        doc = by_index[index]
        checkpoint(ctx.faults, "DocumentReference")
        assert doc.binary_index is not None
        replaced = targets.get(doc.replaces or "")
        row = new_document(
            insert,
            dossier,
            doc.resource,
            doc.facts,
            binary_id=ids[doc.binary_index],
            submission_set_id=list_ids[plan.submission_set.index],
            ctx=ctx,
            replaces=replaced.logical_id if replaced is not None else None,
        )
        documents[index] = row
        ctx.trace.add("DocumentReference", row.id)
        entries[index] = _entry(
            "DocumentReference", row.id, ctx.base_url, "201 Created", 1, ctx.now, plan.warnings.get(index, [])
        )
    for index in sorted(lists):
        checkpoint(ctx.faults, "List")
        members = [documents[i].logical_id for i in lists[index].member_indexes]
        submission_list(insert, dossier, lists[index], list_ids[index], members, ctx)
        ctx.trace.add("List", list_ids[index])
        entries[index] = _entry(
            "List", list_ids[index], ctx.base_url, "201 Created", 1, ctx.now, plan.warnings.get(index, [])
        )
    return entries


def response_bundle(entries: list[dict[str, Any]], ctx: Context) -> dict[str, Any]:
    """ITI-65's transaction-response Bundle."""
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {
            "profile": [
                "https://profiles.ihe.net/ITI/MHD/StructureDefinition/IHE.MHD.ProvideDocumentBundleResponse"
            ]
        },
        "type": "transaction-response",
        "link": [{"relation": "self", "url": ctx.base_url}],
        "entry": entries,
    }


def _without_managed(resource: dict[str, Any], row: Document) -> dict[str, Any]:
    """A rendered resource back to what a row keeps (the server-managed parts removed)."""
    kept = {
        k: v for k, v in resource.items() if k not in ("resourceType", "id", "meta", "identifier", "status")
    }
    kept["resourceType"] = "DocumentReference"
    content = dict(kept["content"][0])
    content["attachment"] = dict(row.resource["content"][0]["attachment"])
    kept["content"] = [content]
    return kept

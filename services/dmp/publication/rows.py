"""Writing the rows of a publication (ITI-65, ITI-105), and what a write needs.

Each row is one INSERT executed at once by an :data:`Insert` (``insert_row`` on the
request's session, or a statement compiled once on a bare DBAPI connection:
:mod:`services.dmp.publication.direct`): the rows are in the database when the next fault
checkpoint may fail (``/_sandbox/faults``, method ``DMP:STORE``), and the request's
transaction rolls all of them back.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from services.dmp import terminology as term
from services.dmp.access.caller import Caller
from services.dmp.audit.service import Trace
from services.dmp.errors import DUPLICATE_IN_REGISTRY, InjectedFault, Problems
from services.dmp.models import Base, Binary, Document, DocumentList, insert_row
from services.dmp.patients import service as patients
from services.dmp.patients.service import DossierKeys
from services.dmp.publication.bundle import ListPlan
from services.dmp.publication.metadata import DocFacts, attachment_hash
from shared.faults import FaultBook


@dataclass(frozen=True)
class Context:
    """What a write needs besides the session."""

    caller: Caller
    base_url: str
    faults: FaultBook
    trace: Trace
    now: dt.datetime


def checkpoint(faults: FaultBook, what: str) -> None:
    """The sandbox's seam inside a transaction: a ``DMP:STORE`` fault on ``what`` fails here."""
    hit = faults.hit("DMP:STORE", what)
    if hit is not None and hit.status is not None:
        raise InjectedFault(hit.detail or f"fault injected while storing {what}", status=hit.status)


#: Writes one new row (a model and every column's value) in the request's transaction.
Insert = Callable[[type[Base], dict[str, Any]], None]


def session_insert(session: Session) -> Insert:
    """An :data:`Insert` on the request's session (``insert_row``)."""

    def insert(model: type[Base], values: dict[str, Any]) -> None:
        insert_row(session, (model, values))

    return insert


# Built once (on every publication's path).
_UNIQUE_IDS = select(Document.unique_id).where(Document.unique_id.in_(bindparam("wanted", expanding=True)))


def check_unique_ids(session: Session, unique_ids: list[tuple[str, str]], problems: Problems) -> None:
    wanted = [uid for uid, _ in unique_ids if uid]
    if not wanted:
        return
    existing = set(session.connection().execute(_UNIQUE_IDS, {"wanted": wanted}).scalars())
    report_duplicates(unique_ids, existing, problems)


def report_duplicates(unique_ids: list[tuple[str, str]], existing: set[str], problems: Problems) -> None:
    """XDSDuplicateUniqueIdInRegistry for each (uniqueId, expression) already in the DMP."""
    for uid, expression in unique_ids:
        if uid in existing:
            problems.error(
                f"a document with uniqueId '{uid}' is already in the DMP",
                expression,
                code="duplicate",
                xds=DUPLICATE_IN_REGISTRY,
            )


def stored_resource(resource: dict[str, Any], dossier: DossierKeys, caller: Caller) -> dict[str, Any]:
    """The DocumentReference as kept: its subject normalised, no inline data, a custodian."""
    # Shallow copies: the request's resource is not used after this, only what changes is new.
    kept = {k: v for k, v in resource.items() if k not in ("id", "meta", "identifier")}
    kept["subject"] = patients.subject_reference(dossier)
    content = dict(kept["content"][0])
    content["attachment"] = {k: v for k, v in content["attachment"].items() if k != "data"}
    kept["content"] = [content, *kept["content"][1:]]
    if not kept.get("custodian"):
        pro = caller.professional
        if pro is not None and pro.organisation_id:
            kept["custodian"] = {
                "identifier": {"system": "urn:oid:1.2.250.1.71.4.2.2", "value": pro.organisation_id},
                "display": pro.organisation or pro.organisation_id,
            }
    return kept


@dataclass(frozen=True)
class NewDocument:
    """A DocumentReference just written: its entryUUID and logicalId, and its columns."""

    id: str
    logical_id: str
    values: dict[str, Any]

    def row(self) -> Document:
        """A transient row, for rendering (building one costs as much as the INSERT)."""
        return Document(**self.values)


def new_document(
    insert: Insert,
    dossier: DossierKeys,
    resource: dict[str, Any],
    facts: DocFacts,
    *,
    binary_id: str,
    submission_set_id: str,
    ctx: Context,
    replaces: str | None = None,
) -> NewDocument:
    pro = ctx.caller.professional
    submitter = pro.idnat if pro is not None else f"patient:{dossier.ins}"
    values: dict[str, Any] = dict(
        id=str(uuid.uuid4()),
        logical_id=str(uuid.uuid4()),
        version=1,
        latest=True,
        dossier_id=dossier.id,
        binary_id=binary_id,
        submission_set_id=submission_set_id,
        unique_id=facts.unique_id,
        status="current",
        deleted=False,
        archived=facts.archived,
        masked_ps=term.MASQUE_PS in facts.visibility,
        invisible_patient=term.INVISIBLE_PATIENT in facts.visibility,
        invisible_rl=term.INVISIBLE_RL in facts.visibility,
        type_token=facts.type_token,
        class_token=facts.class_token,
        format_token=facts.format_token,
        facility_token=facts.facility_token,
        setting_token=facts.setting_token,
        tokens={"security": facts.security, "event": facts.events, "related": facts.related},
        date=facts.date,
        creation=facts.creation,
        period_start=facts.period_start,
        period_end=facts.period_end,
        authors=facts.authors,
        submitter=submitter,
        author_org=pro.organisation_id if pro is not None else None,
        replaces=replaces,
        resource=stored_resource(resource, dossier, ctx.caller),
        created_at=ctx.now,
    )
    insert(Document, values)
    return NewDocument(values["id"], values["logical_id"], values)


def new_binary(
    insert: Insert,
    dossier: DossierKeys,
    binary_id: str,
    content_type: str,
    content: bytes,
    now: dt.datetime,
    digest: str | None = None,
) -> None:
    """``digest``: the content's ``Attachment.hash`` when the caller has it already."""
    digest = digest or attachment_hash(content)
    values = {
        "id": binary_id,
        "dossier_id": dossier.id,
        "content_type": content_type,
        "data": content,
        "size": len(content),
        "sha1": digest,
        "created_at": now,
    }
    insert(Binary, values)


def new_version(
    session: Session, row: Document, resource: dict[str, Any], now: dt.datetime, **changes: Any
) -> Document:
    """A metadata change: a new entryUUID and version, the same logicalId."""
    row.latest = False
    values = {c.key: getattr(row, c.key) for c in Document.__table__.columns}
    values.update(
        id=str(uuid.uuid4()),
        version=row.version + 1,
        latest=True,
        created_at=now,
        resource=resource,
        **changes,
    )
    fresh = Document(**values)
    session.flush()  # the old row stops being the latest before the new one is
    session.add(fresh)
    return fresh


def submission_list(
    insert: Insert, dossier: DossierKeys, plan: ListPlan, list_id: str, members: list[str], ctx: Context
) -> None:
    # A shallow copy: the request's resource is not used after this (written as JSON now).
    resource = {k: v for k, v in plan.resource.items() if k not in ("id", "meta", "entry")}
    resource["subject"] = patients.subject_reference(dossier)
    author = plan.facts.author or {}
    values = dict(
        id=list_id,
        dossier_id=dossier.id,
        kind=plan.facts.kind,
        status="current",
        date=plan.facts.date or ctx.now,
        source_id=plan.facts.source_id,
        designation_token=plan.facts.designation_token,
        unique_id=plan.facts.unique_id,
        title=plan.facts.title,
        author_idnat=author.get("idnat"),
        author_given=author.get("given"),
        author_family=author.get("family"),
        author_org=ctx.caller.organisation,
        members=members,
        resource=resource,
        created_at=ctx.now,
    )
    insert(DocumentList, values)

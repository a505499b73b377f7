"""ITI-67's usual search without the session (issue #4 item 10): one patient's documents by
status, with nothing else filtered, in the normal access mode.

Through the request's session a search cost ~5.6 ms of CPU on a slow 2-vCPU machine, much
of it SQLAlchemy's machinery around five short statements in two transactions on SQLite
(the DMP through the ORM, the holder's controls, the documents with every column, then the
trace in a transaction of its own). Here, as ITI-65's direct path does
(:mod:`services.dmp.publication.direct`), statements compiled once
(:mod:`shared.db.prepared`, for :data:`~shared.db.prepared.native_dialect`) run as steps
(:mod:`shared.db.steps`): one SELECT reads the DMP with its holder's controls, one the
documents with the columns the rules and the rendering read (found by the same INS or id,
so that PostgreSQL gets both in one round trip), then the trace is written. On SQLite that
is one transaction on the event loop, its write lock held for these few hundred
microseconds, not only for the trace's INSERT. On PostgreSQL, on the event loop's
connection, each statement is its own transaction (the two reads share one): two round
trips (the pool checks its connections without one), not seven. The answer is rendered
after the trace is written.

The parameters, the rules, the paging, the trace and the rendering are
:mod:`services.dmp.documents.service`'s own functions; a refusal is traced in a
transaction of its own as :func:`services.dmp.audit.service.run_traced` does. What this
path leaves to the session (:func:`services.dmp.documents.service.find_documents`) it gives
back having written nothing: any other filter, several statuses, an emergency access (its
notice goes to the outbox through the session).
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Select, Table, bindparam, select
from sqlalchemy.engine import Dialect
from starlette.concurrency import run_in_threadpool

from services.dmp.access import policy
from services.dmp.access.caller import Caller
from services.dmp.access.service import (
    CARE_TEAM,
    DOSSIER_AND_CONTROLS,
    care_team_of,
    facts_from_rows,
)
from services.dmp.audit.service import note_success, record_failure, success_values
from services.dmp.documents import search, service
from services.dmp.documents.params import Params
from services.dmp.models import AuditRecord, Document, Dossier
from services.dmp.patients.service import SubjectRef
from shared.db import steps
from shared.db.engine import Database
from shared.db.prepared import PerDialect, Prepared, native_dialect
from shared.errors import SandboxError

#: The parameters the SQL or the row filters of the full search look at: a search naming
#: none of them (the patient and the status, paging, the format) is answered here.
_FILTERS = frozenset(
    search.DOCUMENT_PARAMS - {"patient", "patient.identifier", "patient:identifier", "status"}
)

_DOSSIERS = cast(Table, Dossier.__table__)
_DOCUMENTS = cast(Table, Document.__table__)
_AUDIT_EVENTS = cast(Table, AuditRecord.__table__)
#: What the rules (``search.columns``), the paging, the trace and ``render.document`` read of
#: a document; not ``tokens``, ``date``... that only filters read.
_READ = (
    "id",
    "logical_id",
    "version",
    "binary_id",
    "status",
    "deleted",
    "masked_ps",
    "invisible_patient",
    "invisible_rl",
    "authors",
    "submitter",
    "author_org",
    "replaces",
    "resource",
    "created_at",
)
_BY_INS = (_DOSSIERS.c.ins_oid == bindparam("oid"), _DOSSIERS.c.ins == bindparam("ins"))


def _found(dossier_id: Any) -> Select[Any]:
    """The DMP's documents of one status: ``search.document_query`` without other filters."""
    return (
        select(*(_DOCUMENTS.c[name] for name in _READ))
        .where(Document.dossier_id == dossier_id, *search.TODAY, Document.status == bindparam("status"))
        .order_by(*search.NEWEST_FIRST)
    )


_CURRENT_ID = select(Document.id).where(
    Document.logical_id == bindparam("logical"), Document.latest.is_(True)
)


class _Statements:
    """This path's statements, compiled for one (native) dialect."""

    def __init__(self, dialect: Dialect) -> None:
        # The DMP and its documents, by INS or by the DMP's id, each pair independent of the
        # other: PostgreSQL sends a pair at once.
        self.by_ins = (
            Prepared(DOSSIER_AND_CONTROLS.where(*_BY_INS), dialect),
            Prepared(_found(select(_DOSSIERS.c.id).where(*_BY_INS).scalar_subquery()), dialect),
        )
        self.by_id = (
            Prepared(DOSSIER_AND_CONTROLS.where(_DOSSIERS.c.id == bindparam("id")), dialect),
            Prepared(_found(bindparam("id")), dialect),
        )
        self.care_team = Prepared(CARE_TEAM, dialect)
        self.current_id = Prepared(_CURRENT_ID, dialect)


_STATEMENTS = PerDialect(lambda dialect: _Statements(native_dialect(dialect)))


class _Fallback(Exception):
    """This path met what it leaves to the session (nothing was written)."""


def usual(params: Params, caller: Caller) -> bool:
    """Whether this path may answer the search (it may still give it back)."""
    return (
        caller.mode == "normal"
        and not any(key in _FILTERS for key, _ in params.raw)
        and len(search.requested_statuses(params)) == 1
    )


async def find_documents(db: Database, params: Params, reader: service.Reader) -> dict[str, Any] | None:
    """:func:`services.dmp.documents.service.find_documents`, traced: the searchset, or
    ``None`` (nothing written, nothing traced) when the session path must answer."""
    if not usual(params, reader.caller):
        return None
    try:
        pages = service.paging(params, reader)
        subject = service.subject(params, reader)
        found = await steps.perform(
            db, _finding(_STATEMENTS(db.engine.dialect), subject, params, pages, reader)
        )
    except _Fallback:
        return None
    except SandboxError as error:
        await run_in_threadpool(record_failure, db, reader.caller, reader.trace, error)
        raise
    total, page, replaced = found
    if reader.trace.ins is not None:
        note_success(reader.trace)
    return service.document_bundle(params, pages, total, page, replaced, reader)


def _finding(
    statements: _Statements,
    subject: SubjectRef,
    params: Params,
    pages: service.Paging,
    reader: service.Reader,
) -> steps.Steps[tuple[int, list[Document], dict[str, str]]]:
    """The total, the page and the entryUUIDs it needs, and the trace written: as steps."""
    if subject.dossier_id is not None:
        (dossier, documents), key = statements.by_id, {"id": subject.dossier_id}
    else:
        (dossier, documents), key = statements.by_ins, {"oid": subject.oid or "", "ins": subject.ins or ""}
    status = search.requested_statuses(params)[0]
    rows, found_rows = yield steps.Read(((dossier, key), (documents, {**key, "status": status})))
    found: tuple[int, list[Document], dict[str, str]] = (0, [], {})
    if rows:
        viewer = yield from _granted(statements, rows, reader)
        search.statuses(params)  # an unknown status is refused after the access, as by the session
        if viewer.emergency is not None:
            raise _Fallback  # the notice to the holder is written through the session
        matched = search.matching(cast(list[Document], found_rows), params, viewer, _unfiltered)
        page = service.page_of(pages, matched, reader)
        found = (len(matched), page, (yield from _current_ids(statements, service.replaced_ids(page))))
    values = success_values(reader.caller, reader.trace)
    if values is not None:
        yield steps.Write(((_AUDIT_EVENTS, values),))
    return found


class _CareTeamUnread(Exception):
    """A rule asked for the care team, which the first round trip does not read."""


def _care_team_unread() -> tuple[frozenset[str], frozenset[str]]:
    raise _CareTeamUnread


def _granted(statements: _Statements, rows: list[Any], reader: service.Reader) -> steps.Steps[policy.Viewer]:
    """``service.grant`` on the DMP's rows; the care team read only when a rule asks for it
    (most callers are decided without it), and the rules then asked again (they are pure)."""
    try:
        return service.grant(facts_from_rows(rows, _care_team_unread), reader)
    except _CareTeamUnread:
        (team,) = yield steps.Read(((statements.care_team, {"dossier": rows[0].id}),))
        members = care_team_of(team)
        return service.grant(facts_from_rows(rows, lambda: members), reader)


def _unfiltered(_: list[str]) -> dict[str, str]:
    # Only the relatesto filter asks for current entryUUIDs, and this path leaves it to the
    # session (_FILTERS).
    raise _Fallback


def _current_ids(statements: _Statements, logical_ids: list[str]) -> steps.Steps[dict[str, str]]:
    """logicalId → the entryUUID of its latest version, for the page's replaced documents."""
    if not logical_ids:
        return {}
    found = yield steps.Read([(statements.current_id, {"logical": logical}) for logical in logical_ids])
    return {logical: rows[0].id for logical, rows in zip(logical_ids, found, strict=True) if rows}

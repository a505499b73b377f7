"""ITI-65's usual case without the ORM (issue #4): a submission of new documents to an open
DMP the caller may feed, with nothing already in the DMP.

Through the request's session the database part of a publication cost ~2 ms of CPU under
load, mostly SQLAlchemy's machinery (the session, the ORM's load of the DMP, ~50 µs per
statement on top of the database's own few) for ~7 statements. Here the same statements,
compiled once (:mod:`shared.db.prepared`; on PostgreSQL with its own ``$n`` placeholders,
which psycopg's raw cursor sends as they are: the one statement of four INSERTs, ~80
parameters, was otherwise rewritten by psycopg in Python at every publication, ~400 µs of
a publication's ~1.7 ms of CPU), run as steps (:mod:`shared.db.steps`): one SELECT reads
the DMP, the holder's controls and whether the first document's uniqueId is taken (one
more per further document, sent together), then the rows of
:func:`services.dmp.publication.service.write_new` (the same code, fault checkpoints
included) and the trace's are written, all or none. On SQLite that is one transaction on
the event loop; on PostgreSQL two round trips on the event loop's connection, not nine,
and two statements: the SELECT, then the INSERTs as one statement.

The rules are the same functions as the full path's (``policy.publish``,
``report_duplicates``); a refusal, a duplicate or an injected fault is traced in a
transaction of its own exactly as :func:`services.dmp.audit.service.run_traced` does.
What this path leaves to the full one (:func:`services.dmp.publication.service.submit`)
it gives back, having written nothing: a replacement (it reads and renders the replaced
document through the ORM) and an unknown patient.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, bindparam, exists, select
from sqlalchemy.engine import Dialect
from starlette.concurrency import run_in_threadpool

from services.dmp.access import policy
from services.dmp.access.policy import DossierFacts
from services.dmp.access.service import DOSSIER_AND_CONTROLS, facts_from_rows
from services.dmp.audit.service import audit_values, note_success, record_failure
from services.dmp.errors import Problems
from services.dmp.models import (
    UNIQUE_ID_LATEST,
    AuditRecord,
    Base,
    Document,
    Dossier,
)
from services.dmp.publication.bundle import Plan
from services.dmp.publication.rows import Context, report_duplicates
from services.dmp.publication.service import response_bundle, write_new
from shared.db import steps
from shared.db.conflicts import unique_violation
from shared.db.engine import Database
from shared.db.prepared import PerDialect, Prepared, native_dialect
from shared.errors import SandboxError

#: Whether the first document's uniqueId is in the DMP already, in the same statement (a
#: bundle of one document, the usual one, then reads the database once).
_FIRST_TAKEN = exists().where(Document.unique_id == bindparam("uid")).label("taken")
_BY_INS = DOSSIER_AND_CONTROLS.add_columns(_FIRST_TAKEN).where(
    Dossier.ins_oid == bindparam("oid"), Dossier.ins == bindparam("ins")
)
_BY_ID = DOSSIER_AND_CONTROLS.add_columns(_FIRST_TAKEN).where(Dossier.id == bindparam("id"))
_UNIQUE_ID = select(Document.unique_id).where(Document.unique_id == bindparam("uid"))


class _Statements:
    """This path's statements, compiled for one (native) dialect."""

    def __init__(self, dialect: Dialect) -> None:
        self.by_ins = Prepared(_BY_INS, dialect)
        self.by_id = Prepared(_BY_ID, dialect)
        self.unique_id = Prepared(_UNIQUE_ID, dialect)


_STATEMENTS = PerDialect(lambda dialect: _Statements(native_dialect(dialect)))


class _Fallback(Exception):
    """This path met what it leaves to the full one (nothing was written)."""


def _care_team() -> tuple[frozenset[str], frozenset[str]]:
    # Publishing does not look at the care team (policy.publish); should a rule ever need
    # it, the full path, which loads it, answers.
    raise _Fallback


def _facts(rows: list[Any]) -> DossierFacts:
    return facts_from_rows(rows, _care_team)


async def submit_direct(db: Database, plan: Plan, ctx: Context) -> dict[str, Any] | None:
    """ITI-65 after :func:`plan_transaction`, traced: the transaction-response Bundle, or
    ``None`` (nothing written, nothing traced) when the full path must answer."""
    if plan.patches or any(doc.replaces for doc in plan.documents):
        return None
    try:
        entries = await steps.perform(db, _submission(_STATEMENTS(db.engine.dialect), plan, ctx))
    except _Fallback:
        return None
    except SandboxError as error:
        await run_in_threadpool(record_failure, db, ctx.caller, ctx.trace, error)
        raise
    except Exception as error:
        if unique_violation(error, UNIQUE_ID_LATEST):
            # A concurrent submission published one of these uniqueIds after this one
            # checked them (PostgreSQL: the check and the write are two statements): the
            # full path checks again and refuses it as a duplicate, traced.
            ctx.trace.entities.clear()  # nothing of this attempt was written
            return None
        raise
    note_success(ctx.trace)
    return response_bundle(entries, ctx)


def _submission(statements: _Statements, plan: Plan, ctx: Context) -> steps.Steps[list[dict[str, Any]]]:
    """:func:`services.dmp.publication.service.submit`'s rules and writes, as steps."""
    trace = ctx.trace
    unique_ids = [
        (p.facts.unique_id, f"Bundle.entry[{p.index}].resource.masterIdentifier") for p in plan.documents
    ]
    subject, first = plan.subject, unique_ids[0][0]
    if subject.dossier_id is not None:
        query = (statements.by_id, {"id": subject.dossier_id, "uid": first})
    else:
        query = (statements.by_ins, {"oid": subject.oid or "", "ins": subject.ins or "", "uid": first})
    (rows,) = yield steps.Read((query,))
    if not rows:
        raise _Fallback  # the full path refuses it (no DMP) and traces the refusal
    dossier = rows[0]
    trace.about(dossier)
    trace.basis = policy.publish(ctx.caller, _facts(rows))
    if trace.also:
        raise _Fallback  # writes of the trace's own: they need the session
    existing = {first} if first and dossier.taken else set()
    others = [uid for uid, _ in unique_ids[1:] if uid]
    if others:
        found = yield steps.Read([(statements.unique_id, {"uid": uid}) for uid in others])
        existing.update(uid for uid, taken in zip(others, found, strict=True) if taken)
    problems = Problems()
    report_duplicates(unique_ids, existing, problems)
    problems.raise_if_any()
    # The rows are written once they are all known: a fault injected between two of them
    # writes nothing.
    rows_out: list[tuple[Table, dict[str, Any]]] = []
    entries = write_new(
        lambda model, values: rows_out.append((_table(model), values)), dossier, plan, {}, ctx
    )
    rows_out.append((_table(AuditRecord), audit_values(ctx.caller, trace, "0", trace.basis)))
    yield steps.Write(rows_out)
    return entries


def _table(model: type[Base]) -> Table:
    return cast(Table, model.__table__)

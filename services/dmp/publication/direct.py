"""ITI-65's usual case on a bare DBAPI connection (issue #4): a submission of new documents
to an open DMP the caller may feed, with nothing already in the DMP.

Through the request's session the database part of a publication cost ~2 ms of CPU under
load, mostly SQLAlchemy's machinery (the session, the ORM's load of the DMP, ~50 µs per
statement on top of the database's own few) for ~7 statements. Here the same statements,
compiled once for the database's dialect (:mod:`shared.db.prepared`; on PostgreSQL with
its own ``$n`` placeholders, which psycopg's raw cursor sends as they are: the one
statement of four INSERTs, ~80 parameters, was otherwise rewritten by psycopg in Python at
every publication, ~400 µs of a publication's ~1.7 ms of CPU), run on
:meth:`shared.db.engine.Database.dbapi_transaction`'s connection: one SELECT reads the DMP,
the holder's controls and whether the first document's uniqueId is taken (one more per
further document), then the INSERTs of :func:`services.dmp.publication.service.write_new`
(the same code, fault checkpoints included) and the trace's, and one commit. On
PostgreSQL that is two round trips, not nine, and two statements: the SELECT on its own
(autocommit), then the INSERTs as one statement, a transaction of its own
(:class:`shared.db.prepared.InsertChain`; a submission of :data:`CHAINED_ENTRIES` or more
entries sends BEGIN, its INSERTs and COMMIT together, :mod:`shared.db.roundtrips`). The
SELECT being outside the INSERTs' transaction changes nothing at READ COMMITTED, where each
statement of a transaction sees what was committed before it began anyway.

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

from services.dmp.access import policy
from services.dmp.access.policy import DossierFacts
from services.dmp.access.service import DOSSIER_AND_CONTROLS, facts_from_rows
from services.dmp.audit.service import audit_values, note_success, record_failure
from services.dmp.errors import Problems
from services.dmp.models import (
    AuditRecord,
    Base,
    Binary,
    Document,
    DocumentList,
    Dossier,
)
from services.dmp.publication.bundle import Plan
from services.dmp.publication.rows import Context, Insert, report_duplicates
from services.dmp.publication.service import response_bundle, write_new
from shared.db.engine import Database
from shared.db.prepared import InsertChain, PerDialect, Prepared, native_cursor, native_dialect
from shared.db.roundtrips import pipelined_transaction, statement_by_statement
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
    """This path's statements, compiled for one dialect."""

    def __init__(self, dialect: Dialect) -> None:
        self.by_ins = Prepared(_BY_INS, dialect)
        self.by_id = Prepared(_BY_ID, dialect)
        self.unique_id = Prepared(_UNIQUE_ID, dialect)
        self.inserts: dict[type[Base], Prepared] = {
            model: Prepared.insert_into(_table(model), dialect)
            for model in (Binary, Document, DocumentList, AuditRecord)
        }
        self.chain = InsertChain(dialect)


_STATEMENTS = PerDialect(lambda dialect: _Statements(native_dialect(dialect)))

#: Submissions of fewer entries are written by one statement on PostgreSQL; a larger one
#: would near PostgreSQL's 65,535 parameters in one statement (a DocumentReference row has
#: 35 columns) and is written INSERT by INSERT, in one transaction all the same.
CHAINED_ENTRIES = 64


class _Fallback(Exception):
    """This path met what it leaves to the full one (its transaction is rolled back)."""


def _care_team() -> tuple[frozenset[str], frozenset[str]]:
    # Publishing does not look at the care team (policy.publish); should a rule ever need
    # it, the full path, which loads it, answers.
    raise _Fallback


def _facts(rows: list[Any]) -> DossierFacts:
    return facts_from_rows(rows, _care_team)


def submit_direct(db: Database, plan: Plan, ctx: Context) -> dict[str, Any] | None:
    """ITI-65 after :func:`plan_transaction`, traced: the transaction-response Bundle, or
    ``None`` (nothing written, nothing traced) when the full path must answer."""
    if plan.patches or any(doc.replaces for doc in plan.documents):
        return None
    statements = _STATEMENTS(db.engine.dialect)
    try:
        with db.dbapi_transaction() as connection, statement_by_statement(connection, db.is_sqlite):
            entries = _submit(connection, db.is_sqlite, statements, plan, ctx)
    except _Fallback:
        return None
    except SandboxError as error:
        record_failure(db, ctx.caller, ctx.trace, error)
        raise
    return response_bundle(entries, ctx)


def _submit(
    connection: Any, is_sqlite: bool, statements: _Statements, plan: Plan, ctx: Context
) -> list[dict[str, Any]]:
    """:func:`services.dmp.publication.service.submit`'s rules and writes on ``connection``."""
    cursor, trace = native_cursor(connection), ctx.trace
    unique_ids = [
        (p.facts.unique_id, f"Bundle.entry[{p.index}].resource.masterIdentifier") for p in plan.documents
    ]
    subject, first = plan.subject, unique_ids[0][0]
    if subject.dossier_id is not None:
        rows = statements.by_id.all(cursor, {"id": subject.dossier_id, "uid": first})
    else:
        rows = statements.by_ins.all(
            cursor, {"oid": subject.oid or "", "ins": subject.ins or "", "uid": first}
        )
    if not rows:
        raise _Fallback  # the full path refuses it (no DMP) and traces the refusal
    dossier = rows[0]
    trace.about(dossier)
    trace.basis = policy.publish(ctx.caller, _facts(rows))
    if trace.also:
        raise _Fallback  # writes of the trace's own: they need the session
    existing = {first} if first and dossier.taken else set()
    existing.update(
        uid
        for uid, _ in unique_ids[1:]
        if uid and statements.unique_id.first(cursor, {"uid": uid}) is not None
    )
    problems = Problems()
    report_duplicates(unique_ids, existing, problems)
    problems.raise_if_any()

    def insert(model: type[Base], values: dict[str, Any]) -> None:
        statements.inserts[model].execute(cursor, values)

    def write_all(write: Insert) -> list[dict[str, Any]]:
        entries = write_new(write, dossier, plan, {}, ctx)
        write(AuditRecord, audit_values(ctx.caller, trace, "0", trace.basis))
        return entries

    if not is_sqlite and plan.size < CHAINED_ENTRIES:
        # PostgreSQL: the rows in one statement (shared.db.prepared.InsertChain), sent once
        # they are all known: a fault injected between two of them sends nothing.
        chained: list[tuple[Table, dict[str, Any]]] = []
        entries = write_all(lambda model, values: chained.append((_table(model), values)))
        statements.chain.execute(cursor, chained)
    else:
        # SQLite, or a large submission on PostgreSQL: BEGIN, the INSERTs and COMMIT (in one
        # round trip on PostgreSQL), each INSERT a statement of its own run in order; an
        # error, or a fault injected between two of them, rolls them all back.
        with pipelined_transaction(connection, is_sqlite):
            entries = write_all(insert)
    note_success(trace)
    return entries


def _table(model: type[Base]) -> Table:
    return cast(Table, model.__table__)

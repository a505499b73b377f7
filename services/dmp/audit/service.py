"""Recording traces, in the request's transaction or, for a failure, in one of their own."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.dmp.access.caller import Caller
from services.dmp.models import UNIQUE_ID_LATEST, AuditRecord, insert_row
from services.dmp.patients.service import DossierKeys
from shared.db.base import utcnow
from shared.db.conflicts import unique_violation
from shared.db.engine import Database
from shared.errors import ConflictError, SandboxError
from shared.observability.exchanges import annotate

Action = Literal["C", "R", "U", "D", "E"]
T = TypeVar("T")

#: The transactions traced, with their IHE / DMP names.
SUBTYPES = {
    "ITI-65": "Provide Document Bundle",
    "ITI-105": "Simplified Publish",
    "ITI-66": "Find Document Lists",
    "ITI-67": "Find Document References",
    "ITI-68": "Retrieve Document",
    "READ": "Read DocumentReference",
    "TD0.2": "Vérification de l'existence du DMP",
    "TD0.3": "Création du DMP",
    "TD0.5": "Fermeture / réactivation du DMP",
    "TD3.3": "Mise à jour des métadonnées",
    "CONTROLS": "Gestion des autorisations par le titulaire",
}


@dataclass
class Trace:
    """What one request will record; filled as the request goes."""

    subtype: str
    action: Action
    dossier_id: str | None = None
    ins: str | None = None
    ins_oid: str | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)
    query: str | None = None
    basis: str | None = None
    #: Writes that go with the trace (the outbox of an emergency access), in its transaction.
    also: list[Callable[[Session], object]] = field(default_factory=list)

    def about(self, dossier: DossierKeys) -> None:
        # Plain values: the dossier's session may be rolled back before a failure is traced.
        self.dossier_id, self.ins, self.ins_oid = dossier.id, dossier.ins, dossier.ins_oid

    def add(self, resource_type: str, resource_id: str) -> None:
        self.entities.append({"type": resource_type, "id": resource_id})

    def add_all(self, resource_type: str, ids: Sequence[str]) -> None:
        self.entities.extend({"type": resource_type, "id": i} for i in ids)


def audit_values(caller: Caller, trace: Trace, outcome: str, description: str | None) -> dict[str, Any]:
    """The ``audit_events`` row of a trace (every column)."""
    mes = caller.mes
    return dict(
        id=str(uuid.uuid4()),
        recorded=utcnow(),
        dossier_id=trace.dossier_id,
        patient_ins=trace.ins,
        patient_ins_oid=trace.ins_oid,
        action=trace.action,
        subtype=trace.subtype,
        outcome=outcome,
        outcome_desc=description,
        agent_kind=caller.kind,
        agent_id=caller.agent_id,
        agent_name=caller.agent_name,
        agent_org=caller.professional.organisation if caller.professional else None,
        on_behalf_of=mes.account if mes is not None and mes.acting_account else None,
        client_id=caller.client_id or None,
        access_mode=caller.mode,
        reason=caller.reason,
        entities=trace.entities,
        query=trace.query,
    )


def success_values(caller: Caller, trace: Trace) -> dict[str, Any] | None:
    """The ``audit_events`` row of a successful access; ``None`` when it named no patient
    (nothing to trace)."""
    return None if trace.ins is None else audit_values(caller, trace, "0", trace.basis)


def record_success(session: Session, caller: Caller, trace: Trace) -> None:
    """The trace of a successful access, in the same transaction as the access."""
    values = success_values(caller, trace)
    if values is not None:
        insert_row(session, (AuditRecord, values))
        note_success(trace)


def note_success(trace: Trace) -> None:
    """The access rule that granted the request, on the exchange the console shows."""
    annotate(f"DMP: {SUBTYPES.get(trace.subtype, trace.subtype)} accordé — {trace.basis or 'autorisé'}")


def record_failure(db: Database, caller: Caller, trace: Trace, error: SandboxError) -> None:
    """The trace of a refused or failed access, in its own transaction (the request's
    transaction was rolled back with everything it wrote)."""
    if trace.ins is None:
        return
    outcome = "4" if error.status_code < 500 else "8"
    with db.session(write=True) as session:
        insert_row(
            session,
            (AuditRecord, audit_values(caller, trace, outcome, f"{error.status_code} {error.detail}")),
        )
    annotate(f"DMP: {SUBTYPES.get(trace.subtype, trace.subtype)} refusé — {error.detail}")


#: How many times a write runs before a lost race (below) is answered 409.
RACE_ATTEMPTS = 2


def run_traced(
    db: Database, caller: Caller, trace: Trace, work: Callable[[Session], T], *, read: bool = False
) -> T:
    """``work`` and its trace, all or nothing; a refusal or failure rolls ``work`` back and
    is traced in a transaction of its own.

    A write (``read=False``) and its trace share one write transaction, and so does a read
    on PostgreSQL. On SQLite a read runs in a read transaction and its trace is then
    written in a short one: the database's write lock is held for the trace only, not for
    the search. The answer leaves only once the trace is written: no read goes untraced.

    A write checks, then writes, at READ COMMITTED: a concurrent one may publish the same
    uniqueId, or make a new version of the same document, in between. The database then
    refuses the row (:data:`UNIQUE_ID_LATEST`: a uniqueId is the latest version of one
    document), the attempt is rolled back whole, and ``work`` runs again, which answers
    as if the two had come one after the other (a duplicate uniqueId, a document no
    longer current, an ETag that no longer matches...). Should the races go on, 409."""
    for _ in range(RACE_ATTEMPTS):
        try:
            return _run_traced(db, caller, trace, work, read=read)
        except IntegrityError as error:
            if read or not unique_violation(error, UNIQUE_ID_LATEST):
                raise
            # What the rolled-back attempt put on the trace.
            trace.entities.clear()
            trace.also.clear()
    refusal = ConflictError("other requests changed these documents at the same time: send it again")
    record_failure(db, caller, trace, refusal)
    raise refusal


def _run_traced(db: Database, caller: Caller, trace: Trace, work: Callable[[Session], T], *, read: bool) -> T:
    apart = read and db.is_sqlite
    try:
        with db.session(write=not read) as session:
            result = work(session)
            if not apart:
                _finish(session, caller, trace)
        if apart:
            with db.session(write=True) as session:
                _finish(session, caller, trace)
        return result
    except SandboxError as error:
        record_failure(db, caller, trace, error)
        raise


def _finish(session: Session, caller: Caller, trace: Trace) -> None:
    record_success(session, caller, trace)
    for write in trace.also:
        write(session)

"""ITI-67 Find Document References and ITI-66 Find Document Lists, for one patient.

Parameters (MHD ITI-67 §2:3.67.4.1.2.1, PDSm ``st_recherche_fiche.md``): ``patient`` /
``patient.identifier`` / ``patient:identifier`` (the MES API spelling) and ``status``, then
``type``, ``category``, ``format``, ``facility``, ``setting``, ``security-label``,
``event``, ``date``, ``creation``, ``period``, ``period-start``, ``period-end``,
``identifier`` (masterIdentifier or identifier), ``related``, ``relatesto`` /
``relatesTo``, ``author.given``, ``author.family``, ``author.identifier``, ``isArchived``.
The coded and dated columns are filtered in SQL; the multi-valued ones, and the per-document
visibility rules, on the patient's rows. Deleted documents are never returned (PDSm).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Select, bindparam, or_, select
from sqlalchemy.orm import Session

from services.dmp.access.policy import Viewer, visible
from services.dmp.documents.params import DateFilter, Params, Token, token_matches
from services.dmp.models import Document, DocumentList
from shared.errors import BadRequestError

DOCUMENT_PARAMS = {
    "patient",
    "patient.identifier",
    "patient:identifier",
    "status",
    "type",
    "category",
    "format",
    "facility",
    "setting",
    "security-label",
    "event",
    "date",
    "creation",
    "period",
    "period-start",
    "period-end",
    "identifier",
    "related",
    "relatesto",
    "relatesTo",
    "author.given",
    "author.family",
    "author.identifier",
    "isArchived",
}
LIST_PARAMS = {
    "patient",
    "patient.identifier",
    "patient:identifier",
    "code",
    "status",
    "date",
    "designationType",
    "identifier",
    "sourceId",
    "title",
    "source.given",
    "source.family",
    "source.identifier",
    "authorOrg",
}
STATUSES = ("current", "superseded", "entered-in-error")
_COLUMNS = {
    "type": Document.type_token,
    "category": Document.class_token,
    "format": Document.format_token,
    "facility": Document.facility_token,
    "setting": Document.setting_token,
}


def _token_clause(column: Any, tokens: list[Token]) -> Any:
    clauses = []
    for system, code in tokens:
        if system is not None and code is not None:
            clauses.append(column == f"{system}|{code}")
        elif system is not None:
            clauses.append(column.like(f"{system}|%"))
        elif code is not None:
            clauses.append(column.like(f"%|{code}"))
    return or_(*clauses)


def requested_statuses(params: Params) -> list[str]:
    """The statuses asked for, unchecked; ``current`` when none is."""
    return [value for values in params.values("status") for value in values] or ["current"]


def statuses(params: Params) -> list[str]:
    wanted = requested_statuses(params)
    for value in wanted:
        if value not in STATUSES:
            raise BadRequestError(
                f"status '{value}' is not a DocumentReference status (current, superseded)",
                expression=["status"],
                fhir_code="value",
            )
    return wanted


def _identifier_clause(tokens: list[Token]) -> Any:
    clauses = []
    for _system, value in tokens:
        if value is None:
            continue
        clauses.append(Document.unique_id == value)
        if value.startswith("urn:uuid:"):
            clauses.append(Document.logical_id == value.removeprefix("urn:uuid:"))
    return or_(*clauses) if clauses else Document.id.is_(None)


#: The documents as they are today, deleted ones never; and the order of a search.
TODAY = (Document.latest.is_(True), Document.deleted.is_(False))
NEWEST_FIRST = (Document.date.desc(), Document.id)
# The statement every search starts from, built once (building costs more than running it).
_BASE = (
    select(*Document.__table__.columns)
    .where(Document.dossier_id == bindparam("dossier"), *TODAY)
    .where(Document.status.in_(bindparam("statuses", expanding=True)))
)
_BASE_ORDERED = _BASE.order_by(*NEWEST_FIRST)
_OTHER_FILTERS = (
    "type",
    "category",
    "format",
    "facility",
    "setting",
    "identifier",
    "isArchived",
    "date",
    "creation",
)


def document_query(params: Params) -> Select[Any]:
    """The SQL part of the search; its parameters ``dossier`` and ``statuses`` are bound when
    executed. Only the base statement when no other column is filtered (the common case)."""
    if not any(key in _OTHER_FILTERS for key, _ in params.raw):
        return _BASE_ORDERED
    query = _BASE
    for name, column in _COLUMNS.items():
        for alternatives in params.tokens(name):
            query = query.where(_token_clause(column, alternatives))
    for alternatives in params.tokens("identifier"):
        query = query.where(_identifier_clause(alternatives))
    archived = params.first("isArchived")
    if archived is not None:
        if archived not in ("true", "false"):
            raise BadRequestError("isArchived is true or false", expression=["isArchived"], fhir_code="value")
        query = query.where(Document.archived.is_(archived == "true"))
    for name, moment in (("date", Document.date), ("creation", Document.creation)):
        for date in params.dates(name):
            query = query.where(moment.is_not(None))
            query = date_clause(query, moment, date.prefix, date.start, date.end)
    return query.order_by(*NEWEST_FIRST)


def date_clause(query: Select[Any], column: Any, prefix: str, start: Any, end: Any) -> Any:
    conditions = {
        "eq": (column >= start) & (column < end),
        "ap": (column >= start) & (column < end),
        "ne": (column < start) | (column >= end),
        "gt": column >= end,
        "sa": column >= end,
        "lt": column < start,
        "eb": column < start,
        "ge": column >= start,
        "le": column < end,
    }
    return query.where(conditions[prefix])


@dataclass(frozen=True)
class RowFilter:
    """The filters applied to the patient's rows after SQL (multi-valued elements)."""

    tests: tuple[Callable[[Document], bool], ...]

    def __call__(self, row: Document) -> bool:
        return all(test(row) for test in self.tests)


def _any_token(values: Iterable[str], alternatives: list[Token]) -> bool:
    return any(token_matches(wanted, stored) for wanted in alternatives for stored in values)


def _text(value: str | None, wanted: list[str]) -> bool:
    """FHIR string search: case-insensitive "starts with" (R4 §search.html#string)."""
    return value is not None and any(value.lower().startswith(w.lower()) for w in wanted)


def _tokens_test(key: str, alternatives: list[Token]) -> Callable[[Document], bool]:
    return lambda row: _any_token(row.tokens.get(key, []), alternatives)


def _name_test(part: str, wanted: list[str]) -> Callable[[Document], bool]:
    return lambda row: any(_text(author.get(part), wanted) for author in row.authors)


def _author_test(alternatives: list[Token]) -> Callable[[Document], bool]:
    codes = {code for _, code in alternatives}
    return lambda row: any(author.get("idnat") in codes for author in row.authors)


def _period_test(date: DateFilter, which: str) -> Callable[[Document], bool]:
    if which == "period":
        return lambda row: date.overlaps(row.period_start, row.period_end)
    if which == "period-start":
        return lambda row: date.matches(row.period_start)
    return lambda row: date.matches(row.period_end)


def row_filter(params: Params) -> RowFilter:
    tests: list[Callable[[Document], bool]] = []
    for name, key in (("security-label", "security"), ("event", "event"), ("related", "related")):
        tests += [_tokens_test(key, alternatives) for alternatives in params.tokens(name)]
    tests += [_name_test("given", wanted) for wanted in params.values("author.given")]
    tests += [_name_test("family", wanted) for wanted in params.values("author.family")]
    tests += [_author_test(alternatives) for alternatives in params.tokens("author.identifier")]
    for name in ("period", "period-start", "period-end"):
        tests += [_period_test(date, name) for date in params.dates(name)]
    return RowFilter(tuple(tests))


def relates_filter(
    params: Params, current_ids: Callable[[list[str]], dict[str, str]]
) -> Callable[[Document], bool]:
    """``relatesto``: documents that replace the given DocumentReference (by entryUUID)."""
    wanted = [v.rsplit("/", 1)[-1] for values in params.values("relatesto", "relatesTo") for v in values]
    if not wanted:
        return lambda row: True

    def test(row: Document) -> bool:
        if row.replaces is None:
            return False
        return current_ids([row.replaces]).get(row.replaces) in wanted or row.replaces in wanted

    return test


def find_documents(session: Session, dossier_id: str, params: Params, viewer: Viewer) -> list[Document]:
    """Every document of the patient matching ``params`` that ``viewer`` may see, newest first."""
    # Core rows with the columns of Document (read-only, attribute access): no ORM objects
    # on the search's hot path.
    bound = {"dossier": dossier_id, "statuses": statuses(params)}
    rows = cast(list[Document], session.connection().execute(document_query(params), bound).all())
    return matching(rows, params, viewer, lambda ids: current_ids(session, ids))


def matching(
    rows: Iterable[Document],
    params: Params,
    viewer: Viewer,
    current_ids: Callable[[list[str]], dict[str, str]],
) -> list[Document]:
    """The rows (the SQL part of the search applied) that pass the multi-valued filters and
    that ``viewer`` may see."""
    keep = row_filter(params)
    related = relates_filter(params, current_ids)
    return [row for row in rows if keep(row) and related(row) and visible(columns(row), viewer)]


def columns(row: Document) -> dict[str, Any]:
    return {
        "deleted": row.deleted,
        "masked_ps": row.masked_ps,
        "invisible_patient": row.invisible_patient,
        "invisible_rl": row.invisible_rl,
        "authors": row.authors,
        "submitter": row.submitter,
        "author_org": row.author_org,
    }


def current_ids(session: Session, logical_ids: list[str]) -> dict[str, str]:
    """logicalId → the entryUUID of its latest version."""
    if not logical_ids:
        return {}
    rows = session.execute(
        select(Document.logical_id, Document.id).where(
            Document.logical_id.in_(logical_ids), Document.latest.is_(True)
        )
    )
    return {logical: entry for logical, entry in rows}


def subject_of(params: Params) -> tuple[str, str]:
    """The patient parameter as given: (name, value); 400 when absent (MHD: required)."""
    for name in ("patient.identifier", "patient:identifier", "patient"):
        value = params.first(name)
        if value:
            return name, value
    raise BadRequestError(
        "a search needs the patient: patient.identifier=<INS system>|<INS> (or patient:identifier, patient)",
        fhir_code="required",
        expression=["patient.identifier"],
    )


def find_lists(
    session: Session, dossier_id: str, params: Params, visible_members: dict[str, str]
) -> list[tuple[DocumentList, list[str]]]:
    """ITI-66: the patient's Lists with the members the caller may see (entryUUIDs).

    A List none of whose members the caller may see is not returned (it would reveal that
    something was published)."""
    query = select(DocumentList).where(DocumentList.dossier_id == dossier_id)
    kinds = [code for alternatives in params.tokens("code") for _, code in alternatives if code]
    if kinds:
        query = query.where(DocumentList.kind.in_(kinds))
    wanted_status = [v for values in params.values("status") for v in values]
    if wanted_status:
        query = query.where(DocumentList.status.in_(wanted_status))
    for alternatives in params.tokens("designationType"):
        query = query.where(_token_clause(DocumentList.designation_token, alternatives))
    for alternatives in params.tokens("sourceId"):
        query = query.where(DocumentList.source_id.in_([code for _, code in alternatives if code]))
    for alternatives in params.tokens("identifier"):
        values = [code for _, code in alternatives if code]
        query = query.where(
            or_(
                DocumentList.unique_id.in_(values),
                DocumentList.id.in_([v.removeprefix("urn:uuid:") for v in values]),
            )
        )
    for alternatives in params.tokens("authorOrg"):
        query = query.where(DocumentList.author_org.in_([code for _, code in alternatives if code]))
    for alternatives in params.tokens("source.identifier"):
        query = query.where(DocumentList.author_idnat.in_([code for _, code in alternatives if code]))
    for date in params.dates("date"):
        query = date_clause(query, DocumentList.date, date.prefix, date.start, date.end)
    found = []
    titles = params.values("title")
    given, family = params.values("source.given"), params.values("source.family")
    for row in session.scalars(query.order_by(DocumentList.date.desc(), DocumentList.id)):
        if any(not _text(row.title, w) for w in titles) or any(not _text(row.author_given, w) for w in given):
            continue
        if any(not _text(row.author_family, w) for w in family):
            continue
        members = [visible_members[m] for m in row.members if m in visible_members]
        if members:
            found.append((row, members))
    return found

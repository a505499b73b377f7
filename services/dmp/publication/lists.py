"""The metadata of a SubmissionSet or a Folder ``List`` (MHD / PDSm Comprehensive).

PDSm ``PDSm_SubmissionSetComprehensive``: ``extension[ihe-sourceId]`` (1..1),
``extension[designationType]`` (1..1, contentTypeCode; DMP JDV_J59), ``date``
(submissionTime), ``subject``, ``source`` (the contained author), ``status`` ``current``,
``mode`` ``working`` (fr-ecosystem.md §2.3). A Folder needs only status, mode and subject.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from services.dmp import terminology as term
from services.dmp.errors import REGISTRY_METADATA_ERROR, Problems
from services.dmp.publication.metadata import DocFacts, authors_of, coding, moment, warn
from shared.errors import Issue


@dataclass
class ListFacts:
    kind: str = "submissionset"
    date: dt.datetime | None = None
    source_id: str | None = None
    designation_token: str | None = None
    unique_id: str | None = None
    title: str | None = None
    author: dict[str, Any] | None = None
    warnings: list[Issue] = field(default_factory=list)


def list_kind(resource: dict[str, Any]) -> str | None:
    for code in (resource.get("code") or {}).get("coding") or ():
        if (
            isinstance(code, dict)
            and code.get("system") in (term.MHD_LIST_TYPES, term.MHD_LIST_TYPES_HTTP)
            and code.get("code") in ("submissionset", "folder")
        ):
            return str(code["code"])
    return None


def check_list(resource: dict[str, Any], where: str, problems: Problems) -> ListFacts:
    """A SubmissionSet or Folder List (MHD / PDSm Comprehensive)."""
    facts = ListFacts(kind=list_kind(resource) or "submissionset", title=resource.get("title"))
    doc = DocFacts()
    if resource.get("status") != "current":
        problems.error(
            f"List.status must be 'current', got {resource.get('status')!r}",
            f"{where}.status",
            code="value",
            xds=REGISTRY_METADATA_ERROR,
        )
    if resource.get("mode") != "working":
        problems.error(
            f"List.mode must be 'working', got {resource.get('mode')!r}",
            f"{where}.mode",
            code="value",
            xds=REGISTRY_METADATA_ERROR,
        )
    if not (resource.get("subject") or {}).get("reference"):
        problems.required("List.subject (the patient, by INS)", f"{where}.subject")
    for ident in resource.get("identifier") or ():
        if isinstance(ident, dict) and ident.get("value") and ident.get("use") in (None, "usual"):
            facts.unique_id = str(ident["value"])
    extensions = {e.get("url"): e for e in resource.get("extension") or () if isinstance(e, dict)}
    if facts.kind == "submissionset":
        facts.date = moment(
            resource.get("date"), "List.date (submissionTime)", f"{where}.date", problems, True
        )
        source = (extensions.get(term.EXT_SOURCE_ID) or {}).get("valueIdentifier") or {}
        if not source.get("value"):
            problems.required("extension ihe-sourceId (the OID of the sending system)", f"{where}.extension")
        facts.source_id = source.get("value")
        designation = (extensions.get(term.EXT_DESIGNATION) or {}).get("valueCodeableConcept")
        system, code = coding(designation)
        if not code:
            problems.required(
                "extension ihe-designationType (contentTypeCode, JDV_J59)", f"{where}.extension"
            )
        else:
            facts.designation_token = term.token(system, code)
            reason = term.BINDINGS["designation"].check(system, code)
            if reason:
                warn(doc, reason, f"{where}.extension")
        authors = authors_of(resource, where, problems, doc, key="source")
        facts.author = authors[0] if authors else None
    else:
        facts.date = moment(resource.get("date"), "List.date", f"{where}.date", problems, False)
    facts.warnings = doc.warnings
    return facts

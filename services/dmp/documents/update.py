"""Changing a document's metadata: PATCH (PDSm ``st_maj.md``; PDSm4DMP TD3.3a–d).

* conditional PATCH on the business identifier (``DocumentReference?identifier=``: the
  uniqueId, or the logicalId ``urn:uuid:``), or on the entryUUID; 404 none, 412 several;
* JSON Patch and FHIRPath Patch (``Parameters``); XML Patch is not accepted (415);
* only ``status``, ``securityLabel`` and the PDSm ``isArchived`` / ``isDeleted``
  extensions may change: anything else is a 405;
* ``If-Match`` (``W/"<version>"``) must name the current version: 412 otherwise;
* each change makes a new version: a new entryUUID (``id``) and ``meta.versionId``, the
  same ``identifier`` (logicalId), an ``ETag``;
* who may do what: masking from professionals (``MASQUE_PS``) by the holder or a
  professional with access; ``INVISIBLE_PATIENT`` / ``INVISIBLE_REPRESENTANTS_LEGAUX`` and
  the confidentiality by professionals; archiving by either; deletion by the author or the
  author's structure only (403), definitive, and carried to the documents it replaced;
* deletion follows ``MES_DMP_DELETION_MODE`` (fr-ecosystem.md §7.1): ``entered-in-error``
  (TD3.3c) or ``superseded`` with ``pdsm-ext-is-deleted`` (PDSm ``st_maj``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from services.dmp import terminology as term
from services.dmp.access import policy
from services.dmp.access.service import facts_of
from services.dmp.documents import render
from services.dmp.documents.params import token
from services.dmp.documents.patch import apply_fhirpath_patch, apply_json_patch
from services.dmp.documents.search import columns
from services.dmp.documents.service import Reader, visible_document
from services.dmp.models import Document, Dossier
from services.dmp.publication.metadata import coding
from services.dmp.publication.rows import new_version
from shared.errors import (
    BadRequestError,
    ConflictError,
    ForbiddenError,
    InsufficientScopeError,
    MethodNotAllowedError,
    NotFoundError,
    PreconditionFailedError,
    UnprocessableError,
    UnsupportedMediaTypeError,
)
from shared.fhir.formats import parse_resource

JSON_PATCH = "application/json-patch+json"
MANAGED_EXTENSIONS = (term.EXT_ARCHIVED, term.EXT_DELETED)


@dataclass(frozen=True)
class Target:
    """``identifier`` (conditional PATCH) or ``id`` (the entryUUID)."""

    identifier: str | None = None
    id: str | None = None


def find_target(session: Session, target: Target) -> Document | None:
    if target.id is not None:
        row = session.get(Document, target.id)
        if row is not None and not row.latest:
            raise ConflictError(
                f"DocumentReference/{target.id} is a former version: PATCH the current one (or use "
                "the conditional PATCH on the identifier)",
                expression=["DocumentReference.id"],
            )
        return row
    _, value = token(target.identifier or "")
    if not value:
        raise BadRequestError(
            "identifier must be <system>|<value>", expression=["identifier"], fhir_code="value"
        )
    clauses = [Document.unique_id == value]
    if value.startswith("urn:uuid:"):
        clauses.append(Document.logical_id == value.removeprefix("urn:uuid:"))
    rows = session.scalars(select(Document).where(or_(*clauses), Document.latest.is_(True))).all()
    if len(rows) > 1:
        raise PreconditionFailedError(
            f"{len(rows)} documents match identifier '{target.identifier}'", expression=["identifier"]
        )
    return rows[0] if rows else None


def patched(before: dict[str, Any], body: bytes, content_type: str | None) -> dict[str, Any]:
    media = (content_type or "").split(";")[0].strip().lower()
    if media == JSON_PATCH:
        try:
            operations = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BadRequestError(f"the JSON Patch is not JSON: {exc}", fhir_code="structure") from exc
        return apply_json_patch(before, operations)
    if media in ("application/fhir+json", "application/fhir+xml", "application/json", "application/xml"):
        return apply_fhirpath_patch(before, parse_resource(body, content_type))
    raise UnsupportedMediaTypeError(
        f"PATCH accepts JSON Patch ({JSON_PATCH}) or FHIRPath Patch (a Parameters resource in "
        f"application/fhir+json or +xml), not '{media or 'nothing'}'"
    )


def _extensions(resource: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    """(the other extensions, the managed ones by URL)."""
    others, managed = [], {}
    for extension in resource.get("extension") or ():
        if isinstance(extension, dict) and extension.get("url") in MANAGED_EXTENSIONS:
            managed[extension["url"]] = extension.get("valueBoolean")
        else:
            others.append(extension)
    return others, managed


def check_whitelist(before: dict[str, Any], after: dict[str, Any]) -> None:
    """Only status, securityLabel and the PDSm archive/delete extensions (405 otherwise)."""
    changed = sorted(
        key
        for key in set(before) | set(after)
        if key not in ("status", "securityLabel", "extension") and before.get(key) != after.get(key)
    )
    if _extensions(before)[0] != _extensions(after)[0]:
        changed.append("extension")
    if changed:
        raise MethodNotAllowedError(
            "a PATCH may change only status, securityLabel and the isArchived / isDeleted extensions "
            f"(PDSm st_maj); it changed {', '.join(changed)}",
            expression=[f"DocumentReference.{name}" for name in changed],
        )


def _labels(resource: dict[str, Any]) -> tuple[str, set[str], list[str]]:
    """(confidentiality, visibility codes, search tokens) of the new securityLabel."""
    confidentiality: list[str] = []
    visibility: set[str] = set()
    tokens = []
    for index, label in enumerate(resource.get("securityLabel") or ()):
        system, code = coding(label)
        path = f"DocumentReference.securityLabel[{index}]"
        if system == term.CONFIDENTIALITY and code in term.CONFIDENTIALITY_CODES:
            confidentiality.append(str(code))
        elif term.visibility_system(system) and code in term.VISIBILITY:
            visibility.add(str(code))
            system = term.TRE_A07
        elif system == term.CONFIDENTIALITY or term.visibility_system(system):
            raise UnprocessableError(
                f"'{code}' is not a code of {system} (required binding)", expression=[path]
            )
        tokens.append(term.token(system, code))
    if len(confidentiality) != 1:
        raise UnprocessableError(
            "securityLabel must keep exactly one v3-Confidentiality code",
            expression=["DocumentReference.securityLabel"],
        )
    return confidentiality[0], visibility, tokens


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ForbiddenError(message)


def _deletion(before: dict[str, Any], after: dict[str, Any], mode: str) -> bool:
    status, flag = after.get("status"), _extensions(after)[1].get(term.EXT_DELETED)
    if status == before.get("status") and flag is None:
        return False
    if mode == "entered-in-error":
        if status == "entered-in-error" and flag is None:
            return True
        raise UnprocessableError(
            "this DMP deletes with status 'entered-in-error' (PDSm4DMP TD3.3c; MES_DMP_DELETION_MODE); "
            "'superseded' comes only from a replacement (ITI-65 TD2.1)",
            expression=["DocumentReference.status"],
        )
    if status == "superseded" and flag in (True, None):
        return True
    raise UnprocessableError(
        "this DMP deletes with status 'superseded' and the pdsm-ext-is-deleted extension true (PDSm st_maj; "
        "MES_DMP_DELETION_MODE); 'entered-in-error' is not a MHD status",
        expression=["DocumentReference.status"],
    )


def apply(
    session: Session,
    target: Target,
    body: bytes,
    content_type: str | None,
    if_match: str | None,
    reader: Reader,
    deletion_mode: str,
) -> Document:
    row = find_target(session, target)
    if row is None or row.deleted:
        raise NotFoundError("no such document", expression=["DocumentReference"])
    row, dossier = visible_document(session, row, reader)
    reader.trace.add("DocumentReference", row.id)
    if if_match and if_match.strip() != render.etag(row.version):
        raise PreconditionFailedError(
            f"If-Match {if_match} is not the current version {render.etag(row.version)}"
        )
    before = render.document(row, reader.base_url)
    after = patched(before, body, content_type)
    check_whitelist(before, after)
    return _changes(session, row, dossier, before, after, reader, deletion_mode)


def _changes(
    session: Session,
    row: Document,
    dossier: Dossier,
    before: dict[str, Any],
    after: dict[str, Any],
    reader: Reader,
    deletion_mode: str,
) -> Document:
    caller = reader.caller
    mes, pro = caller.mes, caller.professional
    if mes is not None:
        _require(
            mes.actor in ("patient", "representant_legal"),
            "only the patient or a legal representative, or a professional, changes a document's metadata",
        )
        if "dmp.manage" not in mes.scopes:
            raise InsufficientScopeError("changing a document's metadata needs the 'dmp.manage' scope")
    confidentiality, visibility, tokens = _labels(after)
    old_visibility = {
        t.partition("|")[2] for t in row.tokens.get("security", []) if t.startswith(term.TRE_A07)
    }
    changed_visibility = visibility ^ old_visibility
    if changed_visibility - {term.MASQUE_PS}:
        _require(
            pro is not None,
            "only a professional changes the visibility to the patient or legal representatives",
        )
    old_confidentiality = next(
        (
            t.partition("|")[2]
            for t in row.tokens.get("security", [])
            if t.startswith(term.CONFIDENTIALITY + "|")
        ),
        None,
    )
    if confidentiality != old_confidentiality:
        _require(pro is not None, "only a professional changes a document's confidentiality")
    archived = _extensions(after)[1].get(term.EXT_ARCHIVED)
    if archived is not None and not isinstance(archived, bool):
        raise UnprocessableError(
            "pdsm-ext-is-archived carries a valueBoolean", expression=["DocumentReference.extension"]
        )
    deleting = _deletion(before, after, deletion_mode)
    if deleting:
        _require(
            policy.is_author(caller, columns(row), facts_of(session, dossier)),
            "only the author of a document, or someone of the author's structure, may delete it "
            "(PDSm4DMP TD3.3c NB2)",
        )
        reader.trace.action = "D"
    elif after.get("status") != before.get("status"):
        raise UnprocessableError(
            f"status cannot go from {before.get('status')} to {after.get('status')}",
            expression=["DocumentReference.status"],
        )
    return _new_version(session, row, after, reader, deleting, deletion_mode, visibility, tokens, archived)


def _new_version(
    session: Session,
    row: Document,
    after: dict[str, Any],
    reader: Reader,
    deleting: bool,
    deletion_mode: str,
    visibility: set[str],
    tokens: list[str],
    archived: bool | None,
) -> Document:
    resource = {k: v for k, v in after.items() if k not in ("id", "meta", "identifier", "status")}
    resource["content"] = [
        dict(after["content"][0], attachment=dict(row.resource["content"][0]["attachment"]))
    ]
    status = after.get("status", row.status)
    if deleting and deletion_mode == "superseded":
        others, _ = _extensions(after)
        resource["extension"] = [
            *others,
            {"url": term.EXT_ARCHIVED, "valueBoolean": False},
            {"url": term.EXT_DELETED, "valueBoolean": True},
        ]
        archived = False
    fresh = new_version(
        session,
        row,
        resource,
        reader.now,
        status=status,
        deleted=deleting,
        archived=bool(archived) if archived is not None else row.archived,
        masked_ps=term.MASQUE_PS in visibility,
        invisible_patient=term.INVISIBLE_PATIENT in visibility,
        invisible_rl=term.INVISIBLE_RL in visibility,
        tokens={**row.tokens, "security": tokens},
    )
    if deleting:
        _delete_replaced(session, row)
    session.flush()
    reader.trace.add("DocumentReference", fresh.id)
    return fresh


def _delete_replaced(session: Session, row: Document) -> None:
    """PDSm st_maj: a deletion applies to the documents the deleted one replaced."""
    seen: set[str] = set()
    logical = row.replaces
    while logical and logical not in seen:
        seen.add(logical)
        previous = session.scalars(
            select(Document).where(Document.logical_id == logical, Document.latest.is_(True))
        ).first()
        if previous is None:
            break
        previous.deleted = True
        logical = previous.replaces

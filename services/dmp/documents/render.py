"""Stored rows → FHIR resources (DocumentReference, List, Binary).

The server-managed parts are set here, from the columns: ``id`` (entryUUID),
``meta.versionId`` / ``lastUpdated``, ``identifier`` (logicalId, stable across metadata
versions), ``status``, the absolute ``attachment.url`` ITI-68 retrieves (MHD ITI-67
§2:3.67.4.2.2.1.1) and ``relatesTo.target`` (the replaced document's current entryUUID).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.dmp import b64
from services.dmp.dates import instant
from services.dmp.models import Binary, Document, DocumentList

PDSM = "https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition"
DOCUMENT_PROFILE = f"{PDSM}/pdsm-comprehensive-document-reference"
SUBMISSION_SET_PROFILE = f"{PDSM}/pdsm-submissionset-comprehensive"
FOLDER_PROFILE = f"{PDSM}/pdsm-folder-comprehensive"
URI = "urn:ietf:rfc:3986"


def etag(version: int) -> str:
    return f'W/"{version}"'


def logical_identifier(logical_id: str) -> dict[str, Any]:
    return {"use": "official", "system": URI, "value": f"urn:uuid:{logical_id}"}


def document(row: Document, base_url: str, current_ids: Mapping[str, str] | None = None) -> dict[str, Any]:
    source = row.resource
    content = dict(source["content"][0])
    attachment = {k: v for k, v in content.get("attachment", {}).items() if k != "data"}
    attachment["url"] = f"{base_url}/Binary/{row.binary_id}"
    content["attachment"] = attachment
    managed: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "id": row.id,
        "meta": {
            "versionId": str(row.version),
            "lastUpdated": instant(row.created_at),
            "profile": [DOCUMENT_PROFILE],
        },
        "identifier": [logical_identifier(row.logical_id)],
        "status": row.status,
        "content": [content],
    }
    if source.get("relatesTo"):
        relations = []
        for relation in source["relatesTo"]:
            relation = dict(relation)
            if (
                relation.get("code") == "replaces"
                and row.replaces
                and current_ids
                and row.replaces in current_ids
            ):
                relation["target"] = {"reference": f"DocumentReference/{current_ids[row.replaces]}"}
            relations.append(relation)
        managed["relatesTo"] = relations
    return _ordered(managed, source)


#: What the server sets (the module docstring); the stored resource's own values are not used.
_MANAGED = frozenset(("resourceType", "id", "meta", "identifier", "status", "content", "relatesTo"))
_ORDER = (
    "resourceType",
    "id",
    "meta",
    "contained",
    "extension",
    "masterIdentifier",
    "identifier",
    "status",
    "docStatus",
    "type",
    "category",
    "subject",
    "date",
    "author",
    "authenticator",
    "custodian",
    "relatesTo",
    "description",
    "securityLabel",
    "content",
    "context",
)


def _ordered(managed: dict[str, Any], source: dict[str, Any]) -> dict[str, Any]:
    """``managed`` over ``source`` in the order of the specification (readable, and stable
    for tests), then the elements it does not list; built in one pass (a search renders
    each of its documents)."""
    resource: dict[str, Any] = {}
    for key in _ORDER:
        if key in managed:
            resource[key] = managed[key]
        elif key in source and key not in _MANAGED:
            resource[key] = source[key]
    for key, value in source.items():
        if key not in resource and key not in _MANAGED:
            resource[key] = value
    return resource


def document_list(row: DocumentList, base_url: str, members: list[str]) -> dict[str, Any]:
    """A SubmissionSet or Folder; ``members`` are the entryUUIDs the caller may see."""
    resource = {k: v for k, v in row.resource.items() if k not in ("id", "meta", "entry")}
    resource["resourceType"] = "List"
    resource["id"] = row.id
    profile = SUBMISSION_SET_PROFILE if row.kind == "submissionset" else FOLDER_PROFILE
    resource["meta"] = {"versionId": "1", "lastUpdated": instant(row.created_at), "profile": [profile]}
    if members:  # FHIR JSON has no empty arrays
        resource["entry"] = [{"item": {"reference": f"DocumentReference/{member}"}} for member in members]
    return resource


def binary(row: Binary) -> dict[str, Any]:
    return {
        "resourceType": "Binary",
        "id": row.id,
        "meta": {"versionId": "1", "lastUpdated": instant(row.created_at)},
        "contentType": row.content_type,
        "data": b64.encode(row.data),
    }

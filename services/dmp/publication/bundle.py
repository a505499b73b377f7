"""Checking an ITI-65 transaction Bundle and planning what to write (pure: no database).

MHD ITI-65 §2:3.65.4.1.2: one SubmissionSet List, 1..n DocumentReferences, 0..n Binaries,
0..n Folder Lists, and for a replacement the ``UpdateDocumentRefs`` PATCH entry that moves
the replaced DocumentReference to ``superseded``. ``attachment.url`` must resolve to a
Binary *in* the bundle; ``size`` and ``hash`` must describe its bytes; every DocumentReference
must be a member of the SubmissionSet; the subjects must all be the same patient. Every
problem is collected and reported at once (one OperationOutcome, nothing written).
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass, field
from typing import Any

from services.dmp import b64
from services.dmp.errors import (
    DUPLICATE_IN_MESSAGE,
    FHIR_DOCUMENT_NOT_SUPPORTED,
    MISSING_DOCUMENT,
    PATIENT_MISMATCH,
    REGISTRY_METADATA_ERROR,
    REPOSITORY_METADATA_ERROR,
    UNRESOLVED_REFERENCE,
    Problems,
)
from services.dmp.patients.service import InsError, SubjectRef, parse_subject
from services.dmp.publication.lists import ListFacts, check_list, list_kind
from services.dmp.publication.metadata import (
    DocFacts,
    as_dict,
    attachment_hash,
    check_document,
)
from shared.errors import BadRequestError, Issue
from shared.personas import Personas

#: relatesTo codes the DMP does not process, and the MHD warning each gives.
UNPROCESSED_RELATIONS = {
    "transforms": "PartialTransformContentNotProcessed",
    "appends": "PartialAppendContentNotProcessed",
    "signs": "PartialSignsContentNotProcessed",
}


@dataclass
class DocPlan:
    index: int
    resource: dict[str, Any]
    facts: DocFacts
    content: bytes = b""
    #: ``Attachment.hash`` of ``content`` (computed once: the Binary row keeps it too).
    digest: str = ""
    binary_index: int | None = None
    #: The id (entryUUID) of the DocumentReference it replaces.
    replaces: str | None = None


@dataclass
class ListPlan:
    index: int
    resource: dict[str, Any]
    facts: ListFacts
    member_indexes: list[int] = field(default_factory=list)


@dataclass
class PatchPlan:
    index: int
    target: str
    parameters: dict[str, Any]


@dataclass
class Plan:
    subject: SubjectRef
    submission_set: ListPlan
    folders: list[ListPlan]
    documents: list[DocPlan]
    binaries: set[int]
    patches: list[PatchPlan]
    size: int
    #: Warnings per entry index (MHD: ``entry.response.outcome``).
    warnings: dict[int, list[Issue]] = field(default_factory=dict)


def _where(index: int) -> str:
    return f"Bundle.entry[{index}].resource"


def _structure(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    if bundle.get("resourceType") != "Bundle":
        raise BadRequestError(
            f"ITI-65 expects a Bundle, got {bundle.get('resourceType')!r}",
            fhir_code="structure",
            expression=["Bundle"],
        )
    if bundle.get("type") != "transaction":
        raise BadRequestError(
            f"ITI-65 expects a Bundle of type 'transaction', got {bundle.get('type')!r}",
            fhir_code="value",
            expression=["Bundle.type"],
        )
    entries = bundle.get("entry")
    if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
        raise BadRequestError(
            "the transaction has no entries", fhir_code="required", expression=["Bundle.entry"]
        )
    return entries


def _classify(entries: list[dict[str, Any]], problems: Problems) -> dict[str, list[int]]:
    kinds: dict[str, list[int]] = {
        "submissionset": [],
        "folder": [],
        "document": [],
        "binary": [],
        "patch": [],
    }
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        resource, request = entry.get("resource"), entry.get("request")
        at = f"Bundle.entry[{index}]"
        full_url = entry.get("fullUrl")
        if isinstance(full_url, str):
            if full_url in seen:
                problems.error(
                    f"fullUrl '{full_url}' is used by entries {seen[full_url]} and {index}",
                    f"{at}.fullUrl",
                    structural=True,
                )
            seen[full_url] = index
        if not isinstance(resource, dict) or not isinstance(request, dict):
            problems.error("every entry needs a resource and a request", at, code="required", structural=True)
            continue
        method, url = str(request.get("method", "")).upper(), str(request.get("url", ""))
        kind = resource.get("resourceType")
        if kind == "Bundle":
            problems.error(
                "a FHIR Document Bundle is not supported here (ITI-65 FHIR Document Publish Option)",
                f"{at}.resource",
                code="not-supported",
                xds=FHIR_DOCUMENT_NOT_SUPPORTED,
            )
        elif method == "PATCH" and url.startswith("DocumentReference"):
            kinds["patch"].append(index)
        elif method != "POST":
            problems.error(
                f"{method} {url}: ITI-65 creates resources with POST (and PATCHes a replaced "
                "DocumentReference)",
                f"{at}.request.method",
                code="not-supported",
                structural=True,
            )
        elif kind == "List":
            list_type = list_kind(resource)
            if list_type is None:
                problems.error(
                    "a List must have code MHDlistTypes#submissionset or #folder",
                    f"{_where(index)}.code",
                    code="required",
                    structural=True,
                )
            else:
                kinds[list_type].append(index)
        elif kind == "DocumentReference":
            kinds["document"].append(index)
        elif kind == "Binary":
            kinds["binary"].append(index)
        else:
            problems.error(
                f"{kind} entries are not processed by ITI-65 here: reference the patient by INS "
                "(Patient?identifier=...) and send List, DocumentReference and Binary",
                f"{at}.resource",
                code="not-supported",
                structural=True,
            )
    if len(kinds["submissionset"]) != 1:
        problems.error(
            f"an ITI-65 bundle has exactly one SubmissionSet List, found {len(kinds['submissionset'])}",
            "Bundle.entry",
            code="required" if not kinds["submissionset"] else "invalid",
            xds=REGISTRY_METADATA_ERROR,
            structural=True,
        )
    if not kinds["document"]:
        problems.error(
            "an ITI-65 bundle has at least one DocumentReference",
            "Bundle.entry",
            code="required",
            xds=REGISTRY_METADATA_ERROR,
            structural=True,
        )
    return kinds


def _resolve(reference: str, entries: list[dict[str, Any]], kind: str) -> int | None:
    """An entry of the bundle by fullUrl, or by ``<Type>/<id>`` (FHIR R4 §bundle.html#references)."""
    for index, entry in enumerate(entries):
        resource = as_dict(entry.get("resource"))
        if resource.get("resourceType") != kind:
            continue
        if entry.get("fullUrl") == reference:
            return index
        if (
            resource.get("id")
            and reference in (f"{kind}/{resource['id']}",)
            and not reference.startswith("urn:")
        ):
            return index
    return None


def _subjects(
    entries: list[dict[str, Any]], indexes: list[int], base_url: str, personas: Personas, problems: Problems
) -> SubjectRef | None:
    found: SubjectRef | None = None
    # Every entry names the same patient, usually: its INS (and key) is checked once.
    parsed: dict[str, SubjectRef | ValueError] = {}
    for index in sorted(indexes):
        reference = ((entries[index]["resource"].get("subject")) or {}).get("reference")
        if not reference:
            continue  # reported by the metadata checks
        if str(reference) not in parsed:
            try:
                parsed[str(reference)] = parse_subject(str(reference), base_url, personas)
            except ValueError as exc:  # InsError included
                parsed[str(reference)] = exc
        subject = parsed[str(reference)]
        if isinstance(subject, InsError):
            problems.error(
                f"subject INS: {subject}", f"{_where(index)}.subject", code="value", xds="XDSUnknownPatientId"
            )
            continue
        if isinstance(subject, ValueError):
            problems.error(str(subject), f"{_where(index)}.subject", code="invalid", structural=True)
            continue
        if found is None:
            found = subject
        elif subject != found:
            problems.error(
                "every DocumentReference and List of a submission concerns the same patient",
                f"{_where(index)}.subject",
                code="invalid",
                xds=PATIENT_MISMATCH,
            )
    return found


def _content(plan: DocPlan, entries: list[dict[str, Any]], problems: Problems) -> None:
    facts, at = plan.facts, f"{_where(plan.index)}.content[0].attachment"
    if not facts.url:
        return
    binary_index = _resolve(facts.url, entries, "Binary")
    if binary_index is None:
        problems.error(
            f"attachment.url '{facts.url}' does not resolve to a Binary in the bundle",
            f"{at}.url",
            code="not-found",
            xds=MISSING_DOCUMENT,
            structural=True,
        )
        return
    plan.binary_index = binary_index
    binary = entries[binary_index]["resource"]
    try:
        plan.content = b64.decode(str(binary.get("data") or ""))
    except (binascii.Error, ValueError):
        problems.error(
            "Binary.data is not base64", f"{_where(binary_index)}.data", code="value", structural=True
        )
        return
    if not plan.content:
        problems.error(
            "the Binary has no data", f"{_where(binary_index)}.data", code="required", xds=MISSING_DOCUMENT
        )
    if binary.get("contentType") != facts.content_type:
        problems.error(
            f"attachment.contentType '{facts.content_type}' differs from the Binary's "
            f"'{binary.get('contentType')}'",
            f"{at}.contentType",
            code="value",
            xds=REPOSITORY_METADATA_ERROR,
        )
    plan.digest = check_size_and_hash(facts, plan.content, at, problems)


def check_size_and_hash(facts: DocFacts, content: bytes, at: str, problems: Problems) -> str:
    """``size`` and ``hash`` (base64 SHA-1) must describe ``content`` exactly (MHD ITI-65);
    the hash of ``content``."""
    if facts.size is not None and facts.size != len(content):
        problems.error(
            f"attachment.size is {facts.size} but the document has {len(content)} bytes",
            f"{at}.size",
            code="value",
            xds=REPOSITORY_METADATA_ERROR,
        )
    digest = attachment_hash(content)
    if facts.hash is not None and facts.hash != digest:
        problems.error(
            f"attachment.hash {facts.hash} is not the SHA-1 of the document ({digest})",
            f"{at}.hash",
            code="value",
            xds=REPOSITORY_METADATA_ERROR,
        )
    return digest


def _members(plan: ListPlan, entries: list[dict[str, Any]], problems: Problems) -> None:
    for position, item in enumerate(plan.resource.get("entry") or ()):
        reference = ((item or {}).get("item") or {}).get("reference", "") if isinstance(item, dict) else ""
        index = _resolve(str(reference), entries, "DocumentReference")
        if index is None:
            problems.error(
                f"List entry '{reference}' does not resolve to a DocumentReference of the bundle",
                f"{_where(plan.index)}.entry[{position}].item",
                code="not-found",
                xds=UNRESOLVED_REFERENCE,
                structural=True,
            )
        else:
            plan.member_indexes.append(index)


def _relations(plan: DocPlan, patch_targets: dict[str, int], base_url: str, problems: Problems) -> None:
    for code, target, position in plan.facts.relates:
        at = f"{_where(plan.index)}.relatesTo[{position}]"
        if code in UNPROCESSED_RELATIONS:
            plan.facts.warnings.append(
                Issue(
                    f"relatesTo '{code}' is not processed by the DMP",
                    code="not-supported",
                    severity="warning",
                    expression=(at,),
                    details_code=UNPROCESSED_RELATIONS[code],
                )
            )
            continue
        target_id = target.removeprefix(base_url + "/").removeprefix("DocumentReference/")
        if target_id == target or "/" in target_id:
            problems.error(
                f"relatesTo.target '{target}' must be DocumentReference/<id> (the entryUUID)",
                f"{at}.target",
                code="invalid",
                xds=UNRESOLVED_REFERENCE,
                structural=True,
            )
        elif target_id not in patch_targets:
            problems.error(
                "a replacement goes with the PATCH entry that moves the replaced DocumentReference to "
                f"'superseded' (MHD UpdateDocumentRefs): none targets DocumentReference/{target_id}",
                f"{at}.target",
                code="required",
                xds=REGISTRY_METADATA_ERROR,
                structural=True,
            )
        else:
            plan.replaces = target_id


def plan_transaction(bundle: dict[str, Any], base_url: str, personas: Personas) -> Plan:
    """Every rule that needs only the bundle; raises with all problems found."""
    entries = _structure(bundle)
    problems = Problems()
    kinds = _classify(entries, problems)
    problems.raise_if_any()
    documents = [
        DocPlan(i, entries[i]["resource"], check_document(entries[i]["resource"], _where(i), problems))
        for i in kinds["document"]
    ]
    lists = [
        ListPlan(i, entries[i]["resource"], check_list(entries[i]["resource"], _where(i), problems))
        for i in kinds["submissionset"] + kinds["folder"]
    ]
    subject = _subjects(
        entries, kinds["document"] + kinds["submissionset"] + kinds["folder"], base_url, personas, problems
    )
    patches = []
    for index in kinds["patch"]:
        url = str(entries[index]["request"].get("url", ""))
        target = url.removeprefix("DocumentReference/")
        if target == url or not target or "/" in target or "?" in target:
            problems.error(
                f"the PATCH entry's url must be DocumentReference/<id>, got '{url}'",
                f"Bundle.entry[{index}].request.url",
                code="invalid",
                structural=True,
            )
            continue
        patches.append(PatchPlan(index, target, entries[index]["resource"]))
    patch_targets = {p.target: p.index for p in patches}
    unique_ids: dict[str, int] = {}
    used_binaries: set[int] = set()
    for plan in documents:
        _content(plan, entries, problems)
        _relations(plan, patch_targets, base_url, problems)
        if plan.binary_index is not None:
            if plan.binary_index in used_binaries:
                problems.error(
                    "two DocumentReferences point at the same Binary",
                    f"{_where(plan.index)}.content[0].attachment.url",
                    xds=REGISTRY_METADATA_ERROR,
                )
            used_binaries.add(plan.binary_index)
        uid = plan.facts.unique_id
        if uid and uid in unique_ids:
            problems.error(
                f"masterIdentifier '{uid}' is used twice in the bundle",
                f"{_where(plan.index)}.masterIdentifier",
                code="duplicate",
                xds=DUPLICATE_IN_MESSAGE,
            )
        unique_ids[uid] = plan.index
    for index in kinds["binary"]:
        if index not in used_binaries:
            problems.error(
                "this Binary is not the content of any DocumentReference (document without metadata)",
                f"Bundle.entry[{index}]",
                xds="XDSMissingDocumentMetadata",
            )
    replaced = {p.replaces for p in documents if p.replaces}
    for patch in patches:
        if patch.target not in replaced:
            problems.error(
                f"the PATCH of DocumentReference/{patch.target} goes with a DocumentReference that "
                "replaces it (relatesTo.code = replaces)",
                f"Bundle.entry[{patch.index}]",
                code="invalid",
                xds=REGISTRY_METADATA_ERROR,
            )
    for list_plan in lists:
        _members(list_plan, entries, problems)
    submission_set = next(p for p in lists if p.facts.kind == "submissionset")
    for plan in documents:
        if plan.index not in submission_set.member_indexes:
            problems.error(
                "every DocumentReference is a member of the SubmissionSet (List.entry)",
                f"{_where(submission_set.index)}.entry",
                xds=REGISTRY_METADATA_ERROR,
            )
    problems.raise_if_any()
    assert subject is not None
    warnings: dict[int, list[Issue]] = {p.index: p.facts.warnings for p in documents}
    warnings.update({p.index: p.facts.warnings for p in lists})
    return Plan(
        subject=subject,
        submission_set=submission_set,
        folders=[p for p in lists if p.facts.kind == "folder"],
        documents=documents,
        binaries=set(kinds["binary"]),
        patches=patches,
        size=len(entries),
        warnings={k: v for k, v in warnings.items() if v},
    )

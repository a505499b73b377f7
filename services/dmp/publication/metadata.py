"""The metadata a DocumentReference and a SubmissionSet must carry (fr-ecosystem.md §2.3).

PDSm ``PDSm_ComprehensiveDocumentReference`` over MHD Comprehensive: masterIdentifier,
status, type, category, subject, date, author (contained), securityLabel (one
confidentiality code, TRE_A07 visibility codes), one content with its attachment
(contentType, language, url, size, hash, title, creation) and format, context.period.start,
facilityType, practiceSetting and a contained sourcePatientInfo. The SubmissionSet
(``PDSm_SubmissionSetComprehensive``): sourceId, designationType, date, subject, source,
status ``current``, mode ``working``. ``custodian`` is 1..1 in PDSm but the DMP takes it
from the VIHF ("Dans le cadre XDS, il s'agit d'une information transmise dans le VIHF"):
when absent it is filled from the publisher's structure, with a warning.
"""

from __future__ import annotations

import binascii
import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from services.dmp import b64
from services.dmp import terminology as term
from services.dmp.dates import DateError, parse_moment
from services.dmp.errors import (
    MISSING_DOCUMENT,
    REGISTRY_METADATA_ERROR,
    REPOSITORY_METADATA_ERROR,
    UNRESOLVED_REFERENCE,
    Problems,
)
from shared import identifiers
from shared.errors import Issue

IDNATPS_SYSTEM = f"urn:oid:{identifiers.OID_IDNATPS}"
_IDNATPS = re.compile(r"^(0|1|3|4|5|6|8)\d*$")  # PDSm4DMP invariant on idNatPS


@dataclass
class DocFacts:
    """What the DMP stores and searches on, read from one DocumentReference."""

    unique_id: str = ""
    type_token: str = "|"
    class_token: str = "|"
    format_token: str = "|"
    facility_token: str = "|"
    setting_token: str = "|"
    security: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    related: list[str] = field(default_factory=list)
    visibility: set[str] = field(default_factory=set)
    date: dt.datetime | None = None
    creation: dt.datetime | None = None
    period_start: dt.datetime | None = None
    period_end: dt.datetime | None = None
    authors: list[dict[str, Any]] = field(default_factory=list)
    archived: bool = False
    relates: list[tuple[str, str, int]] = field(default_factory=list)
    content_type: str = ""
    size: int | None = None
    hash: str | None = None
    url: str | None = None
    data: bytes | None = None
    warnings: list[Issue] = field(default_factory=list)


def attachment_hash(content: bytes) -> str:
    """FHIR ``Attachment.hash``: the base64 of the SHA-1 of the bytes (R4 §datatypes)."""
    return b64.encode(hashlib.sha1(content).digest())  # noqa: S324 - the spec's hash


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one (robust reading of input)."""
    return value if isinstance(value, dict) else {}


def coding(concept: Any) -> tuple[str | None, str | None]:
    """The first coding of a CodeableConcept (or a Coding), as (system, code)."""
    if not isinstance(concept, dict):
        return None, None
    if "code" in concept and "coding" not in concept:
        return concept.get("system"), concept.get("code")
    codings = concept.get("coding")
    if isinstance(codings, list) and codings and isinstance(codings[0], dict):
        return codings[0].get("system"), codings[0].get("code")
    return None, None


def warn(facts: DocFacts, message: str, expression: str, code: str = "code-invalid") -> None:
    facts.warnings.append(Issue(message, code=code, severity="warning", expression=(expression,)))


def _coded(
    resource: dict[str, Any], key: str, binding: str, where: str, problems: Problems, facts: DocFacts
) -> str:
    """A required coded element: an error when absent, a warning when unknown."""
    path = key.split(".")
    value: Any = resource
    for part in path:
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, list):
        value = value[0] if value else None
    system, code = coding(value)
    if not code:
        problems.required(key, f"{where}.{key}")
        return "|"
    reason = term.BINDINGS[binding].check(system, code)
    if reason:
        warn(facts, reason, f"{where}.{key}")
    return term.token(system, code)


def moment(value: Any, what: str, expression: str, problems: Problems, required: bool) -> dt.datetime | None:
    if value is None:
        if required:
            problems.required(what, expression)
        return None
    try:
        return parse_moment(str(value))
    except DateError as exc:
        problems.error(f"{what}: {exc}", expression, code="value", xds=REGISTRY_METADATA_ERROR)
        return None


def contained_of(resource: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        str(c.get("id")): c for c in resource.get("contained") or () if isinstance(c, dict) and c.get("id")
    }


def person(resource: dict[str, Any], contained: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """idNatPS and name of a contained author (Practitioner, PractitionerRole, Patient...)."""
    kind = str(resource.get("resourceType", ""))
    found: dict[str, Any] = {"kind": kind, "idnat": None, "given": None, "family": None}
    for ident in resource.get("identifier") or ():
        if isinstance(ident, dict) and ident.get("system") == IDNATPS_SYSTEM and ident.get("value"):
            found["idnat"] = str(ident["value"])
    if kind == "PractitionerRole":
        ref = (resource.get("practitioner") or {}).get("reference", "")
        practitioner = contained.get(ref[1:]) if ref.startswith("#") else None
        if practitioner is not None:
            inner = person(practitioner, contained)
            found["idnat"] = found["idnat"] or inner["idnat"]
            found["given"], found["family"] = inner["given"], inner["family"]
    names = resource.get("name")
    if isinstance(names, list) and names and isinstance(names[0], dict):
        given = names[0].get("given")
        found["given"] = " ".join(given) if isinstance(given, list) else found["given"]
        found["family"] = names[0].get("family") or found["family"]
    return found


def authors_of(
    resource: dict[str, Any], where: str, problems: Problems, facts: DocFacts, key: str = "author"
) -> list[dict[str, Any]]:
    contained = contained_of(resource)
    refs = resource.get(key)
    refs = [refs] if isinstance(refs, dict) else refs
    if not refs:
        problems.required(key, f"{where}.{key}")
        return []
    authors = []
    for index, ref in enumerate(refs):
        reference = ref.get("reference", "") if isinstance(ref, dict) else ""
        target = contained.get(reference[1:]) if reference.startswith("#") else None
        path = f"{where}.{key}" + (f"[{index}]" if key == "author" else "")
        if target is None:
            problems.error(
                f"{key} '{reference}' must reference a contained resource (PDSm: authors are contained)",
                path,
                xds=UNRESOLVED_REFERENCE,
                structural=True,
            )
            continue
        author = person(target, contained)
        idnat = author["idnat"]
        if idnat and not _IDNATPS.match(idnat):
            problems.error(
                f"author idNatPS '{idnat}' does not match ^(0|1|3|4|5|6|8)\\d*$", path, code="value"
            )
        elif idnat and idnat.startswith("8") and not identifiers.is_valid_rpps(idnat[1:]):
            warn(facts, f"author idNatPS '{idnat}': the RPPS fails its Luhn key", path, code="value")
        authors.append(author)
    return authors


def _security(resource: dict[str, Any], where: str, problems: Problems, facts: DocFacts) -> None:
    labels = resource.get("securityLabel")
    if not isinstance(labels, list) or not labels:
        problems.required("securityLabel (confidentiality, JDV_J58)", f"{where}.securityLabel")
        return
    confidentiality = 0
    for index, label in enumerate(labels):
        system, code = coding(label)
        path = f"{where}.securityLabel[{index}]"
        if system == term.CONFIDENTIALITY:
            confidentiality += 1
            if code not in term.CONFIDENTIALITY_CODES:
                problems.error(
                    f"'{code}' is not a v3-Confidentiality code (required binding)", path, code="code-invalid"
                )
        elif term.visibility_system(system):
            if code not in term.VISIBILITY:
                problems.error(
                    f"'{code}' is not a TRE_A07-StatutVisibiliteDocument code", path, code="code-invalid"
                )
            facts.visibility.add(str(code))
            system = term.TRE_A07
        else:
            warn(facts, f"securityLabel system '{system}' is not one the DMP lists (JDV_J58)", path)
        facts.security.append(term.token(system, code))
    if confidentiality != 1:
        problems.error(
            f"securityLabel must carry exactly one v3-Confidentiality code, found {confidentiality}",
            f"{where}.securityLabel",
            code="required" if confidentiality == 0 else "invalid",
            xds=REGISTRY_METADATA_ERROR,
        )


def _hash(value: Any, expression: str, problems: Problems) -> str | None:
    try:
        raw = b64.decode(str(value))
    except (binascii.Error, ValueError):
        problems.error(
            "attachment.hash is not base64", expression, code="value", xds=REPOSITORY_METADATA_ERROR
        )
        return None
    if len(raw) != 20:
        hint = (
            " (it looks like the base64 of the hexadecimal digest; FHIR wants the base64 of the 20 raw bytes)"
            if len(raw) == 40 and re.fullmatch(rb"[0-9a-fA-F]{40}", raw)
            else ""
        )
        problems.error(
            f"attachment.hash must be a SHA-1 (20 bytes), got {len(raw)}{hint}",
            expression,
            code="value",
            xds=REPOSITORY_METADATA_ERROR,
        )
        return None
    return str(value)


def _content(resource: dict[str, Any], where: str, problems: Problems, facts: DocFacts, inline: bool) -> None:
    contents = resource.get("content")
    if not isinstance(contents, list) or len(contents) != 1 or not isinstance(contents[0], dict):
        problems.error(
            "exactly one content is required (MHD Comprehensive)",
            f"{where}.content",
            code="required",
            xds=REGISTRY_METADATA_ERROR,
        )
        return
    content = contents[0]
    attachment = as_dict(content.get("attachment"))
    at = f"{where}.content[0].attachment"
    for key in ("contentType", "language", "title", "creation"):
        if not attachment.get(key):
            problems.required(f"content.attachment.{key}", f"{at}.{key}")
    facts.content_type = str(attachment.get("contentType") or "")
    facts.creation = moment(
        attachment.get("creation"), "attachment.creation", f"{at}.creation", problems, False
    )
    size, digest = attachment.get("size"), attachment.get("hash")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        problems.error(
            "attachment.size must be a non-negative integer",
            f"{at}.size",
            code="value",
            xds=REPOSITORY_METADATA_ERROR,
        )
        size = None
    facts.size = size
    facts.hash = _hash(digest, f"{at}.hash", problems) if digest is not None else None
    if inline:
        if not attachment.get("data"):
            problems.required(
                "content.attachment.data (ITI-105 carries the document inline)",
                f"{at}.data",
                xds=MISSING_DOCUMENT,
            )
        else:
            try:
                facts.data = b64.decode(str(attachment["data"]))
            except (binascii.Error, ValueError):
                problems.error("attachment.data is not base64", f"{at}.data", code="value", structural=True)
    else:
        for key in ("size", "hash"):
            if attachment.get(key) is None:
                problems.required(f"content.attachment.{key}", f"{at}.{key}", xds=REPOSITORY_METADATA_ERROR)
        if not attachment.get("url"):
            problems.required(
                "content.attachment.url (the Binary in the bundle)", f"{at}.url", xds=MISSING_DOCUMENT
            )
        facts.url = str(attachment.get("url") or "")
    facts.format_token = _coded(content, "format", "format", f"{where}.content[0]", problems, facts)


def _context(resource: dict[str, Any], where: str, problems: Problems, facts: DocFacts) -> None:
    context = as_dict(resource.get("context"))
    at = f"{where}.context"
    period = as_dict(context.get("period"))
    facts.period_start = moment(
        period.get("start"), "context.period.start", f"{at}.period.start", problems, True
    )
    facts.period_end = moment(period.get("end"), "context.period.end", f"{at}.period.end", problems, False)
    facts.facility_token = _coded(resource, "context.facilityType", "facility", where, problems, facts)
    facts.setting_token = _coded(resource, "context.practiceSetting", "setting", where, problems, facts)
    for event in context.get("event") or ():
        system, code = coding(event)
        if code:
            facts.events.append(term.token(system, code))
    for related in context.get("related") or ():
        ident = related.get("identifier") if isinstance(related, dict) else None
        if isinstance(ident, dict) and ident.get("value"):
            facts.related.append(term.token(ident.get("system"), ident.get("value")))
    source = (context.get("sourcePatientInfo") or {}).get("reference", "")
    target = contained_of(resource).get(source[1:]) if source.startswith("#") else None
    if not source:
        problems.required("context.sourcePatientInfo", f"{at}.sourcePatientInfo")
    elif target is None or target.get("resourceType") != "Patient":
        problems.error(
            "context.sourcePatientInfo must reference a contained Patient",
            f"{at}.sourcePatientInfo",
            xds=UNRESOLVED_REFERENCE,
            structural=True,
        )


def check_document(
    resource: dict[str, Any], where: str, problems: Problems, *, inline: bool = False
) -> DocFacts:
    """Every PDSm rule on one DocumentReference; problems collected, facts returned."""
    facts = DocFacts()
    master = as_dict(resource.get("masterIdentifier"))
    if not master.get("value"):
        problems.required("masterIdentifier (uniqueId)", f"{where}.masterIdentifier")
    facts.unique_id = str(master.get("value") or "")
    if resource.get("status") != "current":
        problems.error(
            f"status must be 'current' on publication, got {resource.get('status')!r}",
            f"{where}.status",
            code="value",
            xds=REGISTRY_METADATA_ERROR,
        )
    facts.type_token = _coded(resource, "type", "type", where, problems, facts)
    facts.class_token = _coded(resource, "category", "category", where, problems, facts)
    if not (resource.get("subject") or {}).get("reference"):
        problems.required("subject (the patient, by INS)", f"{where}.subject")
    facts.date = moment(resource.get("date"), "date", f"{where}.date", problems, True)
    facts.authors = authors_of(resource, where, problems, facts)
    if not resource.get("custodian"):
        warn(
            facts,
            "custodian is absent: the DMP sets the publisher's structure (VIHF Identifiant_Structure)",
            f"{where}.custodian",
            code="informational",
        )
    _security(resource, where, problems, facts)
    _content(resource, where, problems, facts, inline)
    _context(resource, where, problems, facts)
    for index, relation in enumerate(resource.get("relatesTo") or ()):
        code = relation.get("code") if isinstance(relation, dict) else None
        target = (
            ((relation or {}).get("target") or {}).get("reference") if isinstance(relation, dict) else None
        )
        path = f"{where}.relatesTo[{index}]"
        if code not in term.RELATIONSHIPS:
            problems.error(
                f"relatesTo.code '{code}' is not a document-relationship-type",
                f"{path}.code",
                code="code-invalid",
            )
        elif not target:
            problems.required("relatesTo.target", f"{path}.target")
        else:
            facts.relates.append((str(code), str(target), index))
    for extension in resource.get("extension") or ():
        if isinstance(extension, dict) and extension.get("url") == term.EXT_ARCHIVED:
            facts.archived = extension.get("valueBoolean") is True
    return facts

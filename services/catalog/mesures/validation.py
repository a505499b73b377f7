"""Checking a feeding Bundle, with the answers of the specification (§2.2 and "Liste des
erreurs de validation" of "Spécifications de l'API Mesures de santé de Mon Espace Santé"
v1.5.2, ansforge/IG-fhir-mesures-de-sante; fr-ecosystem.md §4).

Every problem found is one ``OperationOutcome.issue`` (severity ``error``) of a single 422;
the ``diagnostics`` are the specification's, word for word. The issue types of its table
(INVALID, NOTSUPPORTED, VALUE, INCOMPLETE) are the FHIR IssueType codes ``invalid``,
``not-supported``, ``value`` and ``incomplete``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from shared.errors import BadRequestError, Issue, UnprocessableError

#: The 11 measures of Mon espace santé: profile keyword → LOINC codes (Liste des codes).
MEASURES: dict[str, tuple[str, ...]] = {
    "bodyweight": ("29463-7",),
    "bodyheight": ("8302-2",),
    "bmi": ("39156-5",),
    "bp": ("85354-9",),
    "bodytemperature": ("8310-5",),
    "glucose": ("2339-0", "2345-7", "MED-969", "4548-4", "MED-972"),
    "painseverity": ("72514-3",),
    "stepsbyday": ("41950-7",),
    "waistcircumference": ("8280-0",),
    "headcircumference": ("8287-5",),
    "heartrate": ("8867-4",),
}
#: The profile names seen in the guide's versions: MesFrObservationX, ENS_FrObservationX,
#: mes-observation-x (fhir.monespacesante.fr), mesures-observation-x (the ANS IG).
_PREFIXES = ("mesfrobservation", "mesobservation", "ensfrobservation", "ensobservation", "mesuresobservation")
PHD_DEVICE = "http://hl7.org/fhir/uv/phd/StructureDefinition/PhdDevice"
_IF_NONE_EXIST = re.compile(r"^identifier=urn:oid:([0-9]+(?:\.[0-9]+)+)\|([a-zA-Z0-9]+(?:-[a-zA-Z0-9]+)*)$")
BP_COMPONENTS = ("8480-6", "8462-4")
#: Glucose (§2.2.6): which extension each indicator requires (True), forbids (False).
GLUCOSE_RULES: dict[str, tuple[bool, bool]] = {
    # code: (moment of measurement, number of days)
    "2339-0": (True, False),
    "2345-7": (True, False),
    "4548-4": (False, False),
    "MED-969": (False, True),
    "MED-972": (False, True),
}

BUNDLE = "Bundle not valid."
LINK = "Observation and Device link not valid."
OBSERVATION = "Observation resource not valid."
DEVICE = "Device resource not valid."


@dataclass
class Feed:
    """A valid feeding request: the Observation, and the Device with its identifier."""

    observation: dict[str, Any]
    code: str
    device: dict[str, Any] | None = None
    device_system: str | None = None
    device_value: str | None = None
    #: Where each resource was in ``Bundle.entry`` (the response keeps the order).
    order: list[str] = field(default_factory=list)


def profile_measure(url: str) -> str | None:
    """``.../MesFrObservationBodyWeight`` (or any spelling of the guide) → ``bodyweight``."""
    name = re.sub(r"[^a-z0-9]", "", url.rsplit("/", 1)[-1].lower())
    for prefix in _PREFIXES:
        if name.startswith(prefix) and name[len(prefix) :] in MEASURES:
            return name[len(prefix) :]
    return None


def _issue(message: str, diagnostics: str, code: str = "invalid", where: str | None = None) -> Issue:
    """The spec's "Message" in ``details.text``, its "Outcome diagnostic" in ``diagnostics``."""
    return Issue(
        diagnostics=diagnostics, code=code, expression=(where,) if where else (), details_text=message
    )


def _codes(concept: Any) -> list[str]:
    if not isinstance(concept, dict):
        return []
    return [str(c.get("code")) for c in concept.get("coding", []) if isinstance(c, dict) and c.get("code")]


def _profiles(resource: dict[str, Any]) -> list[str]:
    meta = resource.get("meta")
    profiles = meta.get("profile") if isinstance(meta, dict) else None
    return [p for p in profiles if isinstance(p, str)] if isinstance(profiles, list) else []


def _extension(resource: dict[str, Any], *names: str) -> bool:
    for extension in resource.get("extension", []) or []:
        url = str(extension.get("url", "")).lower().replace("-", "").replace("_", "")
        if any(url.endswith(name) for name in names):
            return True
    return False


def _structure(kind: str, resource: dict[str, Any], message: str, where: str) -> list[Issue]:
    """FHIR R4 structure, through the R4B models (fhir.resources)."""
    from fhir.resources.R4B import get_fhir_model_class
    from pydantic import ValidationError

    try:
        get_fhir_model_class(kind).model_validate(resource)
    except (ValidationError, ValueError) as exc:
        first = str(exc).splitlines()
        detail = "; ".join(line.strip() for line in first[1:3]) if len(first) > 1 else str(exc)
        return [_issue(message, f"The {kind} is not a valid FHIR R4 {kind}: {detail}", "structure", where)]
    return []


def _entries(bundle: dict[str, Any]) -> tuple[list[Issue], list[tuple[int, dict[str, Any]]]]:
    issues: list[Issue] = []
    accepted: list[tuple[int, dict[str, Any]]] = []
    if bundle.get("type") != "transaction":
        issues.append(_issue(BUNDLE, "Bundle type must be transaction.", where="Bundle.type"))
    entries = bundle.get("entry")
    for index, entry in enumerate(entries if isinstance(entries, list) else []):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        request = entry.get("request") if isinstance(entry, dict) else None
        kind = resource.get("resourceType") if isinstance(resource, dict) else None
        method = request.get("method") if isinstance(request, dict) else None
        if kind not in ("Observation", "Device") or method != "POST":
            issues.append(
                _issue(
                    BUNDLE,
                    f"Resource of type {kind} is not acceptable with method {method}.",
                    "not-supported",
                    f"Bundle.entry[{index}]",
                )
            )
            continue
        accepted.append((index, entry))
    return issues, accepted


def _device(feed: Feed, index: int, entry: dict[str, Any], issues: list[Issue]) -> None:
    device = entry["resource"]
    match = _IF_NONE_EXIST.match(str(entry["request"].get("ifNoneExist", "")))
    if match is None:
        issues.append(
            _issue(
                BUNDLE,
                "Device request must have a valid IfNoneExist attribute : identifier=urn:oid:<OID>",
                where=f"Bundle.entry[{index}].request.ifNoneExist",
            )
        )
    else:
        feed.device_system, feed.device_value = f"urn:oid:{match.group(1)}", match.group(2)
    if not _profiles(device):
        issues.append(_issue(DEVICE, "Device must provide meta.profile value.", where="Device.meta.profile"))
    issues.extend(_structure("Device", device, DEVICE, "Device"))
    feed.device = device


def _observation_issues(observation: dict[str, Any], editor_oid: str) -> tuple[list[Issue], str]:
    issues: list[Issue] = []
    profiles = _profiles(observation)
    measure = next((m for m in map(profile_measure, profiles) if m), None)
    codes = _codes(observation.get("code"))
    code = next((c for c in codes if measure and c in MEASURES[measure]), codes[0] if codes else "")
    if not profiles:
        issues.append(
            _issue(OBSERVATION, "Observation must provide meta.profile value.", where="Observation.meta")
        )
    elif measure is None:
        issues.append(
            _issue(
                OBSERVATION,
                f"Observation profile {profiles[0]} is not a profile of the mesures.",
                "not-supported",
                "Observation.meta.profile",
            )
        )
    if measure == "bmi" or "39156-5" in codes:
        issues.append(
            _issue(OBSERVATION, "Bmi observation cannot be created.", "not-supported", "Observation")
        )
    source = (observation.get("meta") or {}).get("source")
    if source is not None and not str(source).removeprefix("urn:oid:").startswith(editor_oid):
        issues.append(
            _issue(
                OBSERVATION,
                "Solution oid contains in Observation.meta.source don't belong to root editor oid "
                f"({editor_oid}).",
                "value",
                "Observation.meta.source",
            )
        )
    if measure == "bp":
        components = {
            c
            for comp in observation.get("component", []) or []
            for c in _codes(comp.get("code"))
            if isinstance(comp, dict) and isinstance(comp.get("valueQuantity"), dict)
        }
        if not set(BP_COMPONENTS) <= components:
            issues.append(
                _issue(
                    OBSERVATION, "Observation value quantity not provided.", "value", "Observation.component"
                )
            )
    elif (
        not isinstance(observation.get("valueQuantity"), dict) or "value" not in observation["valueQuantity"]
    ):
        issues.append(
            _issue(
                OBSERVATION, "Observation value quantity not provided.", "value", "Observation.valueQuantity"
            )
        )
    subject = observation.get("subject")
    identifier = subject.get("identifier") if isinstance(subject, dict) else None
    if not isinstance(identifier, dict) or not identifier.get("value") or not identifier.get("system"):
        issues.append(
            _issue(
                OBSERVATION,
                "Observation.subject.identifier is mandatory.",
                where="Observation.subject.identifier",
            )
        )
    if not observation.get("effectiveDateTime"):
        issues.append(
            _issue(
                OBSERVATION,
                "Observation.effectiveDateTime is mandatory.",
                "required",
                "Observation.effectiveDateTime",
            )
        )
    if measure == "glucose":
        issues.extend(_glucose(observation, code))
    return issues, code


def _glucose(observation: dict[str, Any], code: str) -> list[Issue]:
    moment_required, days_required = GLUCOSE_RULES.get(code, (False, False))
    moment = _extension(observation, "momentofmeasurement")
    days = _extension(observation, "numberofdays")
    issues = []
    if moment_required and not moment:
        issues.append(
            _issue(OBSERVATION, "Observation.extension.moment is mandatory.", "incomplete", "Observation")
        )
    if moment and not moment_required:
        issues.append(
            _issue(OBSERVATION, "Observation.extension.moment cannot be added.", where="Observation")
        )
    if days_required and not days:
        issues.append(
            _issue(
                OBSERVATION, "Observation.extension.numberOfDays is mandatory.", "incomplete", "Observation"
            )
        )
    if days and not days_required:
        issues.append(
            _issue(OBSERVATION, "Observation.extension.numberOfDays cannot be added.", where="Observation")
        )
    return issues


def check(bundle: Any, editor_oid: str) -> Feed:
    """The feed, or a 422 listing every problem (a missing Bundle is a 400)."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise BadRequestError("No bundle provided.", fhir_code="required")
    issues, entries = _entries(bundle)
    observations = [(i, e) for i, e in entries if e["resource"]["resourceType"] == "Observation"]
    devices = [(i, e) for i, e in entries if e["resource"]["resourceType"] == "Device"]
    if len(observations) != 1:
        issues.append(
            _issue(BUNDLE, "Bundle must contains one observation creation (POST)", where="Bundle.entry")
        )
    if len(devices) > 1:
        issues.append(
            _issue(
                BUNDLE, "Bundle must contains at most one device (POST + ifNoneExist)", where="Bundle.entry"
            )
        )
    if issues:
        raise UnprocessableError(BUNDLE, issues=issues)
    observation = observations[0][1]["resource"]
    feed = Feed(observation=observation, code="", order=[e["resource"]["resourceType"] for _, e in entries])
    if devices:
        _device(feed, devices[0][0], devices[0][1], issues)
        reference = (observation.get("device") or {}).get("reference")
        if not reference:
            issues.append(
                _issue(LINK, "Observation.device.reference is mandatory.", where="Observation.device")
            )
        elif reference != f"Device/{feed.device and feed.device.get('id')}":
            issues.append(
                _issue(
                    LINK,
                    "Observation and device not linked by id (Observation.device.reference <-> Device.id)",
                    where="Observation.device.reference",
                )
            )
    more, feed.code = _observation_issues(observation, editor_oid)
    issues.extend(more)
    issues.extend(_structure("Observation", observation, OBSERVATION, "Observation"))
    if issues:
        raise UnprocessableError(issues[0].details_text or BUNDLE, issues=issues)
    return feed

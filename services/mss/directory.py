"""The directory of mailboxes in the shape of the Annuaire Santé FHIR API.

``GET {base}/fhir/v2/{Practitioner|PractitionerRole|Organization}`` with the search
parameters ``mailbox-mss-type`` (token: PER, ORG, APP, CAB) and ``mailbox-mss`` (string,
``:contains``/``:exact``), ``identifier``, ``name``/``family``, ``_count`` (fr-ecosystem.md
§3.1; ansforge/interop-ig-fhir-api-messagerie-securisee-sante). Mailboxes are ``telecom``
entries (``system=email``) with the FR Core e-mail type extension (TRE_R256 ``MSSANTE``)
and ``as-ext-mailbox-mss-metadata`` (``type`` from TRE_R257, ``description``,
``digitization``, ``listeRouge``). Which resource carries which type follows the IG:
PER on Practitioner (RPPS alone) and PractitionerRole (RPPS + structure), CAB on
Practitioner, ORG and APP on Organization. Citizen mailboxes are not in the directory.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from services.mss.models import Mailbox
from shared.errors import BadRequestError
from shared.identifiers import OID_IDNATPS, OID_IDNATST, SYSTEM_FINESS, SYSTEM_RPPS
from shared.personas import Organisation, Personas, Professional

EMAIL_TYPE = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-contact-point-email-type"
MAILBOX_METADATA = (
    "https://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/as-ext-mailbox-mss-metadata"
)
TRE_R256 = "https://mos.esante.gouv.fr/NOS/TRE_R256-TypeMessagerie/FHIR/TRE-R256-TypeMessagerie"
TRE_R257 = "https://mos.esante.gouv.fr/NOS/TRE_R257-TypeBAL/FHIR/TRE-R257-TypeBAL"
TRE_G15 = "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante"
PROFILE = "https://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/"
CARRIERS = {
    "Practitioner": ("PER", "CAB"),
    "PractitionerRole": ("PER",),
    "Organization": ("ORG", "APP"),
}
MAILBOX_TYPES = ("PER", "ORG", "APP", "CAB")


def telecom(box: Mailbox, description: str = "") -> dict[str, Any]:
    metadata: list[dict[str, Any]] = [
        {"url": "type", "valueCodeableConcept": {"coding": [{"system": TRE_R257, "code": box.type}]}},
    ]
    if description:
        metadata.append({"url": "description", "valueString": description})
    metadata += [{"url": "digitization", "valueBoolean": False}, {"url": "listeRouge", "valueBoolean": False}]
    return {
        "extension": [
            {"url": EMAIL_TYPE, "valueCoding": {"system": TRE_R256, "code": "MSSANTE"}},
            {"url": MAILBOX_METADATA, "extension": metadata},
        ],
        "system": "email",
        "value": box.address,
    }


def _identifiers(pro: Professional) -> list[dict[str, Any]]:
    return [
        {"use": "official", "system": f"urn:oid:{OID_IDNATPS}", "value": pro.idnat},
        {"use": "official", "system": SYSTEM_RPPS, "value": pro.rpps},
    ]


def practitioner(pro: Professional, boxes: list[Mailbox]) -> dict[str, Any]:
    name: dict[str, Any] = {"family": pro.family_name, "given": [pro.given_name]}
    if pro.practice_civility:
        name["prefix"] = [pro.practice_civility]
    return {
        "resourceType": "Practitioner",
        "id": pro.id,
        "meta": {"profile": [PROFILE + "as-dp-practitioner"]},
        "identifier": _identifiers(pro),
        "active": True,
        "name": [name],
        "telecom": [telecom(b) for b in boxes],
        "qualification": [
            {
                "code": {
                    "coding": [{"system": TRE_G15, "code": pro.profession, "display": pro.profession_label}]
                }
            }
        ],
    }


def practitioner_role(pro: Professional, org: Organisation, boxes: list[Mailbox]) -> dict[str, Any]:
    return {
        "resourceType": "PractitionerRole",
        "id": f"{pro.id}-{org.id}",
        "meta": {"profile": [PROFILE + "as-dp-practitionerrole"]},
        "active": True,
        "practitioner": {"reference": f"Practitioner/{pro.id}", "display": pro.display_name},
        "organization": {"reference": f"Organization/{org.id}", "display": org.name},
        "code": [{"coding": [{"system": TRE_G15, "code": pro.profession, "display": pro.profession_label}]}],
        "telecom": [telecom(b) for b in boxes],
    }


def organization(org: Organisation, boxes: list[Mailbox]) -> dict[str, Any]:
    identifiers: list[dict[str, Any]] = []
    if org.finess:
        identifiers.append({"system": SYSTEM_FINESS, "value": org.finess})
        identifiers.append({"system": f"urn:oid:{OID_IDNATST}", "value": "1" + org.finess})
    elif org.siret:
        identifiers.append({"system": f"urn:oid:{OID_IDNATST}", "value": "3" + org.siret})
    descriptions = {b.address: b.description for b in org.mailboxes}
    return {
        "resourceType": "Organization",
        "id": org.id,
        "meta": {"profile": [PROFILE + "as-dp-organization"]},
        "identifier": identifiers,
        "active": True,
        "name": org.name,
        "telecom": [telecom(b, descriptions.get(b.address, "")) for b in boxes],
    }


def _matches_mailbox(boxes: list[Mailbox], types: set[str], text: str | None, exact: bool) -> list[Mailbox]:
    selected = [b for b in boxes if not types or b.type in types]
    if text is not None:
        needle = text.lower()
        selected = [b for b in selected if (b.address == needle if exact else needle in b.address)]
    return selected


def search(
    resource: str,
    params: dict[str, str],
    personas: Personas,
    mailboxes: Iterable[Mailbox],
    base_url: str,
) -> dict[str, Any]:
    """A FHIR ``searchset`` Bundle of ``resource`` matching ``params``."""
    allowed = {"mailbox-mss-type", "mailbox-mss", "mailbox-mss:contains", "mailbox-mss:exact", "identifier"}
    allowed |= {"name", "family", "_count", "_format"}
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise BadRequestError(
            f"unsupported search parameter(s): {', '.join(unknown)}", fhir_code="not-supported"
        )
    types = {t.split("|")[-1].upper() for t in params.get("mailbox-mss-type", "").split(",") if t}
    if types - set(MAILBOX_TYPES):
        raise BadRequestError(
            f"mailbox-mss-type must be one of {', '.join(MAILBOX_TYPES)}", expression=["mailbox-mss-type"]
        )
    text = params.get("mailbox-mss", params.get("mailbox-mss:contains", params.get("mailbox-mss:exact")))
    exact = "mailbox-mss:exact" in params
    mailbox_filter = bool(types) or text is not None
    carried = CARRIERS[resource]
    by_holder: dict[str, list[Mailbox]] = {}
    for box in mailboxes:
        if box.type in carried:
            by_holder.setdefault(box.holder, []).append(box)
    resources = _resources(resource, personas, by_holder, types, text, exact, mailbox_filter)
    resources = [r for r in resources if _matches_params(r, params)]
    count = int(params.get("_count", "50") or 50)
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [
            {
                "fullUrl": f"{base_url}/{r['resourceType']}/{r['id']}",
                "resource": r,
                "search": {"mode": "match"},
            }
            for r in resources[:count]
        ],
    }


def _resources(
    resource: str,
    personas: Personas,
    by_holder: dict[str, list[Mailbox]],
    types: set[str],
    text: str | None,
    exact: bool,
    mailbox_filter: bool,
) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if resource == "Organization":
        for org in personas.organisations:
            boxes = _matches_mailbox(by_holder.get(org.technical_id, []), types, text, exact)
            if boxes or not mailbox_filter:
                found.append(
                    organization(org, boxes if mailbox_filter else by_holder.get(org.technical_id, []))
                )
        return found
    members: dict[str, list[Mailbox]] = {}
    for org in personas.organisations:
        for box in by_holder.get(org.technical_id, []):
            members.setdefault(org.id, []).append(box)
    for pro in personas.professionals:
        own = by_holder.get(pro.idnat, [])
        if resource == "Practitioner":
            cabinets = [b for a in pro.activities for b in members.get(a.organisation, []) if b.type == "CAB"]
            all_boxes = own + cabinets
            boxes = _matches_mailbox(all_boxes, types, text, exact)
            if boxes or not mailbox_filter:
                found.append(practitioner(pro, boxes if mailbox_filter else all_boxes))
            continue
        for activity in pro.activities:
            org = personas.organisation(activity.organisation)
            role_boxes = [b for b in own if b.organisation == org.id]
            boxes = _matches_mailbox(role_boxes, types, text, exact)
            if boxes or not mailbox_filter:
                found.append(practitioner_role(pro, org, boxes if mailbox_filter else role_boxes))
    return found


def _matches_params(resource: dict[str, Any], params: dict[str, str]) -> bool:
    if "identifier" in params:
        system, _, value = params["identifier"].rpartition("|")
        idents = resource.get("identifier", [])
        if not any(i["value"] == value and (not system or i["system"] == system) for i in idents):
            return False
    for key in ("name", "family"):
        if key in params:
            needle = params[key].lower()
            names = resource.get("name")
            text = (
                names.lower()
                if isinstance(names, str)
                else " ".join(
                    [n.get("family", "") + " " + " ".join(n.get("given", [])) for n in names or []]
                ).lower()
            )
            if needle not in text:
                return False
    return True

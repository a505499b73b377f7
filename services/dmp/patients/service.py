"""Finding a DMP by INS or by reference, and the TD0.2 ``Patient`` resource."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import unquote

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from services.dmp.models import Dossier
from shared import identifiers
from shared.errors import BadRequestError
from shared.personas import Personas

#: fictitious extensions of the sandbox (README, "DMP": PDSm4DMP leaves them "à définir").
EXT_BASE = "https://mes-sandbox.example/fhir/StructureDefinition"
EXT_DMP_STATUS = f"{EXT_BASE}/dmp-status"
EXT_CLOSED = f"{EXT_BASE}/dmp-closure"
EXT_MT = f"{EXT_BASE}/dmp-medecin-traitant"
EXT_AUTHORISATION = f"{EXT_BASE}/dmp-access-authorisation"
FR_CORE_0203 = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203"


class DossierKeys(Protocol):
    """What names a DMP in the rows written to it: a :class:`Dossier`, or a row read
    without the ORM (:mod:`services.dmp.publication.direct`)."""

    @property
    def id(self) -> str: ...

    @property
    def ins_oid(self) -> str: ...

    @property
    def ins(self) -> str: ...


class InsError(ValueError):
    """An INS that is not one (wrong OID, length or key); the message says which."""


def check_ins(oid_or_system: str, ins: str, personas: Personas) -> tuple[str, str]:
    """(OID, INS) when the OID is an INS OID and the matricule has 15 characters and its key.

    The ANS guides' illustrative INS has no valid key: a persona carrying it with
    ``ins_key_exempt`` lets the guides' examples be accepted as they are.
    """
    try:
        oid = identifiers.validate_ins_oid(oid_or_system)
    except identifiers.IdentifierError as exc:
        raise InsError(str(exc)) from exc
    known = personas.patient_by_ins(ins)
    if known is not None and known.ins_key_exempt and known.ins_oid == oid:
        return oid, ins
    try:
        return oid, identifiers.validate_ins(ins)
    except identifiers.IdentifierError as exc:
        raise InsError(str(exc)) from exc


def parse_ins_token(value: str, personas: Personas, parameter: str = "identifier") -> tuple[str, str]:
    """``urn:oid:<OID>|<INS>`` → (OID, INS), both checked (the INS key included)."""
    system, sep, ins = value.partition("|")
    if not sep or not system or not ins:
        raise BadRequestError(
            f"{parameter} must be 'urn:oid:<INS OID>|<INS>', got '{value}'", expression=[parameter]
        )
    try:
        return check_ins(system, ins, personas)
    except InsError as exc:
        raise BadRequestError(str(exc), expression=[parameter], fhir_code="value") from exc


@dataclass(frozen=True)
class SubjectRef:
    """A reference to the DMP's patient: by INS (conditional) or by the Patient's id."""

    oid: str | None = None
    ins: str | None = None
    dossier_id: str | None = None


def parse_subject(reference: str, base_url: str, personas: Personas) -> SubjectRef:
    """``Patient?identifier=<system>|<INS>``, ``Patient/<id>`` or ``<base>/Patient/<id>``.

    Raises :class:`InsError` for a bad INS and ``ValueError`` for another shape.
    """
    reference = reference.strip()
    if reference.startswith(base_url + "/"):
        reference = reference[len(base_url) + 1 :]
    if reference.startswith("Patient?"):
        params = dict(part.partition("=")[::2] for part in reference[len("Patient?") :].split("&"))
        token = unquote(params.get("identifier", ""))
        system, sep, ins = token.partition("|")
        if not sep or not ins:
            raise ValueError(f"conditional reference '{reference}' must be Patient?identifier=<system>|<INS>")
        oid, ins = check_ins(system, ins, personas)
        return SubjectRef(oid=oid, ins=ins)
    if reference.startswith("Patient/") and "/" not in reference[len("Patient/") :]:
        return SubjectRef(dossier_id=reference[len("Patient/") :])
    raise ValueError(
        f"'{reference}' is not a reference to a DMP patient (Patient?identifier=... or Patient/<id>)"
    )


def find(session: Session, ref: SubjectRef) -> Dossier | None:
    if ref.dossier_id is not None:
        return session.get(Dossier, ref.dossier_id)
    return find_by_ins(session, ref.oid or "", ref.ins or "")


# Built once: building a statement costs more than running it on the search's hot path.
_BY_INS = select(Dossier).where(Dossier.ins_oid == bindparam("oid"), Dossier.ins == bindparam("ins"))


def find_by_ins(session: Session, oid: str, ins: str) -> Dossier | None:
    return session.scalars(_BY_INS, {"oid": oid, "ins": ins}).first()


def ins_identifier(dossier: Dossier) -> dict[str, Any]:
    return {
        "use": "official",
        "type": {"coding": [{"system": FR_CORE_0203, "code": identifiers.INS_TYPES[dossier.ins_oid]}]},
        "system": f"urn:oid:{dossier.ins_oid}",
        "value": dossier.ins,
    }


def subject_reference(dossier: DossierKeys) -> dict[str, Any]:
    """How documents name their patient (the shape of the PDSm4DMP examples)."""
    return {"reference": f"Patient?identifier=urn:oid:{dossier.ins_oid}|{dossier.ins}"}


def patient_resource(
    dossier: Dossier, authorisation: str | None = None, is_mt: bool | None = None
) -> dict[str, Any]:
    """TD0.2's Patient: ``active`` tells an open (true) from a closed (false) DMP."""
    extensions: list[dict[str, Any]] = [
        {"url": EXT_DMP_STATUS, "valueCode": "actif" if dossier.status == "open" else "ferme"}
    ]
    if dossier.closed_at is not None:
        closure: list[dict[str, Any]] = [{"url": "date", "valueDateTime": dossier.closed_at.isoformat()}]
        if dossier.closure_reason:
            closure.append({"url": "reason", "valueString": dossier.closure_reason})
        extensions.append({"url": EXT_CLOSED, "extension": closure})
    if is_mt is not None:
        extensions.append({"url": EXT_MT, "valueBoolean": is_mt})
    if authorisation is not None:
        extensions.append({"url": EXT_AUTHORISATION, "valueCode": authorisation})
    return {
        "resourceType": "Patient",
        "id": dossier.id,
        "meta": {"profile": ["https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient"]},
        "extension": extensions,
        "identifier": [ins_identifier(dossier)],
        "active": dossier.status == "open",
        "name": [{"use": "official", "family": dossier.family_name, "given": dossier.given_names.split()}],
        "gender": dossier.gender,
        "birthDate": dossier.birth_date.isoformat(),
    }


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def traits(resource: dict[str, Any], personas: Personas) -> dict[str, Any]:
    """The INS and identity traits of a Patient resource (FR Core INS profile), checked."""
    from shared.errors import UnprocessableError

    if resource.get("resourceType") != "Patient":
        raise BadRequestError(
            "a DMP is created from a Patient resource", expression=["Patient"], fhir_code="structure"
        )
    found: tuple[str, str] | None = None
    for index, ident in enumerate(resource.get("identifier") or ()):
        system, value = (ident or {}).get("system", ""), (ident or {}).get("value", "")
        if str(system).removeprefix("urn:oid:") in identifiers.INS_OIDS:
            try:
                found = check_ins(str(system), str(value), personas)
            except InsError as exc:
                raise BadRequestError(
                    str(exc), expression=[f"Patient.identifier[{index}]"], fhir_code="value"
                ) from exc
    if found is None:
        raise UnprocessableError(
            "the Patient carries no INS identifier (INS-NIR, INS-NIA, test or demo OID)",
            expression=["Patient.identifier"],
            fhir_code="required",
        )
    names = [n for n in resource.get("name") or () if isinstance(n, dict)]
    official = next((n for n in names if n.get("use") == "official"), names[0] if names else {})
    family, given = official.get("family"), official.get("given") or []
    gender, birth = resource.get("gender"), resource.get("birthDate")
    missing = [
        what
        for what, value in (
            ("name.family", family),
            ("name.given", given),
            ("gender", gender),
            ("birthDate", birth),
        )
        if not value
    ]
    if missing:
        raise UnprocessableError(
            f"the INS traits are required: {', '.join(missing)}",
            expression=[f"Patient.{m}" for m in missing],
            fhir_code="required",
        )
    try:
        born = dt.date.fromisoformat(str(birth))
    except ValueError as exc:
        raise BadRequestError(f"birthDate '{birth}' is not a date", expression=["Patient.birthDate"]) from exc
    if gender not in ("male", "female", "unknown", "other"):
        raise BadRequestError(
            f"gender '{gender}' is not an administrative gender", expression=["Patient.gender"]
        )
    return {
        "ins_oid": found[0],
        "ins": found[1],
        "family_name": str(family),
        "given_names": " ".join(given),
        "gender": str(gender),
        "birth_date": born,
    }

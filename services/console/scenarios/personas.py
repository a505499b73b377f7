"""The personas as scenario templates see them: ``patient('dominique-pat-trois').ins``,
``professional('jeanne-martin').mailbox``, ``app('ma-balance').client_id``.

Plain dictionaries (the template sandbox reads them like attributes), with the values a
request needs ready-made: the INS as a FHIR token (``ins_token``), the idNatPS, the
MSSanté addresses. A patient or professional may be named by id, INS, idNatPS or RPPS.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from services.console.scenarios.templating import TemplateProblem
from shared.personas import Patient, Personas, Professional


def patient_view(patient: Patient) -> dict[str, Any]:
    return {
        "id": patient.id,
        "ins": patient.ins,
        "ins_oid": patient.ins_oid,
        "ins_system": patient.ins_system,
        "ins_token": f"{patient.ins_system}|{patient.ins}",
        "given_name": patient.given_name,
        "family_name": patient.family_name,
        "display_name": patient.display_name,
        "birth_date": patient.birth_date.isoformat(),
        "gender": patient.gender,
        "mailbox": patient.mailbox,
        "dmp": patient.dmp,
    }


def professional_view(pro: Professional, personas: Personas) -> dict[str, Any]:
    organisations = [personas.organisation(a.organisation) for a in pro.activities]
    first = organisations[0] if organisations else None
    return {
        "id": pro.id,
        "rpps": pro.rpps,
        "idnat": pro.idnat,
        "sub": pro.sub,
        "given_name": pro.given_name,
        "family_name": pro.family_name,
        "display_name": pro.display_name,
        "profession": pro.profession,
        "mailboxes": [m.address for m in pro.mailboxes],
        "mailbox": pro.mailboxes[0].address if pro.mailboxes else None,
        "organisation": first.name if first else None,
        "organisation_id": first.technical_id if first else None,
        "organisation_mailboxes": [m.address for o in organisations for m in o.mailboxes],
        "sector": pro.activities[0].sector if pro.activities else None,
    }


def functions(personas: Personas) -> dict[str, Callable[[str], dict[str, Any]]]:
    def patient(ref: str) -> dict[str, Any]:
        found = next((p for p in personas.patients if ref in (p.id, p.ins)), None)
        if found is None:
            raise TemplateProblem(f"patient inconnu : {ref!r}")
        return patient_view(found)

    def professional(ref: str) -> dict[str, Any]:
        found = next((p for p in personas.professionals if p.id == ref), None)
        found = found or personas.professional_by_idnat(ref)
        if found is None:
            raise TemplateProblem(f"professionnel inconnu : {ref!r}")
        return professional_view(found, personas)

    def app(ref: str) -> dict[str, Any]:
        found = next((a for a in personas.apps if ref in (a.id, a.client_id)), None)
        if found is None:
            raise TemplateProblem(f"application inconnue : {ref!r}")
        return found.model_dump(mode="json")

    def organisation(ref: str) -> dict[str, Any]:
        found = next((o for o in personas.organisations if ref in (o.id, o.technical_id)), None)
        if found is None:
            raise TemplateProblem(f"structure inconnue : {ref!r}")
        return found.model_dump(mode="json")

    return {"patient": patient, "professional": professional, "app": app, "organisation": organisation}

"""The access rules of the DMP (fr-ecosystem.md §2.8), as pure functions.

Consultation by a professional (R1111-46, L1111-17, PDSm4DMP TD0.2), in this order:

1. a closed DMP is not consulted by professionals;
2. a professional **blocked** by the holder is refused, whatever the mode and even with an
   authorisation (TD0.2 NB1);
3. the **médecin traitant** sees everything, masked documents included;
4. a professional holding a valid **authorisation** (granted by the holder with an end
   date in Mon espace santé, or recorded when they created the DMP);
5. the **care team** (presumed consent): the sandbox cannot know who treats the patient, so
   it counts as care team the professionals who published a document in this DMP and the
   colleagues of the same structure (L1110-12 1°: "exercent dans le même établissement");
6. outside the care team: **bris de glace** (with a reason) or the SAMU regulator's
   **centre 15** mode, unless the holder objected beforehand (L1111-17 I); the holder and
   the médecin traitant are then informed;
7. anyone else is refused: the holder must authorise them.

Publishing needs only the holder's information (TD0.2 NB2: authorisations are for
consultation), so any professional who is not blocked may feed an open DMP. Documents:
``MASQUE_PS`` hides from professionals other than the médecin traitant and the authors
(in every mode); ``INVISIBLE_PATIENT`` from the holder, their caregivers and apps, and
legal representatives; ``INVISIBLE_REPRESENTANTS_LEGAUX`` from legal representatives.
Refusals about one document are "not found" (IHE ITI Appendix Z.8: do not leak existence).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from services.dmp.access.caller import AccessMode, Caller
from shared.errors import ForbiddenError, InsufficientScopeError

ViewerKind = Literal["professional", "patient", "representant_legal"]


@dataclass(frozen=True)
class DossierFacts:
    """What the rules need to know about one DMP."""

    id: str
    ins: str
    ins_oid: str
    open: bool
    medecin_traitant: str | None
    break_glass_objection: bool
    blocked: frozenset[str]
    #: idNatPS → last day of the authorisation (None: no end).
    authorized: Mapping[str, dt.date | None]
    #: Loads (idNatPS, structures) of the care team, only when a rule needs it.
    care_team: Callable[[], tuple[frozenset[str], frozenset[str]]] = field(
        default=lambda: (frozenset(), frozenset()), compare=False
    )


@dataclass(frozen=True)
class Viewer:
    """Who looks at documents, for the per-document rules."""

    kind: ViewerKind
    idnat: str | None
    organisation: str | None
    medecin_traitant: bool
    #: Why access was granted (shown in the traces and the flow console).
    basis: str
    #: The emergency mode that granted access (the holder is then informed), if any.
    emergency: AccessMode | None = None


class Refused(ForbiddenError):
    """403 with the rule that refused (the traces and the console show it)."""


def _mes_matches(caller: Caller, facts: DossierFacts) -> None:
    mes = caller.mes
    assert mes is not None
    if (mes.patient_ins, mes.patient_ins_oid) != (facts.ins, facts.ins_oid):
        raise Refused("this Mon espace santé token gives access to another patient's data only")


def _require_scope(caller: Caller, scope: str) -> None:
    mes = caller.mes
    if mes is not None and scope not in mes.scopes:
        raise InsufficientScopeError(f"this operation needs the '{scope}' scope")


def _refuse_software(caller: Caller) -> None:
    if caller.kind == "software":
        raise Refused(
            "a software account (client_credentials) cannot act on a DMP: the DMP needs a "
            "professional (Pro Santé Connect) or the patient (Mon espace santé)"
        )


def _authorised(facts: DossierFacts, idnat: str, today: dt.date) -> bool:
    if idnat not in facts.authorized:
        return False
    until = facts.authorized[idnat]
    return until is None or until >= today


def professional_basis(caller: Caller, facts: DossierFacts, today: dt.date) -> Viewer:
    """Rules 1 to 7 for a professional, or :class:`Refused`."""
    pro = caller.professional
    assert pro is not None
    if not facts.open:
        raise Refused("this DMP is closed: professionals can no longer consult it")
    if pro.idnat in facts.blocked:
        raise Refused("the patient has blocked this professional's access to their DMP")

    def viewer(basis: str, emergency: AccessMode | None = None) -> Viewer:
        return Viewer(
            kind="professional",
            idnat=pro.idnat,
            organisation=pro.organisation_id,
            medecin_traitant=pro.idnat == facts.medecin_traitant,
            basis=basis,
            emergency=emergency,
        )

    if pro.idnat == facts.medecin_traitant:
        return viewer("médecin traitant")
    if _authorised(facts, pro.idnat, today):
        return viewer("autorisation du patient")
    members, organisations = facts.care_team()
    if pro.idnat in members:
        return viewer("équipe de soins (a déjà alimenté ce DMP)")
    if pro.organisation_id and pro.organisation_id in organisations:
        return viewer("équipe de soins (même structure qu'un auteur)")
    if caller.mode in ("bris_de_glace", "centre_15"):
        if facts.break_glass_objection:
            raise Refused(f"the patient has objected to access in an emergency ({caller.mode})")
        label = "bris de glace" if caller.mode == "bris_de_glace" else "centre 15 (régulation médicale)"
        return viewer(label, emergency=caller.mode)
    raise Refused(
        "this professional is outside the patient's care team and holds no authorisation: the "
        "patient must authorise them (Mon espace santé), or use bris_de_glace in an emergency"
    )


def consult(caller: Caller, facts: DossierFacts, today: dt.date) -> Viewer:
    """May ``caller`` consult this DMP, and as whom (raises :class:`Refused`)."""
    _refuse_software(caller)
    if caller.professional is not None:
        return professional_basis(caller, facts, today)
    mes = caller.mes
    assert mes is not None
    _mes_matches(caller, facts)
    _require_scope(caller, "documents.read")
    if mes.actor == "representant_legal":
        return Viewer("representant_legal", None, None, False, "représentant légal")
    labels = {"patient": "titulaire", "aidant": "aidant du titulaire", "app": f"application {mes.client_id}"}
    return Viewer("patient", None, None, False, labels[mes.actor])


def publish(caller: Caller, facts: DossierFacts) -> str:
    """May ``caller`` feed this DMP; the basis (raises :class:`Refused`)."""
    _refuse_software(caller)
    if not facts.open:
        raise Refused("this DMP is closed: it can no longer be fed")
    pro = caller.professional
    if pro is not None:
        if pro.idnat in facts.blocked:
            raise Refused("the patient has blocked this professional's access to their DMP")
        return "alimentation (information du patient)"
    _mes_matches(caller, facts)
    _require_scope(caller, "documents.write")
    return "titulaire" if caller.kind == "patient" else str(caller.kind)


def manage(caller: Caller, facts: DossierFacts) -> None:
    """The holder's own controls: the patient or a legal representative, with dmp.manage."""
    _refuse_software(caller)
    if caller.mes is None or caller.mes.actor not in ("patient", "representant_legal"):
        raise Refused("only the patient or a legal representative manages the DMP's controls")
    _mes_matches(caller, facts)
    _require_scope(caller, "dmp.manage")


def document_authors(doc: Mapping[str, Any]) -> set[str]:
    """idNatPS of the authors and of the professional who published it."""
    found = {a["idnat"] for a in doc.get("authors") or () if a.get("idnat")}
    if doc.get("submitter"):
        found.add(str(doc["submitter"]))
    return found


def visible(doc: Mapping[str, Any], viewer: Viewer) -> bool:
    """The per-document rules (a Document row or a dict of its columns)."""
    if doc.get("deleted"):
        return False
    if viewer.kind == "professional":
        if doc.get("masked_ps") and not viewer.medecin_traitant:
            return viewer.idnat in document_authors(doc)
        return True
    if doc.get("invisible_patient"):
        return False
    return not (viewer.kind == "representant_legal" and doc.get("invisible_rl"))


def is_author(caller: Caller, doc: Mapping[str, Any], facts: DossierFacts) -> bool:
    """The author or the author's structure (PDSm4DMP TD3.3c NB2, MSS-HL7 error 901)."""
    pro = caller.professional
    if pro is not None:
        if pro.idnat in document_authors(doc):
            return True
        return bool(pro.organisation_id) and pro.organisation_id == doc.get("author_org")
    mes = caller.mes
    return mes is not None and doc.get("submitter") == f"patient:{facts.ins}"

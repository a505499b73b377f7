"""Loading what the access rules need, and the holder's controls (contract 3).

Service functions flush, never commit: the request owns the transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, select
from sqlalchemy.orm import Session

from services.dmp.access.policy import DossierFacts
from services.dmp.models import Document, Dossier, ProfessionalControl
from shared import identifiers
from shared.db.base import utcnow
from shared.errors import BadRequestError, ConflictError, NotFoundError, UnprocessableError
from shared.personas import Personas

#: Loads the care team's (idNatPS, structures), only when a rule needs it.
CareTeam = Callable[[], tuple[frozenset[str], frozenset[str]]]

# Built once (the statement is on every request's path).
_CONTROLS = select(ProfessionalControl.idnat, ProfessionalControl.kind, ProfessionalControl.until).where(
    ProfessionalControl.dossier_id == bindparam("dossier")
)
_DOSSIERS = cast(Table, Dossier.__table__)
_HOLDER_CONTROLS = cast(Table, ProfessionalControl.__table__)
#: A DMP and what the rules need of it in one statement, one row per control of its holder
#: (or one row with NULL controls): :func:`facts_of` for the paths without the ORM, which
#: add the ``WHERE``.
DOSSIER_AND_CONTROLS = (
    select(
        _DOSSIERS.c.id,
        _DOSSIERS.c.ins_oid,
        _DOSSIERS.c.ins,
        _DOSSIERS.c.status,
        _DOSSIERS.c.medecin_traitant,
        _DOSSIERS.c.break_glass_objection,
        _HOLDER_CONTROLS.c.idnat,
        _HOLDER_CONTROLS.c.kind,
        _HOLDER_CONTROLS.c.until,
    )
    .select_from(_DOSSIERS)
    .outerjoin(_HOLDER_CONTROLS, _HOLDER_CONTROLS.c.dossier_id == _DOSSIERS.c.id)
)
#: Who published in a DMP and from which structure (the care team's model, policy rule 5).
CARE_TEAM = select(Document.submitter, Document.author_org, Document.authors).where(
    Document.dossier_id == bindparam("dossier"), Document.latest.is_(True), Document.deleted.is_(False)
)


def dossier_facts(
    dossier: Any,
    controls: Iterable[tuple[Any, Any, Any]],
    care_team: CareTeam,
) -> DossierFacts:
    """What the rules need of a DMP, from its row (ORM or Core, the same columns) and its
    holder's controls as ``(idnat, kind, until)`` rows (``kind`` ``None``: no control)."""
    rows = list(controls)
    return DossierFacts(
        id=dossier.id,
        ins=dossier.ins,
        ins_oid=dossier.ins_oid,
        open=dossier.status == "open",
        medecin_traitant=dossier.medecin_traitant,
        break_glass_objection=dossier.break_glass_objection,
        blocked=frozenset(idnat for idnat, kind, _ in rows if kind == "blocked"),
        authorized={idnat: until for idnat, kind, until in rows if kind == "authorized"},
        care_team=care_team,
    )


def facts_from_rows(rows: list[Any], care_team: CareTeam) -> DossierFacts:
    """:func:`dossier_facts` from the rows of :data:`DOSSIER_AND_CONTROLS` (at least one)."""
    return dossier_facts(rows[0], [(r.idnat, r.kind, r.until) for r in rows], care_team)


def care_team_of(rows: Iterable[tuple[str, str | None, Any]]) -> tuple[frozenset[str], frozenset[str]]:
    """(idNatPS, structures) of the care team from the rows of :data:`CARE_TEAM`."""
    members: set[str] = set()
    organisations: set[str] = set()
    for submitter, organisation, authors in rows:
        if not submitter.startswith("patient:"):
            members.add(submitter)
        if organisation:
            organisations.add(organisation)
        members.update(a["idnat"] for a in authors or () if a.get("idnat"))
    return frozenset(members), frozenset(organisations)


def facts_of(session: Session, dossier: Dossier) -> DossierFacts:
    rows = session.connection().execute(_CONTROLS, {"dossier": dossier.id}).all()

    def care_team() -> tuple[frozenset[str], frozenset[str]]:
        return care_team_of(session.execute(CARE_TEAM, {"dossier": dossier.id}))

    return dossier_facts(dossier, rows, care_team)


# -- the holder's controls (contract 3) ---------------------------------------------------


def check_idnat(idnat: str) -> str:
    """An idNatPS: a TRE_G08 prefix and an identifier long enough to be one (``8`` + an
    RPPS with its Luhn key, ``0``/``1`` + ADELI (9 digits), ``3``–``6`` + 9 digits or more)."""
    try:
        parsed = identifiers.parse_idnatps(idnat)
    except identifiers.IdentifierError as exc:
        raise BadRequestError(str(exc)) from exc
    if len(parsed.identifier) < 9:
        raise BadRequestError(
            f"'{idnat}' is too short for an idNatPS ({parsed.kind} identifiers have 9 digits or more)"
        )
    return parsed.value


def controls_of(session: Session, dossier: Dossier, today: dt.date) -> dict[str, Any]:
    """``GET /api/patient/controls``: blocked, authorisations in force, MT, objection."""
    rows = session.scalars(
        select(ProfessionalControl)
        .where(ProfessionalControl.dossier_id == dossier.id)
        .order_by(ProfessionalControl.idnat)
    ).all()
    return {
        "ins": dossier.ins,
        "blocked": [r.idnat for r in rows if r.kind == "blocked"],
        "authorizations": [
            {"idnat": r.idnat, "until": r.until.isoformat() if r.until else None}
            for r in rows
            if r.kind == "authorized" and (r.until is None or r.until >= today)
        ],
        "medecin_traitant": dossier.medecin_traitant,
        "break_glass_objection": dossier.break_glass_objection,
    }


def _control(session: Session, dossier: Dossier, idnat: str, kind: str) -> ProfessionalControl | None:
    return session.get(ProfessionalControl, (dossier.id, idnat, kind))


def block(session: Session, dossier: Dossier, idnat: str, granted_by: str) -> None:
    idnat = check_idnat(idnat)
    if idnat == dossier.medecin_traitant:
        raise ConflictError(
            "this professional is the médecin traitant: designate another one before blocking them"
        )
    if _control(session, dossier, idnat, "blocked") is None:
        session.add(
            ProfessionalControl(
                dossier_id=dossier.id,
                idnat=idnat,
                kind="blocked",
                until=None,
                granted_by=granted_by,
                created_at=utcnow(),
            )
        )
        session.flush()


def unblock(session: Session, dossier: Dossier, idnat: str) -> None:
    idnat = check_idnat(idnat)
    session.execute(
        delete(ProfessionalControl).where(
            ProfessionalControl.dossier_id == dossier.id,
            ProfessionalControl.idnat == idnat,
            ProfessionalControl.kind == "blocked",
        )
    )


def authorize(
    session: Session, dossier: Dossier, idnat: str, until: dt.date | None, granted_by: str, today: dt.date
) -> None:
    idnat = check_idnat(idnat)
    if until is not None and until < today:
        raise UnprocessableError(f"'until' ({until.isoformat()}) is in the past")
    if _control(session, dossier, idnat, "blocked") is not None:
        raise ConflictError("this professional is blocked: unblock them before authorising them")
    existing = _control(session, dossier, idnat, "authorized")
    if existing is None:
        session.add(
            ProfessionalControl(
                dossier_id=dossier.id,
                idnat=idnat,
                kind="authorized",
                until=until,
                granted_by=granted_by,
                created_at=utcnow(),
            )
        )
    else:
        existing.until = until
        existing.granted_by = granted_by
    session.flush()


def revoke(session: Session, dossier: Dossier, idnat: str) -> None:
    idnat = check_idnat(idnat)
    session.execute(
        delete(ProfessionalControl).where(
            ProfessionalControl.dossier_id == dossier.id,
            ProfessionalControl.idnat == idnat,
            ProfessionalControl.kind == "authorized",
        )
    )


def set_medecin_traitant(session: Session, dossier: Dossier, idnat: str | None, personas: Personas) -> None:
    if idnat is not None:
        idnat = check_idnat(idnat)
        known = personas.professional_by_idnat(idnat)
        if known is not None and known.profession != "10":
            raise UnprocessableError(
                f"{known.display_name} is {known.profession_label.lower()}: the médecin traitant is a doctor"
            )
        if _control(session, dossier, idnat, "blocked") is not None:
            raise ConflictError("this professional is blocked: unblock them before designating them")
    dossier.medecin_traitant = idnat
    session.flush()


def set_objection(session: Session, dossier: Dossier, objection: bool) -> None:
    dossier.break_glass_objection = objection
    session.flush()


def require_dossier(dossier: Dossier | None) -> Dossier:
    if dossier is None:
        raise NotFoundError("this patient has no DMP")
    return dossier

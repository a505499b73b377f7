"""Who is calling: the token contract between the authorization servers and the APIs.

README, "Tokens", documents these claims; both authorization servers issue them and every
resource server reads them through :func:`principal_from_claims`.

Pro Santé Connect access tokens (professionals, and software through client_credentials):
    ``sub`` (``f:<uuid>:<idNatPS>``, or ``service-account-<client_id>``), ``azp``,
    ``scope``, ``acr``, ``amr``, and the PSC claims a resource server needs to apply its
    rules without another call: ``preferred_username`` / ``SubjectNameID`` (idNatPS),
    ``SubjectRole`` (``["10^1.2.250.1.213.1.1.5.5"]``), ``SubjectOrganizationID``,
    ``SubjectOrganization``, ``Secteur_Activite``, ``Acces_Regulation_Medicale``
    (``VRAI``/``FAUX``), ``given_name``, ``family_name``.

Mon espace santé access tokens (patients, caregivers, parents, referenced apps):
    ``sub`` (the patient's Mon espace santé account: whose data), ``azp``, ``scope``
    (``<category>.<read|write>``:
    ``documents.read``, ``mesures.write``, ``messages.read``...; plus ``dmp.manage`` for the
    patient's own controls over the DMP), ``mes_actor`` (``patient``, ``aidant``,
    ``representant_legal``, ``app``), ``patient_ins`` and ``patient_ins_oid`` (whose data
    the token reaches), ``idpe`` (app tokens: the app-specific patient id) and ``act``
    (RFC 8693 §4.1: ``{"sub": ...}``, the account of the caregiver or parent who signed in
    and acts for the patient).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from shared.errors import InvalidTokenError

MesActor = Literal["patient", "aidant", "representant_legal", "app"]
MES_ACTORS: tuple[str, ...] = ("patient", "aidant", "representant_legal", "app")


def _scopes(claims: dict[str, Any]) -> frozenset[str]:
    scope = claims.get("scope", "")
    return frozenset(scope.split()) if isinstance(scope, str) else frozenset()


def _client(claims: dict[str, Any]) -> str:
    return str(claims.get("azp") or claims.get("client_id") or "")


@dataclass(frozen=True)
class Professional:
    """A health professional authenticated by Pro Santé Connect."""

    idnat: str
    sub: str
    client_id: str
    profession: str | None
    organisation_id: str | None
    organisation: str | None
    sector: str | None
    regulation: bool
    given_name: str
    family_name: str
    scopes: frozenset[str]
    claims: dict[str, Any] = field(repr=False, compare=False)

    kind: Literal["professional"] = "professional"


@dataclass(frozen=True)
class Software:
    """A software account (PSC client_credentials): no person behind the call."""

    client_id: str
    scopes: frozenset[str]
    claims: dict[str, Any] = field(repr=False, compare=False)

    kind: Literal["software"] = "software"


@dataclass(frozen=True)
class MesUser:
    """A Mon espace santé token: the patient, a caregiver, a parent, or a paired app."""

    actor: MesActor
    account: str
    patient_ins: str
    patient_ins_oid: str
    client_id: str
    scopes: frozenset[str]
    idpe: str | None
    acting_account: str | None
    claims: dict[str, Any] = field(repr=False, compare=False)

    kind: Literal["mes"] = "mes"

    def can(self, category: str, access: Literal["read", "write"]) -> bool:
        return f"{category}.{access}" in self.scopes


Principal = Professional | Software | MesUser


def _code(value: Any) -> str | None:
    """``"10^1.2.250.1.213.1.1.5.5"`` → ``"10"`` (PSC's ``code^OID`` values)."""
    if isinstance(value, list):
        value = value[0] if value else None
    if not isinstance(value, str) or not value:
        return None
    return value.split("^", 1)[0]


def professional_from_claims(claims: dict[str, Any]) -> Professional | Software:
    idnat = claims.get("SubjectNameID") or claims.get("preferred_username")
    sub = str(claims.get("sub", ""))
    if not idnat or sub.startswith("service-account-"):
        return Software(client_id=_client(claims), scopes=_scopes(claims), claims=claims)
    return Professional(
        idnat=str(idnat),
        sub=sub,
        client_id=_client(claims),
        profession=_code(claims.get("SubjectRole")),
        organisation_id=claims.get("SubjectOrganizationID") or None,
        organisation=claims.get("SubjectOrganization") or None,
        sector=_code(claims.get("Secteur_Activite")),
        regulation=claims.get("Acces_Regulation_Medicale") == "VRAI",
        given_name=str(claims.get("given_name", "")),
        family_name=str(claims.get("family_name", "")),
        scopes=_scopes(claims),
        claims=claims,
    )


def mes_user_from_claims(claims: dict[str, Any]) -> MesUser:
    actor = claims.get("mes_actor")
    ins = claims.get("patient_ins")
    if actor not in MES_ACTORS or not isinstance(ins, str):
        raise InvalidTokenError("the Mon espace santé token lacks mes_actor or patient_ins")
    act = claims.get("act")
    return MesUser(
        actor=actor,
        account=str(claims.get("sub", "")),
        patient_ins=ins,
        patient_ins_oid=str(claims.get("patient_ins_oid", "")),
        client_id=_client(claims),
        scopes=_scopes(claims),
        idpe=claims.get("idpe"),
        acting_account=str(act["sub"]) if isinstance(act, dict) and "sub" in act else None,
        claims=claims,
    )


def principal_from_claims(claims: dict[str, Any], issuer_kind: Literal["psc", "mes"]) -> Principal:
    if issuer_kind == "psc":
        return professional_from_claims(claims)
    return mes_user_from_claims(claims)

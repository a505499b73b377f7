"""Pydantic shapes of the DMP's non-FHIR bodies (FHIR travels as dicts, shared.fhir)."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AuthorizationBody(_Body):
    """``PUT /api/patient/controls/authorizations/{idnat}``."""

    until: dt.date = Field(..., description="last day of the authorisation (YYYY-MM-DD), inclusive")


class MedecinTraitantBody(_Body):
    """``PUT /api/patient/controls/medecin-traitant``."""

    idnat: str | None = Field(..., description="idNatPS of the médecin traitant; null to remove")


class ObjectionBody(_Body):
    """``PUT /api/patient/controls/break-glass-objection``."""

    objection: bool


class Authorization(BaseModel):
    idnat: str
    until: str | None


class Controls(BaseModel):
    """What ``GET /api/patient/controls`` answers (contract 3)."""

    ins: str
    blocked: list[str]
    authorizations: list[Authorization]
    medecin_traitant: str | None
    break_glass_objection: bool

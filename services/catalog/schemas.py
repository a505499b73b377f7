"""Pydantic shapes of Mon espace santé's JSON bodies (FHIR travels as dicts)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class SandboxTokenRequest(BaseModel):
    """``POST /_sandbox/tokens``: a sandbox shortcut to a patient-side token (contract 2)."""

    patient: str = Field(..., description="persona id or INS of the patient whose space it is")
    actor: Literal["patient", "aidant", "representant_legal", "app"] = "patient"
    person: str | None = Field(
        None,
        description="the caregiver or parent acting (persona id or INS); for actor app, the parent "
        "who consents for a child",
    )
    app: str | None = Field(None, description="actor app: the app's id or client id in the catalogue")
    scope: str | None = Field(
        None,
        description="default: everything the actor may do; for actor app, the consent recorded is "
        "exactly these scopes (default: all the data the app is referenced for)",
    )


class SandboxConsentRevocation(BaseModel):
    """``POST /_sandbox/consents/revoke``: the shortcut of the revocation in the patient's space."""

    model_config = ConfigDict(extra="forbid")

    patient: str = Field(..., description="persona id or INS")
    app: str = Field(..., description="the app's id or client id")


class DataGrantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category: Literal["mesures", "documents", "agenda", "messages", "profil"]
    access: list[Literal["read", "write"]] = Field(..., min_length=1)


class AppReferencing(BaseModel):
    """``POST /api/catalogue/apps``: a new referencing (one year from today)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(..., pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    name: str = Field(..., min_length=1, max_length=200)
    editor: str = Field(..., min_length=1, max_length=200)
    editor_oid: str = Field(..., pattern=r"^[0-2](\.\d+)+$")
    description: str = Field(..., min_length=1)
    track: Literal["listed", "exchange"]
    data: list[DataGrantIn] = []
    client_id: str = Field(..., pattern=r"^[A-Za-z0-9._-]{3,128}$")
    public_client: bool = Field(False, description="true: no secret, PKCE only")
    redirect_uris: list[str] = Field(..., min_length=1)
    website: str = ""


class AppUpdate(BaseModel):
    """``PATCH /api/catalogue/apps/{id}``: what an editor's referencing file may change."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, min_length=1)
    editor_oid: str | None = Field(None, pattern=r"^[0-2](\.\d+)+$")
    redirect_uris: list[str] | None = Field(None, min_length=1)
    website: str | None = None


class AppWithdrawal(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(..., min_length=1, description="why the app leaves the catalogue")

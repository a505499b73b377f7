"""The shape of the personas file (``shared/personas/personas.yaml``).

Every service reads the same file (or ``MES_PERSONAS_FILE``): patients with their INS
and their Mon espace santé account, professionals with their RPPS, card and e-CPS,
organisations with FINESS/SIRET, the Pro Santé Connect clients, the catalogue's apps,
and the credentials the services use with each other. Identifiers are validated when the
file is read, so a persona file with a wrong key never starts a service.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared import identifiers

PROFESSION_LABELS = {
    "10": "Médecin",
    "21": "Pharmacien",
    "40": "Chirurgien-dentiste",
    "50": "Sage-femme",
    "60": "Infirmier",
    "70": "Masseur-kinésithérapeute",
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Address(_Model):
    """The PSC / RASS address parts (``numeroVoie``, ``codeTypeDeVoie``...)."""

    number: str = ""
    repetition: str = ""
    street_type: str = ""
    street: str = ""
    recipient_complement: str = ""
    geographic_complement: str = ""
    distribution_mention: str = ""
    cedex_office: str = ""
    postal_code: str = ""
    commune_code: str = ""
    country_code: str = ""
    department_code: str = ""


class Mailbox(_Model):
    """An MSSanté mailbox (BAL) and its TRE_R257 type."""

    address: str
    type: Literal["PER", "ORG", "APP", "CAB"]
    description: str = ""
    #: APP mailboxes: the software (Pro Santé Connect client_credentials client) that uses it.
    client_id: str | None = None


class Organisation(_Model):
    id: str
    name: str
    sign: str = ""
    sector: str = Field("", description="TRE_R02 SecteurActivite code, e.g. SA07")
    finess: str = ""
    finess_ej: str = ""
    siret: str = ""
    siren: str = ""
    technical_id: str = Field(..., description="PSC identifiantTechniqueDeLaStructure")
    former_id: str = ""
    address: Address = Address()
    phone: str = ""
    email: str = ""
    mailboxes: tuple[Mailbox, ...] = ()

    @field_validator("finess", "finess_ej")
    @classmethod
    def _finess(cls, value: str) -> str:
        return identifiers.validate_finess(value) if value else value

    @field_validator("siret")
    @classmethod
    def _siret(cls, value: str) -> str:
        return identifiers.validate_siret(value) if value else value

    @field_validator("siren")
    @classmethod
    def _siren(cls, value: str) -> str:
        return identifiers.validate_siren(value) if value else value


class Activity(_Model):
    """One ``SubjectRefPro.exercices[].activities[]`` entry."""

    organisation: str
    mode: Literal["L", "S", "B"] = Field(..., description="codeModeExercice: libéral, salarié, bénévole")
    sector: str
    pharmacist_section: str = ""
    role: str = ""
    activity_kind: str = ""
    registration_authority: str = ""


class Card(_Model):
    """The CPS card: its number and PIN (three wrong PINs block it)."""

    number: str
    pin: str = Field(..., pattern=r"^\d{4}$")


class ECps(_Model):
    """The e-CPS app: enrolled or not, and the TOTP secret (base32) its codes come from."""

    enrolled: bool = True
    totp_secret: str = Field(..., pattern=r"^[A-Z2-7]{16,64}$")


class Professional(_Model):
    id: str
    rpps: str
    civility: Literal["M", "MME"]
    practice_civility: str = Field("", description="codeCiviliteDexercice: DR, PR or empty")
    given_name: str
    family_name: str
    profession: str = Field(..., description="TRE_G15 profession code: 10, 21, 60...")
    category: str = "C"
    skill_type: str = ""
    skill: str = Field("", description="codeSavoirFaire, e.g. SM54 (médecine générale)")
    psc_uuid: str = Field(..., description="the uuid part of the PSC sub f:<uuid>:<idNatPS>")
    activities: tuple[Activity, ...]
    mailboxes: tuple[Mailbox, ...] = ()
    regulation: bool = Field(False, description="Acces_Regulation_Medicale: SAMU regulating doctor")
    card: Card
    ecps: ECps
    description: str = ""

    @field_validator("rpps")
    @classmethod
    def _rpps(cls, value: str) -> str:
        return identifiers.validate_rpps(value)

    @property
    def idnat(self) -> str:
        """idNatPS: ``8`` + RPPS."""
        return "8" + self.rpps

    @property
    def sub(self) -> str:
        """The Pro Santé Connect ``sub``: ``f:<uuid>:<idNatPS>``."""
        return f"f:{self.psc_uuid}:{self.idnat}"

    @property
    def profession_label(self) -> str:
        return PROFESSION_LABELS.get(self.profession, self.profession)

    @property
    def display_name(self) -> str:
        title = "Dr " if self.practice_civility == "DR" else ""
        return f"{title}{self.given_name} {self.family_name}"


class Caregiver(_Model):
    """A delegation of a patient's Mon espace santé to another person (aidant)."""

    person: str = Field(..., description="the caregiver: another patient persona's id")
    rights: tuple[str, ...] = Field(..., min_length=1)
    until: dt.date


class MesAccount(_Model):
    """The patient's Mon espace santé account."""

    activation_code: str = Field(..., pattern=r"^[A-Z0-9]{6,12}$")
    activated: bool = True
    password: str = Field(..., min_length=8)
    email: str
    phone: str


class Patient(_Model):
    id: str
    ins: str
    ins_oid: str = identifiers.OID_INS_NIR_TEST
    #: The ANS guides' illustrative INS (``123456789012345``) has no valid key; a persona
    #: carrying it lets the guides' example bundles be accepted as they are.
    ins_key_exempt: bool = False
    identity_status: Literal["PROV", "RECUP", "VALI", "QUAL"] = "QUAL"
    gender: Literal["male", "female", "unknown"]
    family_name: str
    birth_family_name: str = ""
    given_names: tuple[str, ...] = Field(..., min_length=1)
    birth_date: dt.date
    birth_place: str = Field(..., pattern=r"^(\d{5}|2A\d{3}|2B\d{3})$", description="INSEE code")
    dmp: Literal["open", "closed", "none"] = "open"
    medecin_traitant: str | None = None
    blocked_professionals: tuple[str, ...] = ()
    break_glass_objection: bool = False
    legal_representatives: tuple[str, ...] = ()
    caregivers: tuple[Caregiver, ...] = ()
    mes: MesAccount
    description: str = ""

    @field_validator("ins_oid")
    @classmethod
    def _oid(cls, value: str) -> str:
        return identifiers.validate_ins_oid(value)

    @model_validator(mode="after")
    def _ins(self) -> Patient:
        if not self.ins_key_exempt:
            identifiers.validate_ins(self.ins)
        elif len(self.ins) != 15 or not self.ins.isdigit():
            raise ValueError(f"INS '{self.ins}' must still have 15 digits")
        return self

    @property
    def given_name(self) -> str:
        return self.given_names[0]

    @property
    def display_name(self) -> str:
        return f"{self.given_name.title()} {self.family_name}"

    @property
    def mailbox(self) -> str:
        """The citizen MSSanté address ``<INS>@patient.mssante.fr``."""
        return f"{self.ins}@patient.mssante.fr"

    @property
    def ins_system(self) -> str:
        return f"urn:oid:{self.ins_oid}"


class PscClient(_Model):
    """A software registered with Pro Santé Connect."""

    client_id: str
    name: str
    secret: str | None = Field(None, description="None for a public client (PKCE required)")
    redirect_uris: tuple[str, ...] = ()
    post_logout_redirect_uris: tuple[str, ...] = ()
    grant_types: tuple[str, ...] = ("authorization_code", "refresh_token")
    token_endpoint_auth_method: Literal[
        "client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt", "none"
    ] = "client_secret_basic"
    userinfo_format: Literal["json", "jwt"] = "json"
    description: str = ""

    @model_validator(mode="after")
    def _public(self) -> PscClient:
        if (self.secret is None) != (self.token_endpoint_auth_method in ("none", "private_key_jwt")):
            raise ValueError(
                f"client {self.client_id}: a secret goes with client_secret_* methods, and only with them"
            )
        return self


class DataGrant(_Model):
    """A data category an app may exchange, and in which directions."""

    category: Literal["mesures", "documents", "agenda", "messages", "profil"]
    access: tuple[Literal["read", "write"], ...] = Field(..., min_length=1)


class CatalogApp(_Model):
    """A service of the Mon espace santé catalogue."""

    id: str
    name: str
    editor: str
    editor_oid: str = Field(..., pattern=r"^[0-2](\.\d+)+$")
    description: str
    track: Literal["listed", "exchange"]
    status: Literal["referenced", "withdrawn"] = "referenced"
    referenced_on: dt.date
    expires_on: dt.date
    data: tuple[DataGrant, ...] = ()
    client_id: str
    client_secret: str | None = None
    redirect_uris: tuple[str, ...] = ()
    website: str = ""

    @model_validator(mode="after")
    def _exchange(self) -> CatalogApp:
        if self.track == "listed" and self.data:
            raise ValueError(f"app {self.id}: an app listed without data exchange cannot declare data")
        if self.expires_on <= self.referenced_on:
            raise ValueError(f"app {self.id}: expires_on must come after referenced_on")
        return self


class ServiceClient(_Model):
    """The credentials one sandbox service uses with the authorization servers."""

    client_id: str
    client_secret: str


class PersonaFile(_Model):
    patients: tuple[Patient, ...]
    professionals: tuple[Professional, ...]
    organisations: tuple[Organisation, ...]
    psc_clients: tuple[PscClient, ...]
    apps: tuple[CatalogApp, ...]
    services: dict[str, ServiceClient]

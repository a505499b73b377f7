"""Mon espace santé's settings (README, "Environment")."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from shared.settings import DEFAULT_PORTS, ServiceSettings


class CatalogSettings(ServiceSettings):
    service: ClassVar[str] = "catalog"

    port: int = Field(DEFAULT_PORTS["catalog"], validation_alias="MES_CATALOG_PORT")
    database_url: str | None = Field(None, validation_alias="MES_CATALOG_DATABASE_URL")
    signing_alg: Literal["RS256", "ES256"] = Field("ES256", validation_alias="MES_CATALOG_SIGNING_ALG")
    access_token_lifetime: int = Field(600, gt=0, validation_alias="MES_CATALOG_ACCESS_TOKEN_LIFETIME")
    refresh_token_lifetime: int = Field(86_400, gt=0, validation_alias="MES_CATALOG_REFRESH_TOKEN_LIFETIME")
    #: Authorization codes are short-lived and single use (RFC 6749 §4.1.2: "10 minutes maximum").
    code_lifetime: int = Field(60, gt=0, validation_alias="MES_CATALOG_CODE_LIFETIME")
    #: How long a pending authorization request waits for the sign-in and the consent.
    authorization_request_lifetime: int = Field(
        900, gt=0, validation_alias="MES_CATALOG_AUTHORIZATION_REQUEST_LIFETIME"
    )
    #: A signed-in browser session of the patient's space.
    session_lifetime: int = Field(1800, gt=0, validation_alias="MES_CATALOG_SESSION_LIFETIME")
    #: The one-time sign-in code (SMS / e-mail): lifetime and wrong attempts allowed.
    otp_lifetime: int = Field(300, gt=0, validation_alias="MES_CATALOG_OTP_LIFETIME")
    otp_attempts: int = Field(3, gt=0, validation_alias="MES_CATALOG_OTP_ATTEMPTS")
    #: Resource servers that accept Mon espace santé tokens (``aud``).
    audiences: list[str] = Field(["dmp", "mss", "catalog"], validation_alias="MES_CATALOG_AUDIENCES")
    #: This service's own audience (the mesures and Consent APIs).
    audience: str = Field("catalog", validation_alias="MES_CATALOG_AUDIENCE")

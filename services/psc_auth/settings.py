"""Pro Santé Connect's settings (README, "Environment")."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator

from shared.settings import DEFAULT_PORTS, ServiceSettings


class PscSettings(ServiceSettings):
    service: ClassVar[str] = "psc_auth"

    port: int = Field(DEFAULT_PORTS["psc_auth"], validation_alias="MES_PSC_PORT")
    database_url: str | None = Field(None, validation_alias="MES_PSC_DATABASE_URL")
    #: RS256 is Keycloak's default; ES256 signs 2.5 times faster.
    signing_alg: Literal["RS256", "ES256"] = Field("RS256", validation_alias="MES_PSC_SIGNING_ALG")
    access_token_lifetime: int = Field(300, gt=0, validation_alias="MES_PSC_ACCESS_TOKEN_LIFETIME")
    refresh_token_lifetime: int = Field(1800, gt=0, validation_alias="MES_PSC_REFRESH_TOKEN_LIFETIME")
    #: Keycloak's "SSO Session Max": a login is good for this long, refreshes included.
    session_lifetime: int = Field(36_000, gt=0, validation_alias="MES_PSC_SESSION_LIFETIME")
    #: Keycloak's "Client login timeout": an authorization code lives one minute.
    code_lifetime: int = Field(60, gt=0, validation_alias="MES_PSC_CODE_LIFETIME")
    #: How long the login pages wait for a login (identifier, then second factor).
    login_lifetime: int = Field(600, gt=0, validation_alias="MES_PSC_LOGIN_LIFETIME")
    #: How long an e-CPS push waits for Accept / Refuse.
    push_lifetime: int = Field(120, gt=0, validation_alias="MES_PSC_PUSH_LIFETIME")
    #: CIBA: how long an auth_req_id lives, and the polling interval it asks for.
    ciba_lifetime: int = Field(300, gt=0, validation_alias="MES_PSC_CIBA_LIFETIME")
    ciba_interval: int = Field(2, ge=0, validation_alias="MES_PSC_CIBA_INTERVAL")
    #: Resource servers that accept PSC access tokens: their ids go into ``aud``.
    audiences: list[str] = Field(["dmp", "mss"], validation_alias="MES_PSC_AUDIENCES")
    #: Services told at once when tokens may have stopped being active (revocation events,
    #: README): they may then keep PSC's introspection answers.
    event_receivers: list[str] = Field(["dmp", "mss"], validation_alias="MES_PSC_EVENT_RECEIVERS")
    #: The public base of the authorization endpoint, standing for the real ``wallet.*``
    #: host; default ``{MES_PSC_URL}/wallet``.
    psc_wallet_url: str | None = Field(None, validation_alias="MES_PSC_WALLET_URL")

    @field_validator("event_receivers")
    @classmethod
    def _known_services(cls, names: list[str]) -> list[str]:
        unknown = [n for n in names if n not in DEFAULT_PORTS or n == "psc_auth"]
        if unknown:
            raise ValueError(f"not a service that accepts PSC tokens: {', '.join(unknown)}")
        return names

    @property
    def wallet_url(self) -> str:
        return (self.psc_wallet_url or f"{self.public_url}/wallet").rstrip("/")

"""Pydantic shapes of Pro Santé Connect's JSON bodies (the ``/_sandbox/`` controls)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from shared.personas import PscClient


class SandboxTokenRequest(BaseModel):
    """``POST /_sandbox/tokens``: a sandbox shortcut the real PSC does not have."""

    professional: str | None = Field(
        None, description="persona id, idNatPS or RPPS; omit for a client_credentials token"
    )
    client_id: str = Field("dpi-valmont", description="the PSC client the tokens are issued to")
    scope: str = "openid scope_all"
    nonce: str | None = None
    auth_mode: Literal["CARD", "MOBILE"] = "CARD"


class ClientRegistration(PscClient):
    """A client registered at runtime: the personas' ``psc_clients`` shape, plus the public
    keys of a ``private_key_jwt`` client."""

    jwks: dict[str, Any] | None = Field(None, description="JWKS of a private_key_jwt client")

    @model_validator(mode="after")
    def _keys(self) -> ClientRegistration:
        if self.token_endpoint_auth_method == "private_key_jwt" and not (self.jwks or {}).get("keys"):
            raise ValueError("a private_key_jwt client needs a jwks with its public keys")
        return self


class ClockChange(BaseModel):
    advance: float = Field(..., description="seconds to move Pro Santé Connect's clock by (negative: back)")


class KeyRotation(BaseModel):
    alg: Literal["RS256", "ES256"] | None = Field(
        None, description="algorithm of the new key (default: current)"
    )

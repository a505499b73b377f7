"""The DMP's settings (README, "Environment" and "DMP")."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from shared.settings import DEFAULT_PORTS, ServiceSettings


class DmpSettings(ServiceSettings):
    service: ClassVar[str] = "dmp"

    port: int = Field(DEFAULT_PORTS["dmp"], validation_alias="MES_DMP_PORT")
    database_url: str | None = Field(None, validation_alias="MES_DMP_DATABASE_URL")
    #: The ``aud`` that Pro Santé Connect and Mon espace santé tokens must carry here.
    audience: str = Field("dmp", validation_alias="MES_DMP_AUDIENCE")
    #: How a document is deleted (fr-ecosystem.md §7.1, the guides disagree):
    #: ``entered-in-error`` (PDSm4DMP TD3.3c) or ``superseded`` (PDSm4DMP index, PDSm
    #: ``st_maj``: ``status`` → ``superseded`` with the ``pdsm-ext-is-deleted`` extension).
    deletion_mode: Literal["entered-in-error", "superseded"] = Field(
        "entered-in-error", validation_alias="MES_DMP_DELETION_MODE"
    )
    #: Check every token by introspection at its issuer (RFC 7662); ``false`` trusts the
    #: signature alone (faster load tests; a revoked token stays usable until it expires).
    introspect: bool = Field(True, validation_alias="MES_DMP_INTROSPECT")
    #: Default and largest page of a search (``_count``).
    page_size: int = Field(20, ge=1, validation_alias="MES_DMP_PAGE_SIZE")
    max_page_size: int = Field(200, ge=1, validation_alias="MES_DMP_MAX_PAGE_SIZE")
    #: Largest ITI-65 / ITI-105 body accepted, in bytes (413 above).
    max_body_bytes: int = Field(20_000_000, ge=1024, validation_alias="MES_DMP_MAX_BODY_BYTES")
    #: Send the break-the-glass notices through MSSanté (else they stay in the outbox).
    notify: bool = Field(True, validation_alias="MES_DMP_NOTIFY")

"""MSSanté's settings (README, "Environment" and "MSSanté")."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from shared.settings import DEFAULT_PORTS, ServiceSettings


class MssSettings(ServiceSettings):
    service: ClassVar[str] = "mss"

    port: int = Field(DEFAULT_PORTS["mss"], validation_alias="MES_MSS_PORT")
    database_url: str | None = Field(None, validation_alias="MES_MSS_DATABASE_URL")
    audience: str = Field("mss", validation_alias="MES_MSS_AUDIENCE")
    #: SMTP submission listener (0 = do not listen).
    smtp_port: int = Field(2525, ge=0, validation_alias="MES_MSS_SMTP_PORT")
    #: IMAP listener (0 = do not listen).
    imap_port: int = Field(1143, ge=0, validation_alias="MES_MSS_IMAP_PORT")
    #: ``required``: SMTP clients authenticate before MAIL FROM (the default, as at a real
    #: operator); ``optional``: unauthenticated sessions may send from any mailbox of the
    #: sandbox (load tools such as postfix's smtp-source cannot authenticate).
    smtp_auth: Literal["required", "optional"] = Field("required", validation_alias="MES_MSS_SMTP_AUTH")
    #: The largest message accepted over HTTP and SMTP (SMTP ``SIZE``, RFC 1870).
    max_message_bytes: int = Field(10 * 1024 * 1024, ge=1024, validation_alias="MES_MSS_MAX_MESSAGE_BYTES")
    #: The ``ESANTE-API-KEY`` the directory (Annuaire Santé shape) asks for (fictitious).
    directory_api_key: str = Field("mes-sandbox-annuaire", validation_alias="MES_MSS_DIRECTORY_API_KEY")

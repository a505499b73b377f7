"""The environment contract shared by every service (README, "Environment").

Each service subclasses :class:`ServiceSettings` and names its own port and database
variables (``MES_<NAME>_PORT``, ``MES_<NAME>_DATABASE_URL``); everything else is common.
Settings are plain objects: ``create_app(settings)`` receives one, so that several services
with different settings live in one test process (no module-level settings anywhere).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Default ports of ``mes-sandbox up`` (README, "Ports").
DEFAULT_PORTS: dict[str, int] = {
    "console": 8400,
    "psc_auth": 8401,
    "dmp": 8402,
    "mss": 8403,
    "catalog": 8404,
}

#: The ``<NAME>`` of each service in the environment variables.
ENV_NAMES: dict[str, str] = {
    "console": "CONSOLE",
    "psc_auth": "PSC",
    "dmp": "DMP",
    "mss": "MSS",
    "catalog": "CATALOG",
}


def _default_url(service: str) -> str:
    return f"http://127.0.0.1:{DEFAULT_PORTS[service]}"


class ServiceSettings(BaseSettings):
    """What every service reads from the environment (prefix ``MES_``)."""

    model_config = SettingsConfigDict(
        env_prefix="MES_", extra="ignore", validate_by_name=True, validate_by_alias=True
    )

    #: The service's name in the CLI and in ``/health`` (set by each subclass).
    service: ClassVar[str] = ""

    host: str = "127.0.0.1"
    port: int = 0
    data_dir: Path = Path(".mes-sandbox")
    database_url: str | None = None
    admin_token: str | None = None
    personas_file: Path | None = None

    psc_url: str = _default_url("psc_auth")
    dmp_url: str = _default_url("dmp")
    mss_url: str = _default_url("mss")
    catalog_url: str = _default_url("catalog")
    console_url: str = _default_url("console")
    #: Where browsers and users' software reach each service, when that differs from where
    #: the services reach each other (compose: ``http://localhost:8402`` vs ``http://dmp:8402``).
    psc_public_url: str | None = None
    dmp_public_url: str | None = None
    mss_public_url: str | None = None
    catalog_public_url: str | None = None
    console_public_url: str | None = None
    #: Pro Santé Connect's issuer; default ``{PSC public URL}/auth/realms/esante-wallet``.
    psc_issuer: str | None = None
    #: Mon espace santé's issuer; default its public URL.
    catalog_issuer: str | None = None

    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"
    #: Request and response bodies kept in ``/_sandbox/exchanges`` are cut at this size.
    exchange_body_limit: int = Field(16_384, ge=0)
    #: How many exchanges each service keeps (the oldest are dropped first).
    exchange_capacity: int = Field(5_000, ge=10)
    #: Timeout of every call a service makes to a peer, in seconds.
    peer_timeout: float = Field(10.0, gt=0)
    #: How long a resource server keeps Pro Santé Connect's "active" introspection answers
    #: (at most until the token expires; PSC's revocation events drop them at once). 0:
    #: introspect every request.
    introspection_cache_seconds: float = Field(60.0, ge=0)

    @property
    def public_url(self) -> str:
        """This service's own base URL as users reach it (links, redirects, fullUrls)."""
        return self.peer_public_url(self.service)

    def peer_public_url(self, service: str) -> str:
        """``service``'s base URL as browsers and users' software reach it."""
        public = {
            "psc_auth": self.psc_public_url,
            "dmp": self.dmp_public_url,
            "mss": self.mss_public_url,
            "catalog": self.catalog_public_url,
            "console": self.console_public_url,
        }[service]
        return public.rstrip("/") if public else self.peer_url(service)

    def peer_url(self, service: str) -> str:
        urls = {
            "psc_auth": self.psc_url,
            "dmp": self.dmp_url,
            "mss": self.mss_url,
            "catalog": self.catalog_url,
            "console": self.console_url,
        }
        return urls[service].rstrip("/")

    @property
    def psc_issuer_url(self) -> str:
        default = f"{self.peer_public_url('psc_auth')}/auth/realms/esante-wallet"
        return (self.psc_issuer or default).rstrip("/")

    @property
    def catalog_issuer_url(self) -> str:
        return (self.catalog_issuer or self.peer_public_url("catalog")).rstrip("/")

    def resolved_database_url(self) -> str:
        """``MES_<NAME>_DATABASE_URL``, or a SQLite file under ``MES_DATA_DIR``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / f'{self.service}.db').as_posix()}"

"""The console's settings (README, "Environment" and "The flow console")."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field

from shared.settings import DEFAULT_PORTS, ServiceSettings


class ConsoleSettings(ServiceSettings):
    service: ClassVar[str] = "console"

    port: int = Field(DEFAULT_PORTS["console"], validation_alias="MES_CONSOLE_PORT")
    database_url: str | None = Field(None, validation_alias="MES_CONSOLE_DATABASE_URL")
    #: A directory of the user's own scenario files (``*.yaml``), beside the built-in ones.
    scenarios_dir: Path | None = Field(None, validation_alias="MES_CONSOLE_SCENARIOS_DIR")
    #: How many recent exchanges per service the journeys list reads.
    journey_window: int = Field(500, ge=10, le=10_000, validation_alias="MES_CONSOLE_JOURNEY_WINDOW")

"""The console's seed: no scenario has run yet."""

from __future__ import annotations

from sqlalchemy.orm import Session

from shared.personas import Personas


def seed(session: Session, personas: Personas) -> None:
    """Nothing to seed: runs are created by playing scenarios."""

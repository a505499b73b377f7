"""Alembic environment of the console (run on start by shared.db.migrate)."""

from services.console.models import Base
from shared.db.migrate import run_env

run_env(Base.metadata)

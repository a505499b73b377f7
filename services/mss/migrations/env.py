"""Alembic environment of MSSanté (run on start by shared.db.migrate)."""

from services.mss.models import Base
from shared.db.migrate import run_env

run_env(Base.metadata)

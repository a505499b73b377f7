"""Alembic environment of the DMP (run on start by shared.db.migrate)."""

from services.dmp.models import Base
from shared.db.migrate import run_env

run_env(Base.metadata)

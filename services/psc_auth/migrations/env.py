"""Alembic environment of Pro Santé Connect (run on start by shared.db.migrate)."""

from services.psc_auth.models import Base
from shared.db.migrate import run_env

run_env(Base.metadata)

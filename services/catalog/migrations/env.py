"""Alembic environment of Mon espace santé (run on start by shared.db.migrate)."""

from services.catalog.models import Base
from shared.db.migrate import run_env

run_env(Base.metadata)

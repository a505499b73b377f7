"""Every service's migrations: up, down, up again, and exactly the models (SQLite and PostgreSQL)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData, inspect

from services.launcher import SERVICES
from shared.db import migrate
from shared.db.engine import Database
from tests.platform.dbs import database_kinds, scratch_database

pytestmark = pytest.mark.db


def _metadata(service: str) -> MetaData:
    metadata: MetaData = importlib.import_module(f"services.{service}.models").Base.metadata
    return metadata


@pytest.mark.parametrize("kind", database_kinds())
@pytest.mark.parametrize("service", SERVICES)
def test_migrations_match_the_models_and_go_both_ways(tmp_path: Path, service: str, kind: str) -> None:
    location = f"services.{service}:migrations"
    head = migrate.head_revision(location)
    with scratch_database(tmp_path, kind) as url:
        db = Database(url)
        try:
            assert migrate.current_revision(db.engine) is None
            assert migrate.upgrade(db.engine, location) == head
            with db.engine.connect() as connection:
                differences = compare_metadata(MigrationContext.configure(connection), _metadata(service))
            assert differences == [], f"{service}: models and migrations differ: {differences}"
            migrate.downgrade(db.engine, location, "base")
            assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
            assert migrate.upgrade(db.engine, location) == head
            # At the head, a second upgrade is a no-op that does not need Alembic.
            assert migrate.upgrade(db.engine, location) == head
        finally:
            db.dispose()


@pytest.mark.parametrize("service", SERVICES)
def test_the_quick_head_is_alembics_head(service: str) -> None:
    location = f"services.{service}:migrations"
    assert migrate.quick_head(location) == migrate.head_revision(location)


@pytest.mark.parametrize("kind", database_kinds())
def test_psc_refresh_tokens_revoked_before_revoked_grants_stay_revoked(tmp_path: Path, kind: str) -> None:
    """6defd3b8899f drops ``refresh_tokens.revoked_at``: what it said moves to the grant."""
    from sqlalchemy import text

    location = "services.psc_auth:migrations"
    with scratch_database(tmp_path, kind) as url:
        db = Database(url)
        try:
            migrate.upgrade(db.engine, location, "0887bd36ecd5")
            row = "(:hash, :grant, 'dpi-valmont', 'sid', 'openid', :at, :at, NULL, :revoked)"
            with db.engine.begin() as connection:
                for hash_, grant, revoked in [
                    ("h1", "g-revoked", True),
                    ("h2", "g-revoked", False),
                    ("h3", "g-live", False),
                ]:
                    connection.execute(
                        text(f"INSERT INTO refresh_tokens VALUES {row}"),
                        {
                            "hash": hash_,
                            "grant": grant,
                            "at": "2026-12-03 09:00:00",
                            "revoked": "2026-12-03 09:01:00" if revoked else None,
                        },
                    )
            migrate.upgrade(db.engine, location)
            with db.engine.connect() as connection:
                grants = connection.execute(text("SELECT grant_id FROM revoked_grants")).scalars().all()
                kept = connection.execute(text("SELECT count(*) FROM refresh_tokens")).scalar_one()
            assert (grants, kept) == (["g-revoked"], 3)
        finally:
            db.dispose()

"""Alembic, driven from code: each service's ``migrations/`` runs on start.

Alembic's ``context`` and ``op`` are module-level proxies, so two migrations must never
run at once in one process (the test fixture starts four services in threads): a lock
serialises them. A warm start, with the database already at the head, does not import
Alembic at all (its import costs about a third of a second on a small machine).
"""

from __future__ import annotations

import ast
import importlib.util
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, MetaData, engine_from_config, pool, text
from sqlalchemy.exc import OperationalError, ProgrammingError

if TYPE_CHECKING:
    from alembic.config import Config

_LOCK = threading.Lock()


def alembic_config(script_location: str, url: str | None = None) -> Config:
    """``script_location`` is a package resource such as ``services.dmp:migrations``."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", script_location)
    if url:
        config.set_main_option("sqlalchemy.url", url)
    return config


def head_revision(script_location: str) -> str:
    """The head as Alembic computes it (imports Alembic: about 0.3 s)."""
    from alembic.script import ScriptDirectory

    heads = ScriptDirectory.from_config(alembic_config(script_location)).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"{script_location} has {len(heads)} heads; merge them")
    return str(heads[0])


def _versions_dir(script_location: str) -> Path:
    package, _, folder = script_location.partition(":")
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"cannot find package {package}")
    return Path(next(iter(spec.submodule_search_locations))) / folder / "versions"


#: CPython 3.11 (before 3.12) tracks ``ast.parse``'s recursion depth per interpreter, not
#: per thread: services starting in threads of one process (the test sandbox) parsing at
#: the same time fail with "AST constructor recursion depth mismatch" (CPython gh-106905).
_PARSE_LOCK = threading.Lock()


def _assignments(path: Path) -> dict[str, Any]:
    values: dict[str, Any] = {}
    source = path.read_text()
    with _PARSE_LOCK:
        tree = ast.parse(source)
    for node in tree.body:
        target: ast.expr
        if isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
            values[target.id] = ast.literal_eval(value)
    return values


def quick_head(script_location: str) -> str | None:
    """The head read from the revision files without importing Alembic, so that a warm
    start skips it; ``None`` when the files do not give exactly one head."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in _versions_dir(script_location).glob("*.py"):
        values = _assignments(path)
        if "revision" not in values:
            continue
        revisions.add(values["revision"])
        down = values.get("down_revision")
        parents.update([down] if isinstance(down, str) else list(down or ()))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def current_revision(engine: Engine) -> str | None:
    """The revision recorded in the database (``None`` before the first migration)."""
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    except (OperationalError, ProgrammingError):
        return None  # no version table yet
    return rows[0] if len(rows) == 1 else None


def upgrade(engine: Engine, script_location: str, revision: str = "head") -> str | None:
    """Bring the database to ``revision``; returns the revision it is at afterwards.

    When the database is already at the head, nothing of Alembic is imported.
    """
    if revision == "head":
        head = quick_head(script_location)
        if head is not None and current_revision(engine) == head:
            return head
    from alembic import command

    with _LOCK, engine.begin() as connection:
        config = alembic_config(script_location)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    return current_revision(engine)


def downgrade(engine: Engine, script_location: str, revision: str = "base") -> None:
    from alembic import command

    with _LOCK, engine.begin() as connection:
        config = alembic_config(script_location)
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def run_env(target_metadata: MetaData) -> None:
    """The body of every service's ``migrations/env.py``."""
    from alembic import context

    config = context.config
    options: dict[str, Any] = {
        "target_metadata": target_metadata,
        # SQLite cannot ALTER most things: batch mode copies the table instead.
        "render_as_batch": True,
        "compare_type": True,
    }
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, **options)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = engine_from_config(
        config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.", poolclass=pool.NullPool
    )
    with engine.connect() as connection:
        context.configure(connection=connection, **options)
        with context.begin_transaction():
            context.run_migrations()


def new_revision(script_location: str, message: str) -> None:
    """Autogenerate a revision against a scratch SQLite database at the current head.

    ``python -m shared.db.migrate services.dmp:migrations "what changed"`` (``make migration``).
    """
    import tempfile

    from alembic import command
    from sqlalchemy import create_engine

    with tempfile.TemporaryDirectory() as scratch:
        engine = create_engine(f"sqlite:///{scratch}/revision.db")
        upgrade(engine, script_location)
        with engine.begin() as connection:
            config = alembic_config(script_location)
            config.attributes["connection"] = connection
            command.revision(config, message=message, autogenerate=True)
        engine.dispose()


if __name__ == "__main__":
    import sys

    if len(sys.argv) != 3:
        sys.exit("usage: python -m shared.db.migrate <package:migrations> <message>")
    new_revision(sys.argv[1], sys.argv[2])

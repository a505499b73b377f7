"""The seeded state: computed from the personas, applied on first start, restored by reset.

The seed of a service is the snapshot its ``seed`` function produces on an empty,
in-memory SQLite database built from the service's metadata. It is stored in the
service's own ``sandbox_meta`` table with a digest of what it was computed from (the
personas file, the schema revision, the package version): it is recomputed only when one
of them changes, and ``POST /_sandbox/reset`` is one transaction that empties every table
and inserts the seed rows again (a few milliseconds).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import MetaData, Table, delete, select
from sqlalchemy.orm import Session

from shared import __version__
from shared.db.base import SANDBOX_META, utcnow
from shared.db.engine import Database
from shared.db.snapshot import Rows, decode_rows, export_rows, replace_rows
from shared.personas import Personas

log = logging.getLogger(__name__)

SeedFunction = Callable[[Session, Personas], None]


@dataclass(frozen=True)
class SeedStatus:
    seeded: bool
    seeded_at: str | None
    stale: bool


class SeedManager:
    def __init__(
        self,
        db: Database,
        metadata: MetaData,
        seed: SeedFunction,
        personas: Personas,
        schema: str | None,
    ) -> None:
        self.db = db
        self.metadata = metadata
        self.seed = seed
        self.personas = personas
        self.schema = schema
        self.digest = hashlib.sha256(f"{personas.digest}:{schema}:{__version__}".encode()).hexdigest()
        self._rows: Rows | None = None
        self._lock = threading.Lock()
        self._stale = False

    @property
    def _meta(self) -> Table:
        return self.metadata.tables[SANDBOX_META]

    def _read_meta(self, session: Session) -> dict[str, str]:
        result = session.execute(select(self._meta.c.key, self._meta.c.value))
        return {key: value for key, value in result}

    def _write_meta(self, session: Session, values: dict[str, str]) -> None:
        table = self._meta
        session.execute(delete(table).where(table.c.key.in_(list(values))))
        session.execute(table.insert(), [{"key": k, "value": v} for k, v in values.items()])

    def compute(self) -> Rows:
        """The seed rows, produced on a scratch in-memory database."""
        scratch = Database("sqlite://")
        try:
            self.metadata.create_all(scratch.engine)
            with scratch.session() as session:
                self.seed(session, self.personas)
                session.flush()
                return export_rows(session.connection(), self.metadata)
        finally:
            scratch.dispose()

    def ensure(self) -> SeedStatus:
        """On start: (re)compute the stored seed if its inputs changed; seed an empty DB."""
        with self.db.session(write=True) as session:
            meta = self._read_meta(session)
            if meta.get("seed_digest") != self.digest or "seed" not in meta:
                rows = self.compute()
                self._rows = decode_rows(self.metadata, rows)
                self._write_meta(session, {"seed": json.dumps(rows), "seed_digest": self.digest})
                if "seeded_at" in meta:
                    # Data exists already: keep it; the new seed applies at the next reset.
                    log.warning(
                        "personas or schema changed since the data was seeded; reset to apply the new seed"
                    )
                    self._stale = True
            if "seeded_at" not in meta:
                replace_rows(session.connection(), self.metadata, self._seed_rows(meta))
                meta["seeded_at"] = utcnow().isoformat()
                self._write_meta(session, {"seeded_at": meta["seeded_at"]})
        return SeedStatus(True, meta.get("seeded_at"), self._stale)

    def _seed_rows(self, meta: dict[str, str]) -> Rows:
        with self._lock:
            if self._rows is None:
                self._rows = decode_rows(self.metadata, json.loads(meta["seed"]))
            return self._rows

    def reset(self) -> None:
        """Back to the seed, in one transaction."""
        with self.db.session(write=True) as session:
            rows = self._rows
            if rows is None:
                rows = self._seed_rows(self._read_meta(session))
            replace_rows(session.connection(), self.metadata, rows)
            self._write_meta(session, {"seeded_at": utcnow().isoformat()})
        self._stale = False

    def load(self, rows: Rows) -> None:
        """Replace the whole state with already decoded ``rows`` (snapshot import)."""
        with self.db.session(write=True) as session:
            replace_rows(session.connection(), self.metadata, rows)
            self._write_meta(session, {"seeded_at": utcnow().isoformat()})

    def export(self) -> Rows:
        with self.db.session(write=False) as session:
            return export_rows(session.connection(), self.metadata)

    def status(self) -> SeedStatus:
        with self.db.session(write=False) as session:
            meta = self._read_meta(session)
        return SeedStatus("seeded_at" in meta, meta.get("seeded_at"), self._stale)


def describe(rows: Rows) -> dict[str, Any]:
    """Row counts per table, for logs and the CLI."""
    return {name: len(table_rows) for name, table_rows in rows.items()}

"""The console's tables: scenario runs, and the pending logins of its PSC client."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db.base import UTCDateTime, make_metadata


class Base(DeclarativeBase):
    metadata = make_metadata()


class ScenarioRun(Base):
    """One run of a scenario, played step by step from the console."""

    __tablename__ = "scenario_runs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    scenario: Mapped[str] = mapped_column(String(100), index=True)
    title: Mapped[str] = mapped_column(String(300))
    #: ready (no step played yet), running, passed, failed.
    status: Mapped[str] = mapped_column(String(20))
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    #: The next step to play (0-based).
    position: Mapped[int] = mapped_column(Integer, default=0)
    #: What the steps saved (tokens, ids...), handed to the next step.
    variables: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: One result per step played (``StepResult.to_json``).
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class PendingLogin(Base):
    """An authorization request of the console's public PSC client, waiting for its code
    (OAuth 2 ``state``, with the PKCE verifier and the OIDC nonce that go with it)."""

    __tablename__ = "pending_logins"

    state: Mapped[str] = mapped_column(String(64), primary_key=True)
    verifier: Mapped[str] = mapped_column(String(128))
    nonce: Mapped[str] = mapped_column(String(64))
    professional: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())

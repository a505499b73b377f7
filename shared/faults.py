"""Fault injection behind ``/_sandbox/faults`` (README, "Faults").

A rule matches a method and a path pattern and answers a status code (in the endpoint's
own error format) and/or adds latency, either with a probability or for a count of calls:
"the next 2 calls to ``POST /fhir`` answer 503". Rules live in memory, per service; a reset
clears them. The same book serves non-HTTP protocols: the MSSanté SMTP listener matches
methods such as ``SMTP:RCPT`` against the path ``*``.
"""

from __future__ import annotations

import random
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import Any

from pydantic import BaseModel, Field, model_validator


class FaultSpec(BaseModel):
    """What a client posts to ``/_sandbox/faults``."""

    method: str = Field("*", description="HTTP method, '*' for any (SMTP: 'SMTP:RCPT'...)")
    path: str = Field(..., description="Path pattern, shell-style: '/fhir', '/fhir/DocumentReference*', '*'")
    status: int | None = Field(None, ge=400, le=599, description="Status code to answer")
    latency_ms: int = Field(0, ge=0, le=120_000, description="Delay added before answering")
    probability: float = Field(1.0, gt=0, le=1, description="Chance that a matching call is hit")
    count: int | None = Field(None, ge=1, description="Hit only this many calls, then the rule disappears")
    detail: str | None = Field(None, description="Message of the error body")

    @model_validator(mode="after")
    def _does_something(self) -> FaultSpec:
        if self.status is None and self.latency_ms == 0:
            raise ValueError("a fault needs a status, a latency_ms, or both")
        return self


@dataclass
class FaultRule:
    spec: FaultSpec
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    hits: int = 0
    remaining: int | None = None

    def matches(self, method: str, path: str) -> bool:
        return (self.spec.method == "*" or self.spec.method.upper() == method.upper()) and (
            fnmatchcase(path, self.spec.path)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            **self.spec.model_dump(),
            "remaining": self.remaining,
            "hits": self.hits,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True)
class FaultHit:
    rule_id: str
    status: int | None
    latency_ms: int
    detail: str


class FaultBook:
    """The rules of one service; :meth:`hit` is called for every request."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()
        self._rng = rng or random.Random()  # noqa: S311 - chaos, not cryptography

    def add(self, spec: FaultSpec) -> FaultRule:
        rule = FaultRule(spec, remaining=spec.count)
        with self._lock:
            self._rules.append(rule)
        return rule

    def list(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def remove(self, rule_id: str) -> bool:
        with self._lock:
            before = len(self._rules)
            self._rules = [r for r in self._rules if r.id != rule_id]
            return len(self._rules) < before

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def hit(self, method: str, path: str) -> FaultHit | None:
        """The first rule that matches and fires, consuming one of its counted calls."""
        if not self._rules:  # the common case: no lock, no work
            return None
        with self._lock:
            for rule in self._rules:
                if not rule.matches(method, path):
                    continue
                if rule.spec.probability < 1 and self._rng.random() >= rule.spec.probability:
                    continue
                rule.hits += 1
                if rule.remaining is not None:
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self._rules.remove(rule)
                detail = rule.spec.detail or (
                    f"fault injected by the sandbox (rule {rule.id})" if rule.spec.status else ""
                )
                return FaultHit(rule.id, rule.spec.status, rule.spec.latency_ms, detail)
        return None

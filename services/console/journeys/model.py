"""Recorded exchanges → calls between actors, nested by W3C trace context.

Pairing (W3C Trace Context §3.2: the callee's span is a child of the caller's): the
outbound record of a call made by service A has ``span_id`` S; the inbound record of the
same call at service B has ``parent_span_id`` S. A call made by A while it was serving a
request R has ``parent_span_id`` = R's server span, which nests it under R. Requests
from outside (the editor's software, a browser, a scenario) have no recorded parent and
are the roots; siblings are ordered by start time.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from services.console.journeys.inspect import problems_of

Exchange = dict[str, Any]

SERVICE_ACTORS = ("psc_auth", "dmp", "mss", "catalog")

#: Left to right in the diagram: who starts journeys, then the services, then the console.
ACTOR_LABELS: dict[str, str] = {
    "editor": "Logiciel de l'éditeur",
    "patient": "Patient",
    "app": "Application",
    "ecps": "App e-CPS",
    "psc_auth": "Pro Santé Connect",
    "dmp": "DMP",
    "mss": "MSSanté",
    "catalog": "Mon espace santé",
    "console": "Console",
}


def _jwt_claims(token: str) -> dict[str, Any] | None:
    """The payload of a compact JWS, unverified (display only), or None."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, UnicodeDecodeError):
        return None
    return claims if isinstance(claims, dict) else None


def _bearer_claims(exchange: Exchange) -> dict[str, Any] | None:
    headers = {k.lower(): v for k, v in exchange["request"]["headers"].items()}
    scheme, _, value = headers.get("authorization", "").partition(" ")
    return _jwt_claims(value.strip()) if scheme.lower() == "bearer" else None


def external_actor(exchange: Exchange, app_clients: frozenset[str]) -> str:
    """Who sent a request from outside the sandbox, from what it carries.

    A Mon espace santé token says who acts (``mes_actor``); a catalogue app's client id
    (token ``azp``, the recorded client, or ``client_id`` in the query of an authorization
    request) is the app; the patient's space pages are the patient's browser; the e-CPS app
    has its own pages on Pro Santé Connect; everything else is the editor's software (or
    its user's browser).
    """
    claims = _bearer_claims(exchange) or {}
    actor = claims.get("mes_actor")
    query = parse_qs(exchange.get("query") or "")
    client = exchange.get("client_id") or claims.get("azp") or next(iter(query.get("client_id", [])), None)
    service, path = exchange["service"], exchange["path"]
    if actor == "app" or client in app_clients:
        return "app"
    if actor in ("patient", "aidant", "representant_legal") or (
        service == "catalog" and path.startswith("/espace")
    ):
        return "patient"
    if service == "psc_auth" and path.startswith("/ecps"):
        return "ecps"
    return "editor"


@dataclass
class Call:
    """One request and its answer, seen from both ends when both recorded it."""

    caller: str
    target: str
    inbound: Exchange | None
    outbound: Exchange | None
    children: list[Call] = field(default_factory=list)

    @property
    def record(self) -> Exchange:
        """The callee's record when there is one (it has the notes and the client)."""
        record = self.inbound or self.outbound
        assert record is not None
        return record

    @property
    def key(self) -> str:
        return f"{self.record['service']}.{self.record['id']}"

    @property
    def method(self) -> str:
        return str(self.record["method"])

    @property
    def path(self) -> str:
        return str(self.record["path"])

    @property
    def query(self) -> str:
        return str(self.record.get("query") or "")

    @property
    def status(self) -> int | None:
        status = (self.outbound or self.record).get("status")
        if status is None and self.inbound is not None:
            status = self.inbound.get("status")
        return int(status) if status is not None else None

    @property
    def start(self) -> datetime:
        return datetime.fromisoformat((self.outbound or self.record)["time"])

    @property
    def duration_ms(self) -> float:
        return float((self.outbound or self.record).get("duration_ms") or 0.0)

    @property
    def notes(self) -> list[str]:
        return list(self.inbound["notes"]) if self.inbound else []

    @property
    def error(self) -> str | None:
        return (self.outbound or {}).get("error") or None

    @property
    def refused(self) -> bool:
        return self.error is not None or (self.status is not None and self.status >= 400)

    def walk(self) -> Iterator[Call]:
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass
class Section:
    """The calls of one trace (a scenario step, for instance), with an optional title."""

    trace_id: str
    title: str | None
    calls: list[Call]


@dataclass
class Journey:
    sections: list[Section]

    def walk(self) -> Iterator[Call]:
        for section in self.sections:
            for call in section.calls:
                yield from call.walk()

    def find(self, key: str) -> Call | None:
        return next((c for c in self.walk() if c.key == key), None)

    @property
    def actors(self) -> list[str]:
        """The actors that take part, in the diagram's left-to-right order."""
        seen = {a for c in self.walk() for a in (c.caller, c.target)}
        # A peer the console does not know yet (a future service) still gets its column.
        return [a for a in ACTOR_LABELS if a in seen] + sorted(seen - set(ACTOR_LABELS))

    @property
    def calls(self) -> list[Call]:
        return list(self.walk())


def build_calls(exchanges: Iterable[Exchange], app_clients: frozenset[str]) -> list[Call]:
    """The root calls of ``exchanges`` (any number of traces), children nested."""
    items = list(exchanges)
    inbound_by_parent = {
        (e["service"], e["parent_span_id"]): e
        for e in items
        if e["direction"] == "inbound" and e.get("parent_span_id")
    }
    paired: set[tuple[str, int]] = set()
    calls: list[Call] = []
    for e in items:
        if e["direction"] != "outbound":
            continue
        inbound = inbound_by_parent.get((e["target"], e["span_id"]))
        if inbound is not None:
            paired.add((inbound["service"], inbound["id"]))
        calls.append(Call(caller=e["service"], target=e["target"], inbound=inbound, outbound=e))
    for e in items:
        if e["direction"] == "inbound" and (e["service"], e["id"]) not in paired:
            caller = e["caller"] if e["caller"] in (*SERVICE_ACTORS, "console") else None
            calls.append(
                Call(
                    caller=caller or external_actor(e, app_clients),
                    target=e["service"],
                    inbound=e,
                    outbound=None,
                )
            )
    by_server_span = {c.inbound["span_id"]: c for c in calls if c.inbound is not None}
    roots: list[Call] = []
    for call in calls:
        parent_span = call.outbound["parent_span_id"] if call.outbound is not None else None
        parent = by_server_span.get(parent_span) if parent_span else None
        (parent.children if parent is not None and parent is not call else roots).append(call)
    for call in calls:
        call.children.sort(key=lambda c: c.start)
    roots.sort(key=lambda c: c.start)
    return roots


def trace_of(exchange: Exchange) -> str:
    """The journey an exchange belongs to: its W3C trace id, or, for a session that
    carries none (an SMTP or IMAP session of MSSanté), a journey of its own named
    ``<service>-<id>``."""
    return str(exchange.get("trace_id") or f"{exchange['service']}-{exchange['id']}")


def build_journey(
    exchanges: Iterable[Exchange],
    app_clients: frozenset[str],
    sections: Sequence[tuple[str, str | None]] | None = None,
) -> Journey:
    """One section per trace: in the order of ``sections`` (trace id, title) if given,
    else by the start of each trace."""
    by_trace: dict[str, list[Exchange]] = {}
    for e in exchanges:
        by_trace.setdefault(trace_of(e), []).append(e)
    built = {trace: build_calls(items, app_clients) for trace, items in by_trace.items()}
    if sections is None:
        ordered = sorted(built, key=lambda t: built[t][0].start if built[t] else datetime.max)
        return Journey([Section(t, None, built[t]) for t in ordered])
    return Journey([Section(t, title, built.get(t, [])) for t, title in sections])


@dataclass(frozen=True)
class TraceSummary:
    """One line of the journeys list."""

    trace_id: str
    start: datetime
    calls: int
    actors: tuple[str, ...]
    first: Call
    refused: int
    clients: tuple[str, ...]
    notes: int
    console_only: bool
    #: Why the first refused call was refused (its access note, or its error body).
    reason: str | None = None


def refusal_reason(call: Call) -> str | None:
    """The access rule a refused call met, else what its error answer says."""
    if call.notes:
        return call.notes[-1]
    if call.error:
        return call.error
    body = call.record["response"].get("body")
    try:
        problems = problems_of(json.loads(body)) if body else []
    except ValueError:
        problems = []
    return problems[0] if problems else None


def summarise(exchanges: Iterable[Exchange], app_clients: frozenset[str]) -> list[TraceSummary]:
    """The traces of ``exchanges``, newest first."""
    journey = build_journey(exchanges, app_clients)
    summaries = []
    for section in journey.sections:
        calls = [c for root in section.calls for c in root.walk()]
        if not calls:
            continue
        actors = {a for c in calls for a in (c.caller, c.target)}
        summaries.append(
            TraceSummary(
                trace_id=section.trace_id,
                start=section.calls[0].start,
                calls=len(calls),
                actors=tuple(a for a in ACTOR_LABELS if a in actors)
                + tuple(sorted(actors - set(ACTOR_LABELS))),
                first=section.calls[0],
                refused=sum(1 for c in calls if c.refused),
                clients=tuple(sorted({c.record["client_id"] for c in calls if c.record.get("client_id")})),
                notes=sum(len(c.notes) for c in calls),
                console_only=all(r.caller == "console" for r in section.calls),
                reason=next((refusal_reason(c) for c in calls if c.refused), None),
            )
        )
    summaries.sort(key=lambda s: s.start, reverse=True)
    return summaries

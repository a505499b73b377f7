"""W3C trace context, the exchange log and fault rules."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from shared.faults import FaultBook, FaultSpec
from shared.observability import tracing
from shared.observability.exchanges import Exchange, ExchangeLog, capture_body


def test_traceparent_parsing_follows_the_recommendation() -> None:
    good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    span = tracing.parse_traceparent(good)
    assert span is not None
    assert (span.trace_id, span.span_id, span.flags) == (
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "00f067aa0ba902b7",
        "01",
    )
    for bad in (
        None,
        "",
        "garbage",
        good.replace("00-", "ff-", 1),
        "00-" + "0" * 32 + "-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-" + "0" * 16 + "-01",
        good[:-1],
    ):
        assert tracing.parse_traceparent(bad) is None


def test_server_and_child_spans() -> None:
    continued = tracing.server_span("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    assert continued.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert continued.parent_span_id == "00f067aa0ba902b7"
    assert continued.span_id != "00f067aa0ba902b7"
    fresh = tracing.server_span(None)
    assert len(fresh.trace_id) == 32 and fresh.parent_span_id is None
    child = fresh.child()
    assert (child.trace_id, child.parent_span_id) == (fresh.trace_id, fresh.span_id)
    assert child.traceparent() == f"00-{fresh.trace_id}-{child.span_id}-01"


def _exchange(trace: str, at: datetime) -> Exchange:
    return Exchange(
        service="s",
        direction="inbound",
        method="GET",
        path="/",
        time=at,
        caller="external",
        target="s",
        trace_id=trace,
    )


def test_the_exchange_log_is_bounded_ordered_and_filtered() -> None:
    log = ExchangeLog("s", capacity=10)
    start = datetime(2026, 11, 23, tzinfo=UTC)
    for i in range(15):
        log.add(_exchange("a" if i % 2 else "b", start + timedelta(seconds=i)))
    everything = log.query()
    assert [e.id for e in everything] == list(range(6, 16))
    assert {e.trace_id for e in log.query(trace_id="a")} == {"a"}
    assert [e.id for e in log.query(after=13)] == [14, 15]
    assert [e.id for e in log.query(since=start + timedelta(seconds=12))] == [13, 14, 15]
    assert [e.id for e in log.query(until=start + timedelta(seconds=6))] == [6, 7]
    assert [e.id for e in log.query(limit=2)] == [14, 15]
    assert log.clear() == 10
    assert log.query() == []


def test_bodies_are_kept_as_text_or_base64_and_cut() -> None:
    assert capture_body(b'{"a": 1}', 100, "application/json") == ('{"a": 1}', "utf-8", False)
    assert capture_body(b"\x89PNG\r\n", 100, "image/png") == ("iVBORw0K", "base64", False)
    text, encoding, truncated = capture_body("é".encode() * 10, 5, "text/plain")
    assert (encoding, truncated) == ("utf-8", True)
    assert text == "éé"  # the character cut in half at the bound is dropped, not garbled


def test_fault_rules_count_match_and_probability() -> None:
    book = FaultBook(rng=random.Random(7))
    book.add(FaultSpec(method="POST", path="/fhir", status=503, count=2))
    assert book.hit("GET", "/fhir") is None
    assert book.hit("POST", "/fhir/x") is None  # a pattern without * is exact
    first, second = book.hit("POST", "/fhir"), book.hit("POST", "/fhir")
    assert first and second and first.status == second.status == 503
    assert book.hit("POST", "/fhir") is None
    assert book.list() == []
    half = book.add(FaultSpec(path="/x*", latency_ms=5, probability=0.5))
    hits = sum(book.hit("GET", "/x/1") is not None for _ in range(400))
    assert 140 < hits < 260
    assert half.hits == hits


def test_fault_specs_are_validated() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="needs a status"):
        FaultSpec(path="/x")
    with pytest.raises(ValidationError):
        FaultSpec(path="/x", status=302)


def test_what_a_recorder_defers_is_filled_in_once_at_the_first_read() -> None:
    log = ExchangeLog("s", capacity=10)
    calls: list[int] = []

    def fill(exchange: Exchange) -> None:
        calls.append(exchange.id)
        exchange.client_id = "dpi-valmont"

    deferred = _exchange("t", datetime(2026, 11, 23, tzinfo=UTC))
    deferred.pending = fill
    log.add(deferred)
    assert calls == []  # nothing is decoded while requests are answered
    (read,) = log.query(trace_id="t")
    assert (calls, read.client_id, read.pending) == ([1], "dpi-valmont", None)
    data = log.query()[0].to_json()
    assert calls == [1] and "pending" not in data and data["client_id"] == "dpi-valmont"

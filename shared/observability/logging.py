"""JSON log lines, each with the trace id of the request it belongs to."""

from __future__ import annotations

import logging
import sys
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from shared.observability.tracing import current_service, current_span


class TraceFilter(logging.Filter):
    """Adds ``trace_id`` / ``span_id`` (or ``None`` outside a request) and the service."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        span = current_span()
        record.trace_id = span.trace_id if span else None
        record.span_id = span.span_id if span else None
        if not hasattr(record, "service"):
            record.service = current_service() or self.service
        return True


def configure_logging(service: str, level: str = "INFO", fmt: str = "json") -> None:
    """Route the root logger (and uvicorn's) to stderr in JSON, trace id on every line."""
    handler = logging.StreamHandler(sys.stderr)
    formatter: logging.Formatter
    if fmt == "json":
        formatter = JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(service)s %(trace_id)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            timestamp=False,
        )
    else:
        formatter = logging.Formatter(
            "%(asctime)s %(levelname)s [%(service)s %(trace_id)s] %(name)s: %(message)s"
        )
    handler.setFormatter(formatter)
    handler.addFilter(TraceFilter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # One line per request comes from the exchange recorder; uvicorn's would repeat it.
    logging.getLogger("uvicorn.access").disabled = True


def uvicorn_log_config() -> dict[str, Any] | None:
    """uvicorn must not install its own handlers over ours."""
    return None

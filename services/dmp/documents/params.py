"""FHIR search parameters (R4 §search.html; IHE ITI TF-2x Appendix Z.2), parsed.

Tokens: ``system|code``, ``|code`` (no system), ``code`` (any system), ``system|`` (any
code of the system); a comma is OR, a repeated parameter is AND. Dates: a prefix (``eq``,
``ne``, ``gt``, ``lt``, ``ge``, ``le``, ``sa``, ``eb``, ``ap``) and a value of any precision.
Unknown parameters are ignored (MHD: "Any additional parameters not supported should be
ignored") and reported as a warning in the searchset.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from services.dmp.dates import DateError, parse_range
from shared.errors import BadRequestError, Issue

Token = tuple[str | None, str | None]  # (system or None for any, code or None for any)


@dataclass(frozen=True)
class DateFilter:
    prefix: str
    start: dt.datetime
    end: dt.datetime

    def matches(self, moment: dt.datetime | None) -> bool:
        if moment is None:
            return False
        inside = self.start <= moment < self.end
        return {
            "eq": inside,
            "ap": inside,
            "ne": not inside,
            "gt": moment >= self.end,
            "sa": moment >= self.end,
            "lt": moment < self.start,
            "eb": moment < self.start,
            "ge": moment >= self.start,
            "le": moment < self.end,
        }[self.prefix]

    def overlaps(self, start: dt.datetime | None, end: dt.datetime | None) -> bool:
        """R4 search on a Period: the period [start, end] against the range."""
        if start is None:
            return False
        end = end or start
        return {
            "eq": start >= self.start and end < self.end,
            "ap": start < self.end and end >= self.start,
            "ne": not (start >= self.start and end < self.end),
            "gt": end >= self.end,
            "sa": start >= self.end,
            "lt": start < self.start,
            "eb": end < self.start,
            "ge": end >= self.start,
            "le": start < self.end,
        }[self.prefix]


_PREFIX = re.compile(r"^(eq|ne|gt|lt|ge|le|sa|eb|ap)(?=\d)")


@dataclass
class Params:
    """A search's parameters: ``values(name)`` gives each occurrence's comma-split values."""

    raw: list[tuple[str, str]]

    def occurrences(self, *names: str) -> list[str]:
        return [value for key, value in self.raw if key in names]

    def values(self, *names: str) -> list[list[str]]:
        return [split(value) for value in self.occurrences(*names)]

    def first(self, *names: str) -> str | None:
        found = self.occurrences(*names)
        return found[0] if found else None

    def tokens(self, *names: str) -> list[list[Token]]:
        return [[token(value) for value in values] for values in self.values(*names)]

    def dates(self, name: str) -> list[DateFilter]:
        return [date_filter(name, value) for value in self.occurrences(name)]

    def ignored(self, known: set[str]) -> list[str]:
        controls = {"_format", "_pretty", "_count", "_offset", "_sort"}
        return sorted({key for key, _ in self.raw if key not in known and key not in controls})

    def warning(self, known: set[str]) -> Issue | None:
        ignored = self.ignored(known)
        if not ignored:
            return None
        return Issue(
            f"parameters not supported here, ignored: {', '.join(ignored)}",
            code="not-supported",
            severity="warning",
            expression=tuple(ignored),
        )


def split(value: str) -> list[str]:
    """Comma-separated values, ``\\,`` being a literal comma."""
    parts = re.split(r"(?<!\\),", value)
    return [part.replace("\\,", ",") for part in parts if part != ""]


def token(value: str) -> Token:
    if "|" not in value:
        return None, value
    system, _, code = value.partition("|")
    return (system if system else ""), (code or None)


def token_matches(wanted: Token, stored: str) -> bool:
    """``stored`` is ``system|code``."""
    system, _, code = stored.partition("|")
    want_system, want_code = wanted
    if want_system is not None and want_system != system:
        return False
    return want_code is None or want_code == code


def date_filter(name: str, value: str) -> DateFilter:
    match = _PREFIX.match(value)
    prefix = match.group(1) if match else "eq"
    try:
        start, end = parse_range(value[len(prefix) :] if match else value)
    except DateError as exc:
        raise BadRequestError(f"{name}: {exc}", expression=[name], fhir_code="value") from exc
    return DateFilter(prefix, start, end)


def count(params: Params, default: int, largest: int) -> tuple[int, int]:
    """``_count`` (bounded) and ``_offset`` (the paging cursor of the next links)."""
    raw_count, raw_offset = params.first("_count"), params.first("_offset")
    try:
        size = default if raw_count is None else int(raw_count)
        offset = 0 if raw_offset is None else int(raw_offset)
    except ValueError as exc:
        raise BadRequestError(
            "_count and _offset are integers", expression=["_count"], fhir_code="value"
        ) from exc
    if size < 0 or offset < 0:
        raise BadRequestError("_count and _offset are not negative", expression=["_count"], fhir_code="value")
    return min(size, largest), offset

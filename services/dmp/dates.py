"""FHIR dates and times (R4 §datatypes: date, dateTime, instant) and their ranges.

A FHIR date may be partial (``2024``, ``2024-11``, ``2024-11-20``) or a time with a zone;
searching compares ranges (R4 §search.html#date): ``2024-11`` means the whole month.
Partial values without a zone are read in Europe/Paris, the DMP's own time.
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")

_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?$")


class DateError(ValueError):
    """Not a FHIR date, dateTime or instant."""


def parse_range(value: str) -> tuple[dt.datetime, dt.datetime]:
    """The [start, end) UTC range a FHIR date or dateTime stands for."""
    text = value.strip()
    match = _DATE.match(text)
    if match:
        year, month, day = int(match[1]), match[2], match[3]
        try:
            if day:
                start = dt.datetime(year, int(month), int(day), tzinfo=PARIS)
                end = start + dt.timedelta(days=1)
            elif month:
                start = dt.datetime(year, int(month), 1, tzinfo=PARIS)
                end = (start + dt.timedelta(days=32)).replace(day=1)
            else:
                start = dt.datetime(year, 1, 1, tzinfo=PARIS)
                end = start.replace(year=year + 1)
        except ValueError as exc:
            raise DateError(f"'{value}' is not a valid date") from exc
        return start.astimezone(dt.UTC), end.astimezone(dt.UTC)
    if not _DATETIME.match(text):
        raise DateError(f"'{value}' is not a FHIR date or dateTime (YYYY, YYYY-MM, YYYY-MM-DD or full time)")
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise DateError(f"'{value}' is not a valid dateTime") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=PARIS)
    precision = dt.timedelta(seconds=1) if text.count(":") >= 2 else dt.timedelta(minutes=1)
    start = moment.astimezone(dt.UTC)
    return start, start + precision


def parse_moment(value: str) -> dt.datetime:
    """The start of a FHIR date or dateTime, as an aware UTC datetime."""
    return parse_range(value)[0]


def instant(moment: dt.datetime) -> str:
    """An aware datetime as a FHIR instant (UTC, milliseconds)."""
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def http_date(moment: dt.datetime) -> str:
    """An aware datetime as an HTTP date (RFC 9110 §5.6.7), for Last-Modified."""
    from email.utils import format_datetime

    return format_datetime(moment.astimezone(dt.UTC), usegmt=True)

"""The ordonnance number and QR payload: FICTITIOUS formats of the sandbox (README).

The CNAM's real formats are not public (fr-ecosystem.md §3.3, §9). The sandbox defines:

* number ``ON-YYMMDD-NNNNNN-KK``: ``ON``, the issue date, six digits drawn at random,
  and a key ``KK = 97 - (YYMMDDNNNNNN mod 97)`` (as the NIR key: any one wrong digit and
  any swap of two neighbouring digits is detected). Readable on its own under the QR
  code; accepted with or without dashes and spaces.
* QR payload ``MESON1|<number>|<prescriber idNatPS>|<issue date YYYYMMDD>``.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets

PREFIX = "ON"
PAYLOAD_VERSION = "MESON1"
_NUMBER = re.compile(r"^ON(\d{6})(\d{6})(\d{2})$")


class NumberError(ValueError):
    """Not an ordonnance number, or a wrong key."""


def key(body: str) -> str:
    return f"{97 - int(body) % 97:02d}"


def new_number(issued: dt.date, draw: int | None = None) -> str:
    serial = secrets.randbelow(1_000_000) if draw is None else draw
    body = f"{issued:%y%m%d}{serial:06d}"
    return f"{PREFIX}-{body[:6]}-{body[6:]}-{key(body)}"


def normalise(text: str) -> str:
    """``on 261123 482915 36`` → ``ON-261123-482915-36``; :class:`NumberError` otherwise."""
    compact = re.sub(r"[\s-]", "", text.upper())
    match = _NUMBER.match(compact)
    if match is None:
        raise NumberError(f"'{text}' is not an ordonnance number (ON-YYMMDD-NNNNNN-KK)")
    date, serial, given = match.groups()
    if key(date + serial) != given:
        raise NumberError(f"'{text}': wrong key {given}, expected {key(date + serial)}")
    return f"{PREFIX}-{date}-{serial}-{given}"


def qr_payload(number: str, prescriber_idnat: str, issued: dt.date) -> str:
    return f"{PAYLOAD_VERSION}|{number}|{prescriber_idnat}|{issued:%Y%m%d}"


def number_from_payload(payload: str) -> str:
    """The number of a scanned QR payload (or of a number typed by hand)."""
    parts = payload.strip().split("|")
    if len(parts) == 4 and parts[0] == PAYLOAD_VERSION:
        return normalise(parts[1])
    return normalise(payload)

"""MSSanté addresses (fr-ecosystem.md §3.1).

Citizen mailboxes are ``<INS matricule>@patient.mssante.fr``: 15 characters with a valid
NIR key (the ANS samples with 16 or 20 digits are typos; the sandbox refuses them).
"""

from __future__ import annotations

import functools
from email.utils import getaddresses, parseaddr

from shared.identifiers import IdentifierError, validate_ins

PATIENT_DOMAIN = "patient.mssante.fr"


class AddressError(ValueError):
    """An address that is not an address, or a citizen address with a wrong INS."""


@functools.lru_cache(maxsize=4096)
def normalise(address: str) -> str:
    """``Dr Jeanne <Jeanne.Martin@Medecin.MSSante.fr>`` → ``jeanne.martin@medecin.mssante.fr``.

    Cached (a pure function; an address is normalised several times per message, and
    :func:`email.utils.parseaddr` is slow); an invalid one raises each time.
    """
    _, bare = parseaddr(address)
    bare = bare.strip().lower()
    local, at, domain = bare.rpartition("@")
    if not at or not local or "." not in domain or " " in bare:
        raise AddressError(f"'{address}' is not an e-mail address")
    if domain == PATIENT_DOMAIN:
        try:
            validate_ins(local)
        except IdentifierError as exc:
            raise AddressError(f"'{bare}' is not a citizen MSSanté address: {exc}") from exc
    return bare


def is_citizen(address: str) -> bool:
    return address.lower().endswith("@" + PATIENT_DOMAIN)


def citizen_address(ins: str) -> str:
    return f"{validate_ins(ins)}@{PATIENT_DOMAIN}".lower()


def header_addresses(values: list[str]) -> list[str]:
    """The bare addresses of ``To``/``Cc`` header values (normalised)."""
    return list(_header_addresses(tuple(values)))


@functools.lru_cache(maxsize=4096)
def _header_addresses(values: tuple[str, ...]) -> tuple[str, ...]:
    # Cached as normalise() is: the same To and Cc lines come again and again, and
    # getaddresses() was a quarter of the cost of reading a small message.
    return tuple(normalise(addr) for _, addr in getaddresses(list(values)) if addr)

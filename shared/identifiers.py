"""French health identifiers: INS (NIR), RPPS, idNatPS, FINESS, SIREN/SIRET.

Sources (../shared/reference/fr-ecosystem.md §5):

* INS matricule = NIR, 15 characters: sex (1), year (2), month (2), birthplace (5, the
  Corsican departments written ``2A``/``2B``), order (3), key (2). The key is
  ``97 - (first 13 digits mod 97)`` with ``2A`` read as ``19`` and ``2B`` as ``18``
  (python-stdnum ``stdnum.fr.nir``). OIDs: INS-NIR ``1.2.250.1.213.1.4.8``, INS-NIA
  ``.9``, INS-NIR test ``.10``, INS-NIR demo ``.11`` (FR Core).
* RPPS: 11 digits, the last a Luhn key (every published sandbox RPPS passes it).
* idNatPS (``urn:oid:1.2.250.1.71.4.2.1``): a TRE_G08 prefix then the identifier;
  ``8`` + RPPS for professionals with an RPPS.
* idNatSt (``urn:oid:1.2.250.1.71.4.2.2``): ``1`` + FINESS, ``2`` + SIREN, ``3`` + SIRET.
* FINESS: 9 characters, two for the department (``2A``/``2B`` in Corsica; ANS test
  numbers carry a ``B`` there too, e.g. ``0B0172805``) and a Luhn key, which is checked
  when the number is all digits (an inferred rule: the key of lettered ones is unknown).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stdnum import luhn
from stdnum.exceptions import ValidationError
from stdnum.fr import nir, siren, siret

OID_INS_NIR = "1.2.250.1.213.1.4.8"
OID_INS_NIA = "1.2.250.1.213.1.4.9"
OID_INS_NIR_TEST = "1.2.250.1.213.1.4.10"
OID_INS_NIR_DEMO = "1.2.250.1.213.1.4.11"
INS_OIDS = (OID_INS_NIR, OID_INS_NIA, OID_INS_NIR_TEST, OID_INS_NIR_DEMO)
#: FR Core identifier types (fr-core-v2-0203) of each INS OID.
INS_TYPES = {
    OID_INS_NIR: "INS-NIR",
    OID_INS_NIA: "INS-NIA",
    OID_INS_NIR_TEST: "INS-NIR-TEST",
    OID_INS_NIR_DEMO: "INS-NIR-DEMO",
}

OID_IDNATPS = "1.2.250.1.71.4.2.1"
OID_IDNATST = "1.2.250.1.71.4.2.2"
SYSTEM_RPPS = "https://rpps.esante.gouv.fr"
SYSTEM_FINESS = "https://finess.esante.gouv.fr"
SYSTEM_SIREN = "https://sirene.fr"

#: TRE_G08-TypeIdentifiantPersonne: the prefix of an idNatPS and what follows it.
IDNATPS_PREFIXES = {
    "0": "ADELI",
    "1": "cabinet ADELI",
    "3": "FINESS",
    "4": "SIREN",
    "5": "SIRET",
    "6": "cabinet RPPS",
    "8": "RPPS",
}

_FINESS = re.compile(r"^(\d{2}|2A|2B|\dB)\d{7}$")


class IdentifierError(ValueError):
    """An identifier that is malformed or whose key is wrong; the message says which."""


def nir_key(first13: str) -> str:
    """The two-digit key of a NIR from its first 13 characters."""
    if len(first13) != 13:
        raise IdentifierError(f"a NIR key is computed over 13 characters, got {len(first13)}")
    return str(nir.calc_check_digits(first13 + "00"))


def validate_ins(value: str) -> str:
    """The INS matricule if it is 15 characters with a right key; raises otherwise."""
    value = value.strip().upper()
    if len(value) != 15:
        raise IdentifierError(f"an INS matricule has 15 characters, '{value}' has {len(value)}")
    try:
        return str(nir.validate(value))
    except ValidationError as exc:
        if value[:13].replace("A", "").replace("B", "").isdigit() and value[13:].isdigit():
            expected = nir_key(value[:13])
            raise IdentifierError(f"INS '{value}' has key {value[13:]}, expected {expected}") from exc
        raise IdentifierError(f"INS '{value}' is not a NIR: {exc}") from exc


def is_valid_ins(value: str) -> bool:
    try:
        validate_ins(value)
    except IdentifierError:
        return False
    return True


def validate_ins_oid(oid: str) -> str:
    bare = oid.removeprefix("urn:oid:")
    if bare not in INS_OIDS:
        raise IdentifierError(f"'{oid}' is not an INS OID (expected one of {', '.join(INS_OIDS)})")
    return bare


def validate_rpps(value: str) -> str:
    if not re.fullmatch(r"\d{11}", value):
        raise IdentifierError(f"an RPPS number has 11 digits, got '{value}'")
    if not luhn.is_valid(value):
        raise IdentifierError(
            f"RPPS '{value}' fails its Luhn key (expected {value[:-1]}{luhn.calc_check_digit(value[:-1])})"
        )
    return value


def is_valid_rpps(value: str) -> bool:
    try:
        validate_rpps(value)
    except IdentifierError:
        return False
    return True


def idnatps_from_rpps(rpps: str) -> str:
    return "8" + validate_rpps(rpps)


@dataclass(frozen=True)
class IdNatPS:
    value: str
    prefix: str
    kind: str
    identifier: str


def parse_idnatps(value: str) -> IdNatPS:
    """Split an idNatPS into its TRE_G08 prefix and identifier (``8`` + RPPS is checked)."""
    if not re.fullmatch(r"^(0|1|3|4|5|6|8)\d*$", value):  # PDSm4DMP invariant on idNatPS
        raise IdentifierError(f"'{value}' is not an idNatPS (prefix 0, 1, 3, 4, 5, 6 or 8, then digits)")
    prefix, rest = value[0], value[1:]
    if prefix == "8":
        validate_rpps(rest)
    return IdNatPS(value, prefix, IDNATPS_PREFIXES[prefix], rest)


def validate_finess(value: str) -> str:
    value = value.strip().upper()
    if not _FINESS.match(value):
        raise IdentifierError(f"a FINESS number has 9 characters (department, 6 digits, key), got '{value}'")
    if value.isdigit() and not luhn.is_valid(value):
        raise IdentifierError(f"FINESS '{value}' fails its Luhn key")
    return value


def is_valid_finess(value: str) -> bool:
    try:
        validate_finess(value)
    except IdentifierError:
        return False
    return True


def validate_siren(value: str) -> str:
    try:
        return str(siren.validate(value))
    except ValidationError as exc:
        raise IdentifierError(f"SIREN '{value}': {exc}") from exc


def validate_siret(value: str) -> str:
    try:
        return str(siret.validate(value))
    except ValidationError as exc:
        raise IdentifierError(f"SIRET '{value}': {exc}") from exc


def patient_mailbox(ins: str) -> str:
    """The citizen MSSanté address of a patient: ``<INS matricule>@patient.mssante.fr``."""
    return f"{validate_ins(ins)}@patient.mssante.fr"

"""The identifier rules of shared/identifiers.py, on published examples."""

from __future__ import annotations

import pytest

from shared import identifiers as ids


@pytest.mark.parametrize(
    "ins",
    [
        "279035121518989",  # the ANS test identity PAT-TROIS Dominique (FR Core, HL7v2 samples)
        "180017505600103",  # fr-ecosystem.md §5.1
        "295109912611193",  # python-stdnum's documented example
        "253072A07300443",  # born in Corse-du-Sud: 2A counts as 19 in the key
        "253072B07300470",  # born in Haute-Corse: 2B counts as 18
    ],
)
def test_published_ins_are_valid(ins: str) -> None:
    assert ids.validate_ins(ins) == ins
    assert ids.is_valid_ins(ins)


def test_the_corsican_key_differs_from_a_naive_digit_key() -> None:
    # Reading 2A as 20 (or ignoring it) would give another key than 43.
    assert ids.nir_key("253072A073004") == "43"
    assert ids.nir_key("253072B073004") == "70"
    assert ids.nir_key("2530720073004") != "43"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("279035121518988", "expected 89"),
        ("27903512151898", "15 characters"),
        ("2790351215189899", "15 characters"),
        ("253072C07300443", "not a NIR"),
        ("123456789012345", "expected 11"),  # the guides' illustrative INS has no valid key
    ],
)
def test_bad_ins_are_refused_with_the_reason(value: str, message: str) -> None:
    with pytest.raises(ids.IdentifierError, match=message):
        ids.validate_ins(value)
    assert not ids.is_valid_ins(value)


def test_ins_oids() -> None:
    assert ids.validate_ins_oid("urn:oid:1.2.250.1.213.1.4.10") == ids.OID_INS_NIR_TEST
    assert ids.validate_ins_oid("1.2.250.1.213.1.4.8") == ids.OID_INS_NIR
    with pytest.raises(ids.IdentifierError, match="not an INS OID"):
        ids.validate_ins_oid("urn:oid:1.2.250.1.71.4.2.1")
    assert ids.INS_TYPES[ids.OID_INS_NIR_TEST] == "INS-NIR-TEST"


@pytest.mark.parametrize("rpps", ["99700427885", "99700218896", "99700245667", "99700366240"])
def test_the_bas_test_accounts_rpps_pass_luhn(rpps: str) -> None:
    assert ids.validate_rpps(rpps) == rpps
    assert ids.idnatps_from_rpps(rpps) == "8" + rpps


@pytest.mark.parametrize(
    ("value", "message"), [("99700427884", "Luhn"), ("9970042788", "11 digits"), ("9970042788A", "11 digits")]
)
def test_bad_rpps(value: str, message: str) -> None:
    with pytest.raises(ids.IdentifierError, match=message):
        ids.validate_rpps(value)


def test_idnatps_prefixes() -> None:
    parsed = ids.parse_idnatps("899700427885")
    assert (parsed.prefix, parsed.kind, parsed.identifier) == ("8", "RPPS", "99700427885")
    assert ids.parse_idnatps("0123456789").kind == "ADELI"
    assert ids.parse_idnatps("3510001233").kind == "FINESS"
    with pytest.raises(ids.IdentifierError, match="not an idNatPS"):
        ids.parse_idnatps("999")  # 9 is no TRE_G08 prefix
    with pytest.raises(ids.IdentifierError, match="Luhn"):
        ids.parse_idnatps("899700427884")  # 8 + an RPPS with a wrong key


@pytest.mark.parametrize(
    "finess",
    [
        "750712184",  # AP-HP (entité juridique)
        "130786049",  # AP-HM
        "690781810",  # Hospices civils de Lyon
        "0B0193488",  # ANS test structure of the real userinfo example
        "1B0064166",
        "2A0000015",  # Corsica: format only (the key of lettered numbers is not published)
    ],
)
def test_finess(finess: str) -> None:
    assert ids.validate_finess(finess) == finess


@pytest.mark.parametrize("finess", ["750712185", "75071218", "ABC123456"])
def test_bad_finess(finess: str) -> None:
    assert not ids.is_valid_finess(finess)


def test_siren_and_siret() -> None:
    assert ids.validate_siren("732829320") == "732829320"
    assert ids.validate_siret("73282932000074") == "73282932000074"
    with pytest.raises(ids.IdentifierError, match="SIREN"):
        ids.validate_siren("732829321")
    with pytest.raises(ids.IdentifierError, match="SIRET"):
        ids.validate_siret("73282932000075")


def test_patient_mailbox() -> None:
    assert ids.patient_mailbox("279035121518989") == "279035121518989@patient.mssante.fr"
    with pytest.raises(ids.IdentifierError):
        ids.patient_mailbox("2790351215189899")

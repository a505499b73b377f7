"""The personas file: valid identifiers, every persona the issues ask for, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from shared import identifiers
from shared.personas import DEFAULT_FILE, PersonaError, load_personas


def test_the_bundled_personas_cover_the_asked_situations() -> None:
    p = load_personas()
    adult = p.patient("dominique-pat-trois")
    assert adult.medecin_traitant and p.professional(adult.medecin_traitant).profession == "10"
    child = p.patient("lucas-pat-trois")
    assert child.legal_representatives == ("dominique-pat-trois",)
    assert p.patient("gabriel-fontaine").blocked_professionals
    assert p.patient("ghjulia-santoni").break_glass_objection
    assert p.patient("ghjulia-santoni").ins[5:7] == "2A"
    assert p.patient("yasmine-haddad").dmp == "none"
    assert p.patient("henri-leclerc").caregivers[0].person == "claire-leclerc"
    professions = {(pro.profession, pro.activities[0].mode) for pro in p.professionals}
    assert {("10", "L"), ("10", "S"), ("21", "L"), ("60", "L")} <= professions
    assert any(pro.regulation for pro in p.professionals)
    assert {c.secret is None for c in p.psc_clients} == {True, False}
    assert {a.track for a in p.apps} == {"listed", "exchange"}


def test_identifiers_are_valid_test_identifiers() -> None:
    p = load_personas()
    for patient in p.patients:
        if patient.ins_key_exempt:
            assert patient.id == "exemple-guide-ans"
            continue
        assert identifiers.is_valid_ins(patient.ins)
        assert patient.ins_oid == identifiers.OID_INS_NIR_TEST
    for pro in p.professionals:
        assert identifiers.is_valid_rpps(pro.rpps)
        assert pro.sub == f"f:{pro.psc_uuid}:8{pro.rpps}"
    for org in p.organisations:
        for value in (org.finess, org.finess_ej):
            assert not value or identifiers.is_valid_finess(value)


def _write(tmp_path: Path, mutate) -> Path:  # type: ignore[no-untyped-def]
    data = yaml.safe_load(DEFAULT_FILE.read_text())
    mutate(data)
    path = tmp_path / "personas.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["patients"][0].update(ins="279035121518988"), "expected 89"),
        (lambda d: d["professionals"][2].update(rpps="99700112544"), "Luhn"),
        (lambda d: d["patients"][0].update(medecin_traitant="nobody"), "unknown professional 'nobody'"),
        (lambda d: d["patients"].append(dict(d["patients"][0])), "appears twice"),
        (lambda d: d["professionals"][0]["card"].update(pin="12"), "pin"),
        (lambda d: d["psc_clients"][1].update(secret="x"), "secret goes with"),
        (
            lambda d: d["apps"][2].update(data=[{"category": "mesures", "access": ["read"]}]),
            "cannot declare data",
        ),
    ],
)
def test_a_bad_file_is_refused_with_a_clear_message(tmp_path: Path, mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PersonaError, match=message) as caught:
        load_personas(_write(tmp_path, mutate))
    assert str(tmp_path) in str(caught.value)


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(PersonaError, match="cannot read"):
        load_personas(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("patients: [\n")
    with pytest.raises(PersonaError, match="not valid YAML"):
        load_personas(broken)


def test_json_files_work_too(tmp_path: Path) -> None:
    import json

    path = tmp_path / "personas.json"
    path.write_text(json.dumps(yaml.safe_load(DEFAULT_FILE.read_text()), default=str))
    assert len(load_personas(path).patients) == len(load_personas().patients)

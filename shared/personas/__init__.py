"""The personas every service is seeded from (README, "Personas").

``load_personas(path)`` reads the YAML (or JSON) file, checks every identifier and every
cross-reference (a médecin traitant who exists, an activity's organisation...), and
returns a :class:`Personas` index. ``MES_PERSONAS_FILE`` points at a user's own file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from shared.personas.models import (
    CatalogApp,
    Organisation,
    Patient,
    PersonaFile,
    Professional,
    PscClient,
    ServiceClient,
)

DEFAULT_FILE = Path(__file__).with_name("personas.yaml")

__all__ = [
    "DEFAULT_FILE",
    "CatalogApp",
    "Organisation",
    "Patient",
    "PersonaError",
    "Personas",
    "Professional",
    "PscClient",
    "ServiceClient",
    "load_personas",
]


class PersonaError(ValueError):
    """A personas file that cannot be used; the message names the file and the problem."""


class Personas:
    """Read-only index over a validated personas file."""

    def __init__(self, data: PersonaFile, source: Path, digest: str) -> None:
        self.data = data
        self.source = source
        #: sha256 of the file's bytes: a seed computed from other personas is stale.
        self.digest = digest
        self._check_references()

    @property
    def patients(self) -> tuple[Patient, ...]:
        return self.data.patients

    @property
    def professionals(self) -> tuple[Professional, ...]:
        return self.data.professionals

    @property
    def organisations(self) -> tuple[Organisation, ...]:
        return self.data.organisations

    @property
    def psc_clients(self) -> tuple[PscClient, ...]:
        return self.data.psc_clients

    @property
    def apps(self) -> tuple[CatalogApp, ...]:
        return self.data.apps

    def service_client(self, service: str) -> ServiceClient:
        return self.data.services[service]

    @cached_property
    def _patients(self) -> dict[str, Patient]:
        return {p.id: p for p in self.patients}

    @cached_property
    def _patients_by_ins(self) -> dict[str, Patient]:
        return {p.ins: p for p in self.patients}

    @cached_property
    def _professionals(self) -> dict[str, Professional]:
        return {p.id: p for p in self.professionals}

    @cached_property
    def _professionals_by_idnat(self) -> dict[str, Professional]:
        return {p.idnat: p for p in self.professionals}

    @cached_property
    def _organisations(self) -> dict[str, Organisation]:
        return {o.id: o for o in self.organisations}

    def patient(self, persona_id: str) -> Patient:
        return self._patients[persona_id]

    def patient_by_ins(self, ins: str) -> Patient | None:
        return self._patients_by_ins.get(ins)

    def professional(self, persona_id: str) -> Professional:
        return self._professionals[persona_id]

    def professional_by_idnat(self, idnat: str) -> Professional | None:
        """By idNatPS (``8`` + RPPS) or by bare RPPS."""
        return self._professionals_by_idnat.get(idnat) or self._professionals_by_idnat.get("8" + idnat)

    def organisation(self, org_id: str) -> Organisation:
        return self._organisations[org_id]

    def _check_references(self) -> None:
        problems: list[str] = []
        for kind, items in (
            ("patient", self.patients),
            ("professional", self.professionals),
            ("organisation", self.organisations),
            ("app", self.apps),
        ):
            problems += _duplicates(kind, (i.id for i in items))
        problems += _duplicates("patient INS", (p.ins for p in self.patients))
        problems += _duplicates("RPPS", (p.rpps for p in self.professionals))
        problems += _duplicates("PSC client", (c.client_id for c in self.psc_clients))
        problems += _duplicates("app client", (a.client_id for a in self.apps))
        for pro in self.professionals:
            problems += [
                f"professional {pro.id}: unknown organisation '{a.organisation}'"
                for a in pro.activities
                if a.organisation not in self._organisations
            ]
        for patient in self.patients:
            refs = [patient.medecin_traitant] if patient.medecin_traitant else []
            problems += [
                f"patient {patient.id}: unknown professional '{ref}'"
                for ref in (*refs, *patient.blocked_professionals)
                if ref not in self._professionals
            ]
            problems += [
                f"patient {patient.id}: unknown person '{ref}'"
                for ref in (*patient.legal_representatives, *(c.person for c in patient.caregivers))
                if ref not in self._patients
            ]
        if problems:
            raise PersonaError(f"{self.source}: " + "; ".join(problems))


def _duplicates(kind: str, values: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    repeated: list[str] = []
    for value in values:
        if value in seen:
            repeated.append(f"{kind} '{value}' appears twice")
        seen.add(value)
    return repeated


def _parse(path: Path, raw: bytes) -> Any:
    try:
        if path.suffix.lower() == ".json":
            return json.loads(raw)
        return yaml.load(raw, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506
    except (yaml.YAMLError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PersonaError(
            f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}"
        ) from exc


_CACHE: dict[tuple[Path, str], Personas] = {}


def load_personas(path: Path | None = None) -> Personas:
    """The personas of ``path`` (default: the bundled file), validated."""
    path = (path or DEFAULT_FILE).resolve()
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PersonaError(f"cannot read the personas file {path}: {exc.strerror}") from exc
    digest = hashlib.sha256(raw).hexdigest()
    cached = _CACHE.get((path, digest))
    if cached is not None:
        return cached
    try:
        data = PersonaFile.model_validate(_parse(path, raw))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise PersonaError(
            f"{path}: {where}: {first['msg']} ({exc.error_count()} problem(s) in all)"
        ) from exc
    personas = Personas(data, path, digest)
    _CACHE[(path, digest)] = personas
    return personas

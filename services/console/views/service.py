"""Reading the data for the views: which token reads what, and the shape of each view."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import httpx

from services.console.clients import Peers
from services.console.journeys.inspect import problems_of
from shared.personas import Patient, Personas

PATIENT_DOMAIN = "@patient.mssante.fr"
_ORDONNANCE = re.compile(r"\bON-\d{6}-\d{6}-\d{2}\b")
#: The console reads as a software of its own (personas ``psc_clients``).
CONSOLE_CLIENT = "mes-sandbox-console"

VISIBILITY = {
    "N": "visible de tous",
    "R": "restreint",
    "V": "très restreint",
    "MASQUE_PS": "masqué aux professionnels",
    "INVISIBLE_PATIENT": "invisible du patient",
    "INVISIBLE_REPRESENTANTS_LEGAUX": "invisible des représentants légaux",
}


@dataclass
class Outcome:
    """What an API answered: the data, or why there is none."""

    data: Any = None
    status: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


async def read(peers: Peers, service: str, path: str, token: str, **params: Any) -> Outcome:
    try:
        answer = await peers.api(
            service,
            "GET",
            path,
            token,
            params=params,
            headers={"Accept": "application/fhir+json, application/json"},
        )
    except httpx.HTTPError as exc:
        return Outcome(problem=f"{service} injoignable : {type(exc).__name__}")
    try:
        data = answer.json()
    except ValueError:
        data = None
    reasons = problems_of(data)
    missing = ("no such endpoint", "is not allowed on")
    if answer.status_code in (404, 405) and (not reasons or any(m in r for m in missing for r in reasons)):
        return Outcome(status=answer.status_code, problem=f"pas encore disponible dans ce service ({path})")
    if answer.status_code >= 400:
        reasons = reasons or [answer.text[:200]]
        return Outcome(data, answer.status_code, f"{answer.status_code} : {'; '.join(reasons)}")
    return Outcome(data, answer.status_code)


def patient_of(personas: Personas, reference: str) -> Patient | None:
    return next((p for p in personas.patients if reference in (p.id, p.ins)), None)


async def patient_token(peers: Peers, patient: Patient, scope: str | None = None) -> str:
    body: dict[str, Any] = {"patient": patient.id}
    if scope:
        body["scope"] = scope
    return await peers.token("catalog", body)


async def professional_token(peers: Peers, professional: str) -> str:
    return await peers.token("psc_auth", {"professional": professional, "client_id": CONSOLE_CLIENT})


# -- a mailbox -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reader:
    """Who the console reads a mailbox as."""

    label: str
    service: str
    body: dict[str, Any]


def mailbox_reader(personas: Personas, address: str) -> Reader | None:
    """The patient for a citizen mailbox, the holder of a personal one, a member of the
    structure for an organisational one, the bound software for an application one."""
    address = address.lower()
    if address.endswith(PATIENT_DOMAIN):
        patient = patient_of(personas, address.removesuffix(PATIENT_DOMAIN))
        if patient is None:
            return None
        return Reader(patient.display_name, "catalog", {"patient": patient.id, "scope": "messages.read"})
    for pro in personas.professionals:
        if any(m.address == address for m in pro.mailboxes):
            return Reader(pro.display_name, "psc_auth", {"professional": pro.id, "client_id": CONSOLE_CLIENT})
    for org in personas.organisations:
        box = next((m for m in org.mailboxes if m.address == address), None)
        if box is None:
            continue
        if box.type == "APP" and box.client_id:
            return Reader(
                f"logiciel {box.client_id}", "psc_auth", {"professional": None, "client_id": box.client_id}
            )
        member = next(
            (p for p in personas.professionals if any(a.organisation == org.id for a in p.activities)), None
        )
        if member is not None:
            return Reader(
                f"{member.display_name} ({org.name})",
                "psc_auth",
                {"professional": member.id, "client_id": CONSOLE_CLIENT},
            )
    return None


def all_mailboxes(personas: Personas) -> list[tuple[str, str, str]]:
    """(address, type, whose) of every mailbox of the personas."""
    boxes: list[tuple[str, str, str]] = [
        (m.address, m.type, p.display_name) for p in personas.professionals for m in p.mailboxes
    ]
    boxes += [(m.address, m.type, o.name) for o in personas.organisations for m in o.mailboxes]
    boxes += [(p.mailbox, "PAT", p.display_name) for p in personas.patients if not p.ins_key_exempt]
    return boxes


@dataclass
class MailboxView:
    address: str
    reader: str
    folders: dict[str, Outcome] = field(default_factory=dict)


async def mailbox(peers: Peers, reader: Reader, address: str) -> MailboxView:
    token = await peers.token(reader.service, reader.body)
    view = MailboxView(address, reader.label)
    for folder in ("INBOX", "Sent"):
        view.folders[folder] = await read(
            peers, "mss", f"/api/mailboxes/{address}/messages", token, folder=folder
        )
    return view


async def message(peers: Peers, reader: Reader, address: str, message_id: str) -> Outcome:
    token = await peers.token(reader.service, reader.body)
    return await read(peers, "mss", f"/api/mailboxes/{address}/messages/{message_id}", token)


# -- a patient's DMP, consents and ordonnances --------------------------------------------------


@dataclass
class DmpView:
    patient: Patient
    viewer: str
    documents: Outcome
    controls: Outcome
    traces: Outcome
    rows: list[dict[str, Any]] = field(default_factory=list)


def _who(reference: dict[str, Any], contained: dict[str, dict[str, Any]]) -> str:
    """A person named by a reference: its display, or the contained resource's name."""
    if reference.get("display"):
        return str(reference["display"])
    found = contained.get(reference.get("reference") or "")
    names = (found or {}).get("name") or []
    if names:
        name = names[0]
        return " ".join([*name.get("given", []), name.get("family", "")]).strip()
    return str(reference.get("reference") or "")


def _document_row(resource: dict[str, Any]) -> dict[str, Any]:
    content = (resource.get("content") or [{}])[0].get("attachment") or {}
    labels = [c.get("code", "") for s in resource.get("securityLabel") or [] for c in s.get("coding") or []]
    contained = {f"#{c.get('id')}": c for c in resource.get("contained") or []}
    authors = [_who(a, contained) for a in resource.get("author") or []]
    kind = ((resource.get("type") or {}).get("coding") or [{}])[0]
    return {
        "id": resource.get("id"),
        "title": content.get("title") or kind.get("display") or "(sans titre)",
        "type": f"{kind.get('code', '')} {kind.get('display', '')}".strip(),
        "date": resource.get("date", ""),
        "status": resource.get("status", ""),
        "visibility": [VISIBILITY.get(code, code) for code in labels],
        "version": (resource.get("meta") or {}).get("versionId", ""),
        "identifier": ((resource.get("identifier") or [{}])[0]).get("value", ""),
        "unique_id": (resource.get("masterIdentifier") or {}).get("value", ""),
        "replaces": [r.get("target", {}).get("reference", "") for r in resource.get("relatesTo") or []],
        "authors": authors,
    }


async def dmp(peers: Peers, personas: Personas, patient: Patient, viewer: str) -> DmpView:
    """The DMP of ``patient`` as ``viewer`` sees it (``patient`` or a professional id)."""
    holder = await patient_token(peers, patient)
    reader = holder if viewer == "patient" else await professional_token(peers, viewer)
    ins = f"{patient.ins_system}|{patient.ins}"
    documents = await read(
        peers,
        "dmp",
        "/fhir/DocumentReference",
        reader,
        **{"patient.identifier": ins, "status": "current,superseded", "_count": 200},
    )
    view = DmpView(
        patient=patient,
        viewer=viewer,
        documents=documents,
        controls=await read(peers, "dmp", "/api/patient/controls", holder),
        traces=await read(peers, "dmp", "/fhir/AuditEvent", holder, **{"patient.identifier": ins}),
    )
    if documents.ok and isinstance(documents.data, dict):
        view.rows = [
            _document_row(e["resource"])
            for e in documents.data.get("entry") or []
            if (e.get("resource") or {}).get("resourceType") == "DocumentReference"
        ]
    return view


async def consents(peers: Peers, patient: Patient) -> Outcome:
    return await read(peers, "catalog", "/fhir/Consent", await patient_token(peers, patient))


async def ordonnances(peers: Peers, patient: Patient) -> tuple[list[Outcome], Outcome]:
    """The ordonnances sent to the patient's citizen mailbox, read with the patient's token."""
    token = await patient_token(peers, patient)
    box = await read(
        peers, "mss", f"/api/mailboxes/{patient.mailbox}/messages", token, q="ordonnance", limit=100
    )
    numbers: list[str] = []
    for row in box.data if box.ok and isinstance(box.data, list) else []:
        numbers += [n for n in _ORDONNANCE.findall(str(row.get("subject", ""))) if n not in numbers]
    return [await read(peers, "mss", f"/api/ordonnances/{n}", token) for n in numbers], box

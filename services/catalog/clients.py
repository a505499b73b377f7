"""Mon espace santé's peer: the DMP, for the patient's controls (contract 3).

Every call carries a Mon espace santé token of the space's holder (or of the parent, or of
a caregiver with the delegated rights) minted for that call; the DMP introspects it here.
This client declares only the fields it reads. A refusal of the DMP (4xx) becomes a
:class:`DmpRefusal` that the pages show; a DMP that does not answer properly, a 502.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import httpx

from shared.errors import PeerUnavailableError, SandboxError

FHIR_JSON = "application/fhir+json"
JSON_PATCH = "application/json-patch+json"
#: TRE_A07-StatutVisibiliteDocument (PDSm4DMP TD3.3a; the "Statut" spelling, fr-ecosystem.md §7.2).
VISIBILITY_SYSTEM = (
    "https://mos.esante.gouv.fr/NOS/TRE_A07-StatutVisibiliteDocument/FHIR/TRE-A07-StatutVisibiliteDocument"
)
HIDDEN = {"system": VISIBILITY_SYSTEM, "code": "MASQUE_PS", "display": "Masqué aux professionnels de santé"}


class DmpRefusal(SandboxError):
    """The DMP said no (4xx): its status and its reason, shown on the page."""


@dataclass(frozen=True)
class Authorization:
    idnat: str
    until: dt.date | None


@dataclass(frozen=True)
class Controls:
    ins: str
    blocked: tuple[str, ...]
    authorizations: tuple[Authorization, ...]
    medecin_traitant: str | None
    break_glass_objection: bool


@dataclass(frozen=True)
class DocumentSummary:
    id: str
    title: str
    kind: str
    date: str
    author: str
    #: The business identifier the TD3.3a PATCH targets: ``system|value`` of masterIdentifier.
    identifier: str | None
    labels: tuple[str, ...]
    #: Where the ``MASQUE_PS`` label is in ``securityLabel`` (None: the document is not hidden).
    hidden_index: int | None

    @property
    def hidden(self) -> bool:
        return self.hidden_index is not None


@dataclass(frozen=True)
class Trace:
    when: str
    action: str
    who: str
    outcome: str
    detail: str


def _reason(answer: httpx.Response) -> str:
    try:
        body = answer.json()
    except ValueError:
        return answer.text[:200] or f"HTTP {answer.status_code}"
    if isinstance(body, dict):
        if body.get("resourceType") == "OperationOutcome":
            issues = body.get("issue") or [{}]
            return str(issues[0].get("diagnostics") or issues[0].get("code") or "refused")
        return str(body.get("detail") or body.get("error_description") or body.get("error") or "refused")
    return "refused"


def _checked(answer: httpx.Response) -> Any:
    if answer.status_code >= 500:
        raise PeerUnavailableError(f"the DMP answered {answer.status_code}: {_reason(answer)}")
    if answer.status_code >= 400:
        raise DmpRefusal(_reason(answer), status=answer.status_code, error="dmp_refused")
    try:
        return answer.json()
    except ValueError as exc:
        raise PeerUnavailableError("the DMP did not answer JSON") from exc


def _date(value: Any) -> dt.date | None:
    return dt.date.fromisoformat(value) if isinstance(value, str) and value else None


def _codes(resource: dict[str, Any]) -> list[str]:
    return [c.get("code", "") for label in resource.get("securityLabel", []) for c in label.get("coding", [])]


def _display(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("text") or next((c.get("display") for c in value.get("coding", [])), "") or "")
    return ""


def _author(resource: dict[str, Any]) -> str:
    contained = {f"#{c.get('id')}": c for c in resource.get("contained", [])}
    names = []
    for author in resource.get("author", []):
        if author.get("display"):
            names.append(str(author["display"]))
            continue
        target = contained.get(author.get("reference", ""))
        if target is None:
            continue
        practitioner = target.get("practitioner", target)
        name = (practitioner.get("name") or [{}])[0] if isinstance(practitioner, dict) else {}
        text = " ".join([*name.get("given", []), name.get("family", "")]).strip()
        if text:
            names.append(text)
    return ", ".join(names)


def summary(resource: dict[str, Any]) -> DocumentSummary:
    master = resource.get("masterIdentifier") or {}
    labels = resource.get("securityLabel", [])
    index = next(
        (
            i
            for i, label in enumerate(labels)
            for c in label.get("coding", [])
            if c.get("code") == "MASQUE_PS"
        ),
        None,
    )
    content = (resource.get("content") or [{}])[0].get("attachment", {})
    return DocumentSummary(
        id=str(resource.get("id", "")),
        title=str(content.get("title") or resource.get("description") or _display(resource.get("type"))),
        kind=_display(resource.get("type")),
        date=str(resource.get("date", ""))[:10],
        author=_author(resource),
        identifier=f"{master['system']}|{master['value']}" if master.get("value") else None,
        labels=tuple(_codes(resource)),
        hidden_index=index,
    )


def _trace(resource: dict[str, Any]) -> Trace:
    agents = resource.get("agent", [])
    who = next((a.get("who", {}).get("display") for a in agents if a.get("requestor")), None) or next(
        (a.get("who", {}).get("display") for a in agents if a.get("who")), ""
    )
    outcome = resource.get("outcome", "0")
    return Trace(
        when=str(resource.get("recorded", "")),
        action=_display(resource.get("type")) or str(resource.get("action", "")),
        who=str(who or ""),
        outcome="réussi" if outcome == "0" else "refusé",
        detail=str(resource.get("outcomeDesc", "")),
    )


class DmpClient:
    """The DMP as Mon espace santé uses it (the underlying client is the platform's)."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    def _call(self, method: str, path: str, token: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        try:
            answer = self.http.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise PeerUnavailableError(f"the DMP cannot be reached: {exc}") from exc
        return _checked(answer)

    # -- contract 3: the holder's controls ------------------------------------------------

    def _controls(self, data: Any) -> Controls:
        return Controls(
            ins=str(data.get("ins", "")),
            blocked=tuple(str(i) for i in data.get("blocked", [])),
            authorizations=tuple(
                Authorization(str(a["idnat"]), _date(a.get("until"))) for a in data.get("authorizations", [])
            ),
            medecin_traitant=data.get("medecin_traitant"),
            break_glass_objection=bool(data.get("break_glass_objection")),
        )

    def controls(self, token: str) -> Controls:
        return self._controls(self._call("GET", "/api/patient/controls", token))

    def block(self, token: str, idnat: str) -> Controls:
        return self._controls(self._call("PUT", f"/api/patient/controls/blocked/{idnat}", token))

    def unblock(self, token: str, idnat: str) -> Controls:
        return self._controls(self._call("DELETE", f"/api/patient/controls/blocked/{idnat}", token))

    def authorize(self, token: str, idnat: str, until: dt.date) -> Controls:
        path = f"/api/patient/controls/authorizations/{idnat}"
        return self._controls(self._call("PUT", path, token, json={"until": until.isoformat()}))

    def withdraw(self, token: str, idnat: str) -> Controls:
        return self._controls(self._call("DELETE", f"/api/patient/controls/authorizations/{idnat}", token))

    def medecin_traitant(self, token: str, idnat: str) -> Controls:
        path = "/api/patient/controls/medecin-traitant"
        return self._controls(self._call("PUT", path, token, json={"idnat": idnat}))

    def object_to_break_glass(self, token: str, objection: bool) -> Controls:
        path = "/api/patient/controls/break-glass-objection"
        return self._controls(self._call("PUT", path, token, json={"objection": objection}))

    # -- FHIR: documents (TD3.1 search, TD3.3a hiding) and access traces ----------------------

    def documents(self, token: str, ins_system: str, ins: str) -> list[DocumentSummary]:
        bundle = self._call(
            "GET",
            "/fhir/DocumentReference",
            token,
            params={"patient.identifier": f"{ins_system}|{ins}", "status": "current", "_count": "100"},
            headers={"Accept": FHIR_JSON},
        )
        return [summary(e["resource"]) for e in bundle.get("entry", []) if "resource" in e]

    def hide(self, token: str, document: DocumentSummary, hidden: bool) -> DocumentSummary:
        """TD3.3a: the conditional JSON Patch of ``securityLabel`` on the uniqueId.

        The guide's example replaces ``/securityLabel/0``; the DMP keeps exactly one
        v3-Confidentiality label next to the visibility ones, so hiding *adds* the
        ``MASQUE_PS`` label and showing again *removes* it (README)."""
        if document.hidden == hidden:
            return document
        if document.identifier is None:
            raise DmpRefusal("ce document n'a pas d'identifiant unique", status=409, error="dmp_refused")
        if hidden:
            operation: dict[str, Any] = {
                "op": "add",
                "path": "/securityLabel/-",
                "value": {"coding": [HIDDEN]},
            }
        else:
            operation = {"op": "remove", "path": f"/securityLabel/{document.hidden_index}"}
        answer = self._call(
            "PATCH",
            "/fhir/DocumentReference",
            token,
            params={"identifier": document.identifier},
            content=json.dumps([operation]),
            headers={"Content-Type": JSON_PATCH, "Accept": FHIR_JSON},
        )
        return summary(answer)

    def traces(self, token: str, ins_system: str, ins: str) -> list[Trace]:
        bundle = self._call(
            "GET",
            "/fhir/AuditEvent",
            token,
            params={"patient.identifier": f"{ins_system}|{ins}", "_sort": "-date", "_count": "100"},
            headers={"Accept": FHIR_JSON},
        )
        return [_trace(e["resource"]) for e in bundle.get("entry", []) if "resource" in e]

"""Break-the-glass access (issue #4 item 6): the holder and the médecin traitant are told
through MSSanté (contract 5) — first against an MSSanté at the edge (httpx.MockTransport),
then end to end with the sandbox's MSSanté."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete

from services.dmp.models import Notification
from shared.personas import Personas
from tests.dmp.conftest import forwarding
from tests.support import Sandbox, bearer

pytestmark = pytest.mark.db

DOMINIQUE = "urn:oid:1.2.250.1.213.1.4.10|279035121518989"
GLASS = {"X-DMP-Access-Mode": "bris_de_glace", "X-DMP-Access-Reason": "patiente inconsciente aux urgences"}


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return data


def _search(client: httpx.Client | TestClient, token: str, **headers: str) -> httpx.Response:
    return client.get(
        "/fhir/DocumentReference",
        params={"patient.identifier": DOMINIQUE, "status": "current"},
        headers={**bearer(token), **headers},
    )


class FakeMss:
    """MSSanté's POST /api/messages at the edge: records what the DMP sends."""

    def __init__(self) -> None:
        self.sent: list[httpx.Request] = []
        self.fail = False
        #: Called as a message arrives (what else happens meanwhile).
        self.on_send: Callable[[], None] = lambda: None

    def __call__(self, request: httpx.Request) -> httpx.Response | None:
        if request.url.path != "/api/messages":
            return None
        self.on_send()
        if self.fail:
            return httpx.Response(503, json={"error": "unavailable", "detail": "down"})
        self.sent.append(request)
        return httpx.Response(201, json={"id": "m1", "message_id": f"<m{len(self.sent)}@mss.example>"})


def test_a_break_the_glass_access_is_told_to_the_patient_and_the_medecin_traitant(
    sb: Sandbox, dmp_with: Callable[..., TestClient], personas: Personas
) -> None:
    mss = FakeMss()
    dmp = dmp_with(peer_transport=forwarding(sb, mss))
    kit = sb.psc_token("kit-doc0042788")
    assert _search(dmp, kit, **GLASS).status_code == 200
    assert len(mss.sent) == 1
    request = mss.sent[0]
    message = json.loads(request.content)
    jeanne = personas.professional("jeanne-martin").mailboxes[0].address
    assert message["from"] == "notifications@dmp.mssante.fr"
    assert message["to"] == ["279035121518989@patient.mssante.fr", jeanne]
    assert "bris de glace" in message["body"] and GLASS["X-DMP-Access-Reason"] in message["body"]
    assert "KIT DOC0042788" in message["body"].upper()
    # Sent as the DMP's software account: a Pro Santé Connect client_credentials token.
    claims = _claims(request.headers["authorization"].split(" ", 1)[1])
    assert claims["sub"] == "service-account-mes-sandbox-dmp"
    # One notice per professional and day: a second access tells nobody again.
    assert _search(dmp, kit, **GLASS).status_code == 200
    assert len(mss.sent) == 1
    outbox = dmp.get("/_sandbox/notifications").json()
    assert [(n["status"], n["kind"], n["message_id"]) for n in outbox] == [
        ("sent", "bris_de_glace", "<m1@mss.example>")
    ]


def test_a_normal_or_refused_access_tells_nobody(sb: Sandbox, dmp_with: Callable[..., TestClient]) -> None:
    mss = FakeMss()
    dmp = dmp_with(peer_transport=forwarding(sb, mss))
    assert _search(dmp, sb.psc_token("jeanne-martin")).status_code == 200
    # The médecin traitant needs no emergency mode: her access is normal, nobody is told.
    assert _search(dmp, sb.psc_token("jeanne-martin"), **GLASS).status_code == 200
    ghjulia = "urn:oid:1.2.250.1.213.1.4.10|292022A00407749"
    refused = dmp.get(
        "/fhir/DocumentReference",
        params={"patient.identifier": ghjulia, "status": "current"},
        headers={**bearer(sb.psc_token("kit-doc0042788")), **GLASS},
    )
    assert refused.status_code == 403 and "objected" in refused.json()["issue"][0]["diagnostics"]
    assert mss.sent == [] and dmp.get("/_sandbox/notifications").json() == []


def test_when_mssante_is_down_the_notice_waits_in_the_outbox(
    sb: Sandbox, dmp_with: Callable[..., TestClient]
) -> None:
    mss = FakeMss()
    mss.fail = True
    dmp = dmp_with(peer_transport=forwarding(sb, mss))
    assert (
        _search(dmp, sb.psc_token("kit-doc0042788"), **GLASS).status_code == 200
    )  # the access is not held up
    failed = dmp.get("/_sandbox/notifications").json()
    assert failed[0]["status"] == "failed" and "503" in failed[0]["detail"] and failed[0]["attempts"] == 1
    mss.fail = False
    assert dmp.post("/_sandbox/notifications/flush").json() == {"sent": 1}
    assert dmp.get("/_sandbox/notifications").json()[0]["status"] == "sent"


def test_a_notice_reset_away_while_it_is_sent_is_simply_gone(
    sb: Sandbox, dmp_with: Callable[..., TestClient]
) -> None:
    """A reset between reading the outbox and recording the outcome: nothing to update, no
    error (the access was answered long ago; recording its notice must not fail)."""
    mss = FakeMss()
    mss.fail = True
    dmp = dmp_with(peer_transport=forwarding(sb, mss))
    assert _search(dmp, sb.psc_token("kit-doc0042788"), **GLASS).status_code == 200
    assert dmp.get("/_sandbox/notifications").json()[0]["status"] == "failed"
    database = dmp.app.state.runtime.database()

    def reset() -> None:
        with database.session() as session:
            session.execute(delete(Notification))

    mss.fail, mss.on_send = False, reset
    assert dmp.post("/_sandbox/notifications/flush").json() == {"sent": 1}
    assert len(mss.sent) == 1
    assert dmp.get("/_sandbox/notifications").json() == []


def _inbox(sb: Sandbox, address: str, token: str) -> list[dict[str, Any]]:
    answer = sb.client("mss").get(f"/api/mailboxes/{address}/messages", headers=bearer(token))
    assert answer.status_code == 200, answer.text
    messages: list[dict[str, Any]] = answer.json()
    return [m for m in messages if m["sender"] == "notifications@dmp.mssante.fr"]


def test_end_to_end_through_the_sandboxs_mssante(sb: Sandbox, personas: Personas) -> None:
    dmp = sb.client("dmp")
    centre_15 = {"X-DMP-Access-Mode": "centre_15"}
    lucas = "urn:oid:1.2.250.1.213.1.4.10|115055145402386"
    answer = dmp.get(
        "/fhir/DocumentReference",
        params={"patient.identifier": lucas, "status": "current"},
        headers={**bearer(sb.psc_token("sophie-lefevre")), **centre_15},
    )
    assert answer.status_code == 200
    deadline = time.monotonic() + 10
    while True:  # the notice leaves after the response
        outbox = sb.admin("dmp", "GET", "notifications").json()
        if (outbox and outbox[0]["status"] != "pending") or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert outbox[0]["status"] == "sent", outbox
    patient_box = "115055145402386@patient.mssante.fr"
    for_patient = _inbox(sb, patient_box, sb.mes_token("lucas-pat-trois", scope="messages.read"))
    assert (
        len(for_patient) == 1
        and for_patient[0]["subject"] == "Accès en urgence à votre dossier médical partagé"
    )
    jeanne = personas.professional("jeanne-martin").mailboxes[0].address
    assert len(_inbox(sb, jeanne, sb.psc_token("jeanne-martin"))) == 1

"""Sending and reading over HTTP: contract 5, the folders, flags, search, wait, access rules."""

from __future__ import annotations

import base64

import pytest

from tests.mss.helpers import (
    CARDIO,
    DMP_NOTIFICATIONS,
    DOMINIQUE,
    DPI,
    GABRIEL,
    HENRI,
    JEANNE,
    KARIM,
    b64,
    inbox,
    mss,
    send,
    sent_ok,
)
from tests.support import Sandbox, bearer

pytestmark = pytest.mark.db


def test_mailboxes_of_a_professional_include_their_structures(sb: Sandbox) -> None:
    token = sb.psc_token("karim-benali")
    boxes = mss(sb).get("/api/mailboxes", headers=bearer(token)).json()
    assert {b["address"] for b in boxes} == {KARIM, CARDIO, "samu51@ch-valmont.mssante.fr"}
    patient = sb.mes_token("dominique-pat-trois")
    assert [b["address"] for b in mss(sb).get("/api/mailboxes", headers=bearer(patient)).json()] == [
        DOMINIQUE
    ]


def test_a_professional_sends_with_an_attachment_and_the_recipient_reads_it(sb: Sandbox) -> None:
    jeanne = sb.psc_token("jeanne-martin")
    pdf = b"%PDF-1.4 compte rendu fictif"
    result = sent_ok(
        sb,
        jeanne,
        **{
            "from": JEANNE,
            "to": [KARIM],
            "cc": [DOMINIQUE],
            "subject": "Adressage en cardiologie",
            "body": "Cher confrère, je vous adresse Mme Pat-Trois.",
            "attachments": [
                {"filename": "courrier.pdf", "content_type": "application/pdf", "content_base64": b64(pdf)}
            ],
        },
    )
    assert result["message_id"].startswith("<") and result["recipients"] == [KARIM, DOMINIQUE]
    karim = sb.psc_token("karim-benali")
    rows = inbox(sb, karim, KARIM)
    assert [r["subject"] for r in rows] == ["Adressage en cardiologie"]
    assert rows[0]["seen"] is False and rows[0]["attachments"][0]["filename"] == "courrier.pdf"
    detail = mss(sb).get(f"/api/mailboxes/{KARIM}/messages/{rows[0]['id']}", headers=bearer(karim)).json()
    assert "je vous adresse" in detail["body"]
    got = mss(sb).get(f"/api/mailboxes/{KARIM}/messages/{rows[0]['id']}/attachments/0", headers=bearer(karim))
    assert got.content == pdf and got.headers["content-type"] == "application/pdf"
    # The sender keeps a copy in Sent, already read; the patient in copy got hers.
    sent = inbox(sb, jeanne, JEANNE, folder="Sent")
    assert sent[0]["id"] == result["id"] and sent[0]["seen"] is True
    assert (
        inbox(sb, sb.mes_token("dominique-pat-trois"), DOMINIQUE)[0]["subject"] == "Adressage en cardiologie"
    )


def test_read_unread_delete_and_search(sb: Sandbox) -> None:
    jeanne = sb.psc_token("jeanne-martin")
    for subject in ("Résultats INR", "Compte rendu opératoire"):
        sent_ok(sb, jeanne, **{"from": JEANNE, "to": [KARIM], "subject": subject, "body": f"texte {subject}"})
    karim = sb.psc_token("karim-benali")
    found = inbox(sb, karim, KARIM, q="opératoire")
    assert [r["subject"] for r in found] == ["Compte rendu opératoire"]
    mid = found[0]["id"]
    marked = mss(sb).patch(
        f"/api/mailboxes/{KARIM}/messages/{mid}", json={"seen": True}, headers=bearer(karim)
    )
    assert marked.status_code == 200 and marked.json()["seen"] is True
    assert [r["subject"] for r in inbox(sb, karim, KARIM, unread=True)] == ["Résultats INR"]
    assert mss(sb).delete(f"/api/mailboxes/{KARIM}/messages/{mid}", headers=bearer(karim)).status_code == 204
    assert [r["subject"] for r in inbox(sb, karim, KARIM)] == ["Résultats INR"]
    assert mss(sb).get(f"/api/mailboxes/{KARIM}/messages/{mid}", headers=bearer(karim)).status_code == 404


def test_raw_mime_is_accepted_and_kept_byte_for_byte(sb: Sandbox) -> None:
    raw = (
        f"From: {JEANNE}\r\nTo: {KARIM}\r\nSubject: MIME brut\r\nMessage-ID: <brut-1@cabinet.example>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nBonjour.\r\n"
    ).encode()
    answer = mss(sb).post(
        "/api/messages", content=raw, headers={**bearer(sb.psc_token()), "Content-Type": "message/rfc822"}
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["message_id"] == "<brut-1@cabinet.example>"
    karim = sb.psc_token("karim-benali")
    got = mss(sb).get(f"/api/mailboxes/{KARIM}/messages/<brut-1@cabinet.example>/raw", headers=bearer(karim))
    assert got.content == raw


def test_wait_for_message_returns_when_it_arrives_or_404_after_timeout(sb: Sandbox) -> None:
    karim = sb.psc_token("karim-benali")
    late = mss(sb).get(f"/api/mailboxes/{KARIM}/wait", params={"timeout": 0.2}, headers=bearer(karim))
    assert late.status_code == 404 and late.json()["error"] == "timeout"
    result = sent_ok(sb, sb.psc_token(), **{"from": JEANNE, "to": [KARIM], "subject": "Attendu", "body": "."})
    got = mss(sb).get(
        f"/api/mailboxes/{KARIM}/wait",
        params={"message_id": result["message_id"], "timeout": 2},
        headers=bearer(karim),
    )
    assert got.status_code == 200 and got.json()["subject"] == "Attendu"


def test_software_sends_from_its_application_mailbox_only(sb: Sandbox) -> None:
    dmp = sb.psc_token(None, client_id="dpi-valmont", scope="openid")
    ok = send(sb, dmp, **{"from": DPI, "to": [JEANNE], "subject": "CR automatique", "body": "."})
    assert ok.status_code == 201, ok.text
    refused = send(sb, dmp, **{"from": DMP_NOTIFICATIONS, "to": [JEANNE], "subject": "x", "body": "."})
    assert refused.status_code == 403 and refused.json()["error"] == "sender_refused"
    not_his = send(sb, sb.psc_token("jeanne-martin"), **{"from": KARIM, "to": [JEANNE], "subject": "x"})
    assert not_his.status_code == 403


def test_the_dmp_service_sends_its_notifications(sb: Sandbox) -> None:
    token = sb.psc_token(None, client_id="mes-sandbox-dmp", scope="openid")
    result = send(
        sb, token, **{"from": DMP_NOTIFICATIONS, "to": [GABRIEL], "subject": "Accès en urgence", "body": "."}
    )
    assert result.status_code == 201, result.text
    assert inbox(sb, sb.mes_token("gabriel-fontaine"), GABRIEL)[0]["sender"] == DMP_NOTIFICATIONS


def test_a_patient_only_replies_to_a_conversation_a_professional_started(sb: Sandbox) -> None:
    patient = sb.mes_token("dominique-pat-trois")
    first = send(sb, patient, **{"from": DOMINIQUE, "to": [JEANNE], "subject": "Question", "body": "?"})
    assert first.status_code == 403 and first.json()["error"] == "reply_only"
    started = sent_ok(
        sb, sb.psc_token(), **{"from": JEANNE, "to": [DOMINIQUE], "subject": "Vos résultats", "body": "."}
    )
    received = inbox(sb, patient, DOMINIQUE)[0]
    reply = sent_ok(
        sb,
        patient,
        **{"from": DOMINIQUE, "to": [JEANNE], "subject": "Re: Vos résultats", "in_reply_to": received["id"]},
    )
    assert reply["thread"] == started["message_id"]
    jeanne_inbox = inbox(sb, sb.psc_token(), JEANNE)
    assert jeanne_inbox[0]["in_reply_to"] == started["message_id"]
    # Only to the people of that conversation, never to another patient.
    outsider = send(
        sb, patient, **{"from": DOMINIQUE, "to": [KARIM], "subject": "Re", "in_reply_to": received["id"]}
    )
    assert outsider.status_code == 403
    other = send(
        sb, patient, **{"from": DOMINIQUE, "to": [HENRI], "subject": "Re", "in_reply_to": received["id"]}
    )
    assert other.status_code == 403


def test_a_caregiver_with_message_rights_reads_and_replies(sb: Sandbox) -> None:
    sent_ok(sb, sb.psc_token(), **{"from": JEANNE, "to": [HENRI], "subject": "Rendez-vous", "body": "."})
    claire = sb.mes_token("henri-leclerc", actor="aidant", person="claire-leclerc")
    rows = inbox(sb, claire, HENRI)
    assert rows[0]["subject"] == "Rendez-vous"
    reply = send(
        sb, claire, **{"from": HENRI, "to": [JEANNE], "subject": "Re", "in_reply_to": rows[0]["message_id"]}
    )
    assert reply.status_code == 201, reply.text
    # Her own token does not reach her father's mailbox.
    own = sb.mes_token("claire-leclerc")
    assert mss(sb).get(f"/api/mailboxes/{HENRI}/messages", headers=bearer(own)).status_code == 403


def test_a_token_without_messages_scope_is_refused(sb: Sandbox) -> None:
    token = sb.mes_token("dominique-pat-trois", scope="documents.read")
    answer = mss(sb).get(f"/api/mailboxes/{DOMINIQUE}/messages", headers=bearer(token))
    assert answer.status_code == 403 and answer.json()["error"] == "insufficient_scope"


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({}, "missing"),
        ({"Authorization": "Bearer abc.def.ghi"}, "forged"),
        ({"Authorization": "Bearer not-a-jwt"}, "malformed"),
    ],
)
def test_missing_or_forged_tokens_are_refused(sb: Sandbox, headers: dict[str, str], why: str) -> None:
    answer = mss(sb).post("/api/messages", json={"from": JEANNE, "to": [KARIM]}, headers=headers)
    assert answer.status_code == 401, why
    assert answer.json()["error"] == "invalid_token"


def test_a_token_for_another_audience_is_refused(sb: Sandbox) -> None:
    catalog_only = sb.mes_token("dominique-pat-trois")
    parts = catalog_only.split(".")
    tampered = ".".join([parts[0], parts[1], base64.urlsafe_b64encode(b"x" * 64).decode().rstrip("=")])
    answer = mss(sb).get("/api/mailboxes", headers=bearer(tampered))
    assert answer.status_code == 401


def test_unknown_recipients_bad_addresses_and_empty_messages_store_nothing(sb: Sandbox) -> None:
    jeanne = sb.psc_token()
    unknown = send(
        sb, jeanne, **{"from": JEANNE, "to": [KARIM, "personne@inconnu.mssante.fr"], "subject": "x"}
    )
    assert unknown.status_code == 422 and unknown.json()["error"] == "unknown_recipient"
    bad_ins = send(
        sb, jeanne, **{"from": JEANNE, "to": ["279035121518988@patient.mssante.fr"], "subject": "x"}
    )
    assert bad_ins.status_code == 400 and "key" in bad_ins.json()["detail"]
    nobody = send(sb, jeanne, **{"from": JEANNE, "to": [], "subject": "x"})
    assert nobody.status_code == 400
    bad_b64 = send(
        sb,
        jeanne,
        **{"from": JEANNE, "to": [KARIM], "attachments": [{"filename": "a.pdf", "content_base64": "%%%"}]},
    )
    assert bad_b64.status_code == 400
    assert inbox(sb, sb.psc_token("karim-benali"), KARIM) == []
    assert inbox(sb, jeanne, JEANNE, folder="Sent") == []


def test_oversized_and_malformed_raw_messages_are_refused(sb: Sandbox) -> None:
    jeanne = sb.psc_token()
    big = send(
        sb,
        jeanne,
        **{
            "from": JEANNE,
            "to": [KARIM],
            "attachments": [{"filename": "big.bin", "content_base64": b64(b"0" * (11 * 1024 * 1024))}],
        },
    )
    assert big.status_code == 413 and big.json()["error"] == "message_too_large"
    broken = (
        f"From: {JEANNE}\r\nTo: {KARIM}\r\nSubject: cassé\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="XYZ"\r\n\r\nno boundary here\r\n'
    ).encode()
    answer = mss(sb).post(
        "/api/messages", content=broken, headers={**bearer(jeanne), "Content-Type": "message/rfc822"}
    )
    assert answer.status_code == 400 and answer.json()["error"] == "malformed_message"
    no_from = f"To: {KARIM}\r\nSubject: sans expéditeur\r\n\r\ntexte\r\n".encode()
    answer = mss(sb).post(
        "/api/messages", content=no_from, headers={**bearer(jeanne), "Content-Type": "message/rfc822"}
    )
    assert answer.status_code == 400
    assert inbox(sb, sb.psc_token("karim-benali"), KARIM) == []

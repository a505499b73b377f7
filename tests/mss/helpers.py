"""Shared helpers of the MSSanté tests: addresses of the personas, and HTTP shortcuts."""

from __future__ import annotations

import base64
from typing import Any

import httpx

from tests.support import Sandbox, bearer

JEANNE = "jeanne.martin@medecin.mssante.fr"
KARIM = "karim.benali@ch-valmont.mssante.fr"
ELISE = "elise.roux@pharmacien.mssante.fr"
PAUL = "paul.renaud@infirmier.mssante.fr"
CARDIO = "cardiologie@ch-valmont.mssante.fr"
DPI = "dpi@ch-valmont.mssante.fr"
DMP_NOTIFICATIONS = "notifications@dmp.mssante.fr"
OFFICINE = "officine@pharmacie-gare.mssante.fr"
DOMINIQUE_INS = "279035121518989"
DOMINIQUE = f"{DOMINIQUE_INS}@patient.mssante.fr"
HENRI = "141037505608915@patient.mssante.fr"
GABRIEL = "188016912314544@patient.mssante.fr"


def mss(sb: Sandbox) -> httpx.Client:
    return sb.client("mss")


def send(sb: Sandbox, token: str, **body: Any) -> httpx.Response:
    return mss(sb).post("/api/messages", json=body, headers=bearer(token))


def sent_ok(sb: Sandbox, token: str, **body: Any) -> dict[str, Any]:
    answer = send(sb, token, **body)
    assert answer.status_code == 201, answer.text
    result: dict[str, Any] = answer.json()
    return result


def inbox(sb: Sandbox, token: str, address: str, **params: Any) -> list[dict[str, Any]]:
    answer = mss(sb).get(f"/api/mailboxes/{address}/messages", params=params, headers=bearer(token))
    assert answer.status_code == 200, answer.text
    rows: list[dict[str, Any]] = answer.json()
    return rows


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def smtp_client(sb: Sandbox, *, tls: bool = True) -> Any:
    """An ``smtplib`` client on the sandbox's SMTP port, after STARTTLS with its certificate."""
    import smtplib
    import ssl

    client = smtplib.SMTP("127.0.0.1", sb.topology.smtp_port, timeout=10)
    client.ehlo("logiciel.example")
    if tls:
        pem = mss(sb).get("/api/tls/certificate").text
        client.starttls(context=ssl.create_default_context(cadata=pem))
        client.ehlo("logiciel.example")
    return client


def xoauth2(user: str, token: str) -> Any:
    return lambda challenge=None: f"user={user}\x01auth=Bearer {token}\x01\x01"


def imap_client(sb: Sandbox) -> Any:
    """An ``imaplib`` client on the sandbox's IMAP port, after STARTTLS with its certificate."""
    import imaplib
    import ssl

    client = imaplib.IMAP4("127.0.0.1", sb.topology.imap_port, timeout=10)
    pem = mss(sb).get("/api/tls/certificate").text
    client.starttls(ssl_context=ssl.create_default_context(cadata=pem))
    return client

"""MSSanté's own traffic in the console: a raw MIME message with an IHE XDM package posted
over HTTP is opened (headers, parts, METADATA.XML), and an SMTP session, which carries no
W3C trace, is a journey of its own."""

from __future__ import annotations

import html
import io
import re
import smtplib
import ssl
import zipfile
from email.message import EmailMessage

import httpx
import pytest

from tests.support import ADMIN_TOKEN, Sandbox, bearer

pytestmark = pytest.mark.db

JEANNE = "jeanne.martin@medecin.mssante.fr"
KARIM = "karim.benali@ch-valmont.mssante.fr"
METADATA = (
    '<?xml version="1.0" encoding="UTF-8"?><SubmitObjectsRequest xmlns="urn:oasis:names:tc:ebxml-regrep:'
    'xsd:lcm:3.0"><RegistryObjectList><ExtrinsicObject id="Document01" mimeType="text/xml"/>'
    "</RegistryObjectList></SubmitObjectsRequest>"
)


def console(sb: Sandbox) -> httpx.Client:
    return httpx.Client(base_url=sb.url("console"), timeout=30.0, headers=bearer(ADMIN_TOKEN))


def xdm_message() -> EmailMessage:
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("IHE_XDM/SUBSET01/METADATA.XML", METADATA)
        archive.writestr("IHE_XDM/SUBSET01/DOC0001.XML", "<ClinicalDocument/>")
    message = EmailMessage()
    message["From"] = JEANNE
    message["To"] = KARIM
    message["Subject"] = "XDM/1.0/DDM+Compte rendu de consultation"
    message["X-MSS-CODECDA"] = "11488-4"
    message.set_content("Cher confrère, veuillez trouver le compte rendu.")
    message.add_attachment(package.getvalue(), maintype="application", subtype="zip", filename="IHE_XDM.zip")
    return message


def test_a_mime_message_and_its_xdm_package_are_opened(sb: Sandbox) -> None:
    trace = "8bf92f3577b34da6a3ce929d0e0e4736"
    answer = sb.client("mss").post(
        "/api/messages",
        content=xdm_message().as_bytes(),
        headers={
            **bearer(sb.psc_token("jeanne-martin")),
            "Content-Type": "message/rfc822",
            "traceparent": f"00-{trace}-00f067aa0ba902b7-01",
        },
    )
    assert answer.status_code == 201, answer.text
    client = console(sb)
    page = client.get(f"/parcours/{trace}").text
    key = re.search(r'<g class="request" data-key="(mss\.\d+)" data-from="editor" data-to="mss"', page)
    assert key is not None
    detail = html.unescape(client.get(f"/parcours/{trace}/echanges/{key.group(1)}").text)
    assert "XDM/1.0/DDM+Compte rendu de consultation" in detail
    assert "X-MSS-CODECDA" in detail
    assert "Paquet IHE XDM" in detail
    assert "IHE_XDM/SUBSET01/DOC0001.XML" in detail
    assert '<ExtrinsicObject id="Document01"' in detail  # METADATA.XML shown


def test_an_smtp_session_is_a_journey_of_its_own(sb: Sandbox) -> None:
    sb.admin("mss", "DELETE", "exchanges")
    pem = sb.client("mss").get("/api/tls/certificate").text
    token = sb.psc_token("jeanne-martin")
    with smtplib.SMTP("127.0.0.1", sb.topology.smtp_port, timeout=10) as smtp:
        smtp.ehlo("logiciel.example")
        smtp.starttls(context=ssl.create_default_context(cadata=pem))
        smtp.ehlo("logiciel.example")
        smtp.auth("XOAUTH2", lambda challenge=None: f"user={JEANNE}\x01auth=Bearer {token}\x01\x01")
        smtp.send_message(xdm_message())
    client = console(sb)
    listing = client.get("/parcours").text
    found = re.search(r'data-trace="(mss-\d+)"', listing)
    assert found is not None, "the SMTP session is not listed"
    page = client.get(f"/parcours/{found.group(1)}").text
    assert re.search(
        r'<g class="request" data-key="mss\.\d+" data-from="editor" data-to="mss" data-status="250"', page
    )
    assert "SMTP" in page
    assert client.get(f"/parcours/{found.group(1)}/export.mmd").text.count("editor->>+mss: SMTP") == 1
    assert client.get("/parcours/mss-999999").status_code == 200  # none: an empty journey, not an error
    assert client.get("/parcours/hospital-1").status_code == 422

"""Issue #5's "done when": a doctor's software sends a report and an ordonnance over SMTP,
the pharmacist reads it over IMAP and dispenses it, the patient reads both over HTTP."""

from __future__ import annotations

import email
from email import policy
from email.message import EmailMessage

import pytest

from services.mss.ordonnance import formats
from tests.mss.helpers import DOMINIQUE, ELISE, JEANNE, imap_client, inbox, mss, smtp_client, xoauth2
from tests.mss.test_ordonnance import prescription
from tests.support import Sandbox, bearer

pytestmark = pytest.mark.db


def test_report_and_ordonnance_from_the_doctor_to_the_patient_and_the_pharmacist(sb: Sandbox) -> None:
    jeanne = sb.psc_token("jeanne-martin")
    made = mss(sb).post(
        "/api/ordonnances", json=prescription(), params={"send_to_patient": "true"}, headers=bearer(jeanne)
    )
    assert made.status_code == 201, made.text
    number = made.json()["number"]
    pdf = mss(sb).get(f"/api/ordonnances/{number}/pdf", headers=bearer(jeanne)).content
    # The doctor's software mails the report to the patient and the ordonnance to the pharmacist.
    with smtp_client(sb) as client:
        client.auth("XOAUTH2", xoauth2(JEANNE, jeanne))
        report = EmailMessage(policy=policy.SMTP)
        report["From"], report["To"], report["Subject"] = JEANNE, DOMINIQUE, "Compte rendu de consultation"
        report.set_content("Compte rendu de la consultation du jour.")
        client.send_message(report)
        to_pharmacy = EmailMessage(policy=policy.SMTP)
        to_pharmacy["From"], to_pharmacy["To"] = JEANNE, ELISE
        to_pharmacy["Subject"] = f"Ordonnance {number}"
        to_pharmacy.set_content(f"Ordonnance numérique n° {number} pour Mme Pat-Trois.")
        to_pharmacy.add_attachment(pdf, maintype="application", subtype="pdf", filename=f"{number}.pdf")
        client.send_message(to_pharmacy)
    # The pharmacist's software reads it over IMAP, finds the number, and dispenses.
    elise = sb.psc_token("elise-roux", client_id="lgo-officine")
    client = imap_client(sb)
    try:
        client.authenticate("XOAUTH2", lambda _c: f"user={ELISE}\x01auth=Bearer {elise}\x01\x01".encode())
        client.select("INBOX")
        _, data = client.fetch("1", "(RFC822)")
        message = email.message_from_bytes(data[0][1], policy=policy.default)
    finally:
        client.logout()
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    found = formats.normalise(body.get_content().split("n° ")[1].split()[0])
    assert found == number
    dispensed = mss(sb).post(
        f"/api/ordonnances/{found}/dispensations",
        headers=bearer(elise),
        json={"lines": [{"line": 1, "kind": "full"}, {"line": 2, "kind": "full"}]},
    )
    assert dispensed.status_code == 201 and dispensed.json()["status"] == "dispensed"
    # The patient reads both in her mailbox.
    subjects = {r["subject"] for r in inbox(sb, sb.mes_token("dominique-pat-trois"), DOMINIQUE)}
    assert subjects == {"Compte rendu de consultation", f"Votre ordonnance numérique {number}"}

"""Reading and flagging over IMAP with Python's imaplib (pymap over the same store)."""

from __future__ import annotations

import email
from email import policy

import pytest

from tests.mss.helpers import DOMINIQUE, JEANNE, KARIM, imap_client, inbox, mss, sent_ok
from tests.support import Sandbox, bearer

pytestmark = pytest.mark.db


def xoauth2(user: str, token: str) -> bytes:
    return f"user={user}\x01auth=Bearer {token}\x01\x01".encode()


def test_read_and_flag_with_a_token_and_see_it_over_http(sb: Sandbox) -> None:
    jeanne = sb.psc_token("jeanne-martin")
    sent_ok(sb, jeanne, **{"from": JEANNE, "to": [KARIM], "subject": "Lu par IMAP", "body": "Bonjour Karim."})
    sent_ok(sb, jeanne, **{"from": JEANNE, "to": [KARIM], "subject": "Second", "body": "."})
    karim = sb.psc_token("karim-benali")
    client = imap_client(sb)
    try:
        client.authenticate("XOAUTH2", lambda _challenge: xoauth2(KARIM, karim))
        status, folders = client.list()
        assert status == "OK" and any(b"INBOX" in f for f in folders) and any(b"Sent" in f for f in folders)
        status, data = client.select("INBOX")
        assert status == "OK" and data == [b"2"]
        status, data = client.uid("SEARCH", None, "UNSEEN")
        uids = data[0].split()
        assert len(uids) == 2
        status, data = client.uid("FETCH", uids[0], "(RFC822)")
        message = email.message_from_bytes(data[0][1], policy=policy.default)
        assert message["Subject"] == "Lu par IMAP" and "Bonjour Karim." in message.get_body().get_content()
        client.uid("STORE", uids[1], "+FLAGS", r"(\Flagged)")
        status, data = client.uid("SEARCH", None, "UNSEEN")
        assert data[0].split() == [uids[1]]
    finally:
        client.logout()
    rows = {r["subject"]: r for r in inbox(sb, karim, KARIM)}
    assert rows["Lu par IMAP"]["seen"] is True and rows["Second"]["flagged"] is True
    imap = [e for e in sb.admin("mss", "GET", "exchanges").json()["exchanges"] if e["protocol"] == "imap"]
    assert imap and imap[-1]["path"] == f"/imap/{KARIM}"


def test_expunge_deletes_and_a_password_login_works(sb: Sandbox) -> None:
    sent_ok(sb, sb.psc_token(), **{"from": JEANNE, "to": [KARIM], "subject": "À supprimer", "body": "."})
    karim = sb.psc_token("karim-benali")
    password = mss(sb).put(f"/api/mailboxes/{KARIM}/password", headers=bearer(karim)).json()["password"]
    client = imap_client(sb)
    try:
        assert client.login(KARIM, password)[0] == "OK"
        client.select("INBOX")
        client.store("1", "+FLAGS", r"(\Deleted)")
        client.expunge()
        assert client.select("INBOX")[1] == [b"0"]
        assert client.select("Sent")[0] == "OK"
    finally:
        client.logout()
    assert inbox(sb, karim, KARIM) == []


def test_imap_refuses_a_wrong_password_and_someone_elses_mailbox(sb: Sandbox) -> None:
    import imaplib

    client = imap_client(sb)
    try:
        with pytest.raises(imaplib.IMAP4.error):
            client.login(KARIM, "mauvais")
        with pytest.raises(imaplib.IMAP4.error):
            client.authenticate("XOAUTH2", lambda _c: xoauth2(KARIM, sb.psc_token("jeanne-martin")))
        with pytest.raises(imaplib.IMAP4.error):
            client.authenticate("XOAUTH2", lambda _c: xoauth2(KARIM, "forged.token.value"))
    finally:
        client.logout()


def test_a_patient_reads_her_mailbox_over_imap(sb: Sandbox) -> None:
    sent_ok(sb, sb.psc_token(), **{"from": JEANNE, "to": [DOMINIQUE], "subject": "Pour vous", "body": "."})
    token = sb.mes_token("dominique-pat-trois")
    client = imap_client(sb)
    try:
        client.authenticate("XOAUTH2", lambda _c: xoauth2(DOMINIQUE, token))
        assert client.select("INBOX")[1] == [b"1"]
        _, data = client.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        assert b"Pour vous" in data[0][1]
    finally:
        client.logout()


def test_on_loopback_login_is_offered_before_starttls_as_documented(sb: Sandbox) -> None:
    """README: IMAP clients on 127.0.0.1 may authenticate before STARTTLS (pymap's loopback
    rule); SMTP offers AUTH only after it."""
    import imaplib

    password = mss(sb).put(f"/api/mailboxes/{KARIM}/password", headers=bearer(sb.psc_token("karim-benali")))
    client = imaplib.IMAP4("127.0.0.1", sb.topology.imap_port, timeout=10)
    try:
        assert "LOGINDISABLED" not in client.capabilities and "STARTTLS" in client.capabilities
        assert client.login(KARIM, password.json()["password"])[0] == "OK"
    finally:
        client.logout()


def test_a_snapshot_s_certificate_is_presented_without_a_restart(sb: Sandbox) -> None:
    import smtplib
    import ssl

    from services.mss import tls

    before = mss(sb).get("/api/tls/certificate").text
    snapshot = sb.admin("mss", "GET", "snapshot").json()
    cert_pem, key_pem = tls.generate()
    snapshot["tables"]["tls_material"][0].update(certificate_pem=cert_pem, key_pem=key_pem)
    assert sb.admin("mss", "PUT", "snapshot", json=snapshot).status_code == 200
    assert mss(sb).get("/api/tls/certificate").text == cert_pem != before

    client = imap_client(sb)  # trusts the certificate the API serves now
    client.logout()
    with smtplib.SMTP("127.0.0.1", sb.topology.smtp_port, timeout=10) as smtp:
        smtp.starttls(context=ssl.create_default_context(cadata=cert_pem))
        assert smtp.ehlo()[0] == 250
    with (
        smtplib.SMTP("127.0.0.1", sb.topology.smtp_port, timeout=10) as smtp,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        smtp.starttls(context=ssl.create_default_context(cadata=before))
    sb.reset()  # and back: the seed's certificate again
    client = imap_client(sb)
    client.logout()

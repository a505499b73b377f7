"""Sending over SMTP with Python's smtplib: STARTTLS, AUTH, the reply codes, same delivery."""

from __future__ import annotations

import smtplib
from email import policy
from email.message import EmailMessage

import pytest

from tests.mss.helpers import DOMINIQUE, JEANNE, KARIM, inbox, mss, smtp_client, xoauth2
from tests.support import Sandbox, bearer

pytestmark = pytest.mark.db


def letter(sender: str, to: str, subject: str = "Compte rendu", body: str = "Texte.") -> EmailMessage:
    message = EmailMessage(policy=policy.SMTP)  # CRLF line ends, as on the wire
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    return message


def test_starttls_xoauth2_and_delivery_to_the_same_store(sb: Sandbox) -> None:
    with smtp_client(sb) as client:
        assert "XOAUTH2" in client.esmtp_features["auth"] and "PLAIN" in client.esmtp_features["auth"]
        client.auth("XOAUTH2", xoauth2(JEANNE, sb.psc_token("jeanne-martin")))
        message = letter(JEANNE, KARIM, "Par SMTP")
        message.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf", filename="cr.pdf")
        refused = client.send_message(message)
        assert refused == {}
    rows = inbox(sb, sb.psc_token("karim-benali"), KARIM)
    assert rows[0]["subject"] == "Par SMTP" and rows[0]["attachments"][0]["filename"] == "cr.pdf"
    assert inbox(sb, sb.psc_token(), JEANNE, folder="Sent")[0]["subject"] == "Par SMTP"
    smtp = [e for e in sb.admin("mss", "GET", "exchanges").json()["exchanges"] if e["protocol"] == "smtp"]
    assert smtp and "RCPT TO:<karim.benali@ch-valmont.mssante.fr>" in smtp[-1]["request"]["body"]


def test_oauthbearer_with_the_data_reply_naming_the_message(sb: Sandbox) -> None:
    token = sb.psc_token("jeanne-martin")
    with smtp_client(sb) as client:
        client.auth("OAUTHBEARER", lambda challenge=None: f"n,a={JEANNE},\x01auth=Bearer {token}\x01\x01")
        client.mail(JEANNE)
        client.rcpt(KARIM)
        code, reply = client.data(letter(JEANNE, KARIM).as_bytes())
    assert code == 250 and b"queued as <" in reply


def test_authentication_is_required_and_only_after_starttls(sb: Sandbox) -> None:
    with smtp_client(sb, tls=False) as client:
        assert "auth" not in client.esmtp_features
        assert "starttls" in client.esmtp_features
        code, reply = client.mail(JEANNE)
        assert code == 530 and b"Authentication required" in reply
    with smtp_client(sb) as client:
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            client.auth("XOAUTH2", xoauth2(JEANNE, "not.a.token"))
        assert refused.value.smtp_code == 535


def test_a_mailbox_password_works_with_plain_and_login(sb: Sandbox) -> None:
    answer = mss(sb).put(f"/api/mailboxes/{KARIM}/password", headers=bearer(sb.psc_token("karim-benali")))
    assert answer.status_code == 200
    password = answer.json()["password"]
    with smtp_client(sb) as client:
        client.login(KARIM, password)
        assert client.sendmail(KARIM, [JEANNE], letter(KARIM, JEANNE, "Par mot de passe").as_bytes()) == {}
    with smtp_client(sb) as client, pytest.raises(smtplib.SMTPAuthenticationError):
        client.login(KARIM, "mauvais")
    # Another professional's mailbox cannot be used with Karim's password.
    with smtp_client(sb) as client:
        client.login(KARIM, password)
        code, _ = client.mail(JEANNE)
        assert code == 550
    assert inbox(sb, sb.psc_token(), JEANNE)[0]["subject"] == "Par mot de passe"


def test_refused_sender_unknown_recipient_and_bad_citizen_address_codes(sb: Sandbox) -> None:
    with smtp_client(sb) as client:
        client.auth("XOAUTH2", xoauth2(JEANNE, sb.psc_token("jeanne-martin")))
        code, reply = client.mail(KARIM)
        assert (code, reply[:5]) == (550, b"5.7.1")
        assert client.mail(JEANNE)[0] == 250
        code, reply = client.rcpt("personne@inconnu.mssante.fr")
        assert (code, reply[:5]) == (550, b"5.1.1")
        code, reply = client.rcpt("279035121518988@patient.mssante.fr")
        assert (code, reply[:5]) == (553, b"5.1.3")
        assert client.rcpt(DOMINIQUE)[0] == 250
        client.rset()
    assert inbox(sb, sb.mes_token("dominique-pat-trois"), DOMINIQUE) == []


def test_address_syntax_is_checked_on_every_command(sb: Sandbox) -> None:
    """The listener remembers parsed MAIL/RCPT arguments: the same bad one is refused each
    time, in every session, and a good one after it still works."""
    for _ in range(2):
        with smtp_client(sb) as client:
            client.auth("XOAUTH2", xoauth2(JEANNE, sb.psc_token("jeanne-martin")))
            assert client.docmd("MAIL FROM:<jeanne martin@@medecin>")[0] == 553
            assert client.mail(JEANNE)[0] == 250
            assert client.docmd("RCPT TO:<karim benali@@ch-valmont>")[0] == 553
            assert client.docmd("RCPT TO:<karim.benali@ch-valmont.mssante.fr>")[0] == 250


def test_malformed_and_oversized_messages_are_refused_and_nothing_is_stored(sb: Sandbox) -> None:
    broken = (
        f"From: {JEANNE}\r\nTo: {KARIM}\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="B"\r\n\r\npas de partie\r\n'
    ).encode()
    with smtp_client(sb) as client:
        client.auth("XOAUTH2", xoauth2(JEANNE, sb.psc_token("jeanne-martin")))
        client.mail(JEANNE)
        client.rcpt(KARIM)
        code, reply = client.data(broken)
        assert (code, reply[:5]) == (554, b"5.6.0")
        assert int(client.esmtp_features["size"]) == 10 * 1024 * 1024
    with smtp_client(sb) as client:
        client.auth("XOAUTH2", xoauth2(JEANNE, sb.psc_token("jeanne-martin")))
        client.mail(JEANNE)
        client.rcpt(KARIM)
        code, reply = client.data(letter(JEANNE, KARIM, body=("0" * 70 + "\n") * 160_000).as_bytes())
        assert code == 552, reply
    assert inbox(sb, sb.psc_token("karim-benali"), KARIM) == []


def test_a_patient_over_smtp_only_replies(sb: Sandbox) -> None:
    token = sb.mes_token("dominique-pat-trois")
    with smtp_client(sb) as client:
        client.auth("XOAUTH2", xoauth2(DOMINIQUE, token))
        client.mail(DOMINIQUE)
        client.rcpt(JEANNE)
        code, reply = client.data(letter(DOMINIQUE, JEANNE, "Bonjour docteur").as_bytes())
        assert (code, reply[:5]) == (550, b"5.7.1")
    assert inbox(sb, sb.psc_token(), JEANNE) == []


def test_the_fault_book_applies_to_smtp(sb: Sandbox) -> None:
    rule = sb.admin(
        "mss", "POST", "faults", json={"method": "SMTP:RCPT", "path": "*", "status": 503, "count": 1}
    )
    assert rule.status_code == 201
    with smtp_client(sb) as client:
        client.auth("XOAUTH2", xoauth2(JEANNE, sb.psc_token("jeanne-martin")))
        client.mail(JEANNE)
        assert client.rcpt(KARIM)[0] == 421
    with smtp_client(sb) as client:
        client.auth("XOAUTH2", xoauth2(JEANNE, sb.psc_token("jeanne-martin")))
        client.mail(JEANNE)
        assert client.rcpt(KARIM)[0] == 250


def test_a_patient_replies_over_smtp_to_a_professional_s_message(sb: Sandbox) -> None:
    started = (
        mss(sb)
        .post(
            "/api/messages",
            json={"from": JEANNE, "to": [DOMINIQUE], "subject": "Vos résultats", "body": "."},
            headers=bearer(sb.psc_token("jeanne-martin")),
        )
        .json()
    )
    with smtp_client(sb) as client:
        client.auth("XOAUTH2", xoauth2(DOMINIQUE, sb.mes_token("dominique-pat-trois")))
        reply = letter(DOMINIQUE, JEANNE, "Re: Vos résultats", "Merci docteur.")
        reply["In-Reply-To"] = started["message_id"]
        assert client.send_message(reply) == {}
    got = inbox(sb, sb.psc_token(), JEANNE)[0]
    assert got["thread"] == started["message_id"] and got["sender"] == DOMINIQUE


def test_an_xdm_package_over_smtp_is_acknowledged(sb: Sandbox) -> None:
    from services.mss.mail import xdm

    traits = xdm.PatientTraits(
        ins="279035121518989",
        ins_oid="1.2.250.1.213.1.4.10",
        family_name="PAT-TROIS",
        given_name="DOMINIQUE",
        birth_date="19790328",
        gender="F",
    )
    doc = xdm.XdmDocument(
        data=b"%PDF-1.4 fictif",
        mime_type="application/pdf",
        title="Compte rendu",
        type_code="11488-4",
        type_display="Consult note",
        class_code="11",
        class_display="Synthèse",
    )
    package = xdm.build([doc], patient=traits, author_idnat="899700112545", title="Compte rendu")
    message = letter(JEANNE, KARIM, "XDM/1.0/DDM+Compte rendu")
    message["Disposition-Notification-To"] = JEANNE
    message["X-MSS-INS"] = "O"
    message.add_attachment(package, maintype="application", subtype="zip", filename="IHE_XDM.zip")
    with smtp_client(sb) as client:
        client.auth("XOAUTH2", xoauth2(JEANNE, sb.psc_token("jeanne-martin")))
        client.send_message(message)
    jeanne = sb.psc_token("jeanne-martin")
    ack = mss(sb).get(
        f"/api/mailboxes/{JEANNE}/wait", params={"timeout": 5, "from": KARIM}, headers=bearer(jeanne)
    )
    assert ack.status_code == 200 and ack.json()["subject"].startswith("Accusé de réception")
    raw = (
        mss(sb)
        .get(f"/api/mailboxes/{JEANNE}/messages/{ack.json()['id']}/raw", headers=bearer(jeanne))
        .content
    )
    assert b"Disposition: automatic-action/MDN-sent-automatically; processed" in raw


def test_a_long_session_keeps_a_bounded_transcript(sb: Sandbox) -> None:
    import time

    from services.mss.smtp import TRANSCRIPT_LINES

    count = TRANSCRIPT_LINES // 3 + 4  # MAIL, RCPT and DATA each: a dozen lines too many
    with smtp_client(sb) as client:
        client.auth("XOAUTH2", xoauth2(JEANNE, sb.psc_token("jeanne-martin")))
        for n in range(count):
            assert client.sendmail(JEANNE, [KARIM], letter(JEANNE, KARIM, f"Message {n}").as_bytes()) == {}
    for _ in range(50):  # recorded when the server sees the connection close
        smtp = [e for e in sb.admin("mss", "GET", "exchanges").json()["exchanges"] if e["protocol"] == "smtp"]
        if smtp:
            break
        time.sleep(0.05)
    body = smtp[-1]["request"]["body"]
    assert body.count("\n") == TRANSCRIPT_LINES
    assert body.endswith(f"... and {3 * count - TRANSCRIPT_LINES} more commands")
    assert smtp[-1]["status"] == 250
    assert len(inbox(sb, sb.psc_token("karim-benali"), KARIM, limit=200)) == count


def test_concurrent_sessions_are_all_stored_with_increasing_uids(sb: Sandbox) -> None:
    """Messages of several kept-open sessions share the writer's batches (group commit):
    each is answered 250 once stored, none is lost, and every mailbox's UIDs stay unique
    and below its next UID."""
    from concurrent.futures import ThreadPoolExecutor

    token = sb.psc_token("jeanne-martin")
    sessions, each = 6, 5

    def session(n: int) -> list[int]:
        with smtp_client(sb) as client:
            client.auth("XOAUTH2", xoauth2(JEANNE, token))
            codes = []
            for m in range(each):
                client.mail(JEANNE)
                client.rcpt(KARIM)
                codes.append(client.data(letter(JEANNE, KARIM, f"Lot {n}.{m}").as_bytes())[0])
            return codes

    with ThreadPoolExecutor(sessions) as pool:
        codes = [code for codes in pool.map(session, range(sessions)) for code in codes]
    assert codes == [250] * sessions * each
    tables = sb.admin("mss", "GET", "snapshot").json()["tables"]
    subjects = {
        (row["mailbox"], row["folder"]): set()
        for row in tables["messages"]
        if row["subject"].startswith("Lot ")
    }
    for row in tables["messages"]:
        if row["subject"].startswith("Lot "):
            subjects[(row["mailbox"], row["folder"])].add(row["subject"])
    expected = {f"Lot {n}.{m}" for n in range(sessions) for m in range(each)}
    assert subjects == {(JEANNE, "Sent"): expected, (KARIM, "INBOX"): expected}
    next_uid = {box["address"]: box["next_uid"] for box in tables["mailboxes"]}
    for address in (JEANNE, KARIM):
        uids = [row["uid"] for row in tables["messages"] if row["mailbox"] == address]
        assert len(uids) == len(set(uids)) and max(uids) < next_uid[address]
    uid_of = {row["subject"]: row["uid"] for row in tables["messages"] if row["mailbox"] == KARIM}
    for n in range(sessions):  # one session's messages: stored in the order they were sent
        uids = [uid_of[f"Lot {n}.{m}"] for m in range(each)]
        assert uids == sorted(uids)


def test_the_mailbox_index_keeps_no_rows_read_while_it_was_dropped() -> None:
    """A reset (or snapshot load) while the index is being read: what was read is used
    once but not kept, and the next lookup reads again."""
    from services.mss.models import Mailbox
    from services.mss.service import BoxInfo, MailboxIndex

    loads: list[str] = []

    def load() -> dict[str, BoxInfo]:
        loads.append("read")
        if len(loads) == 1:
            index.forget()  # the reset lands while the first read is under way
        box = Mailbox(address=KARIM, type="PER", holder="1", display_name="K")
        return {KARIM: BoxInfo(KARIM, "PER", "1", None, frozenset(), box)}

    index = MailboxIndex(load)
    assert index.get(KARIM) is not None
    assert index.rows()[KARIM].address == KARIM
    assert index.rows() is index.rows()  # kept from the second read on
    assert len(loads) == 2
    index.forget()
    assert index.get(KARIM) is not None and len(loads) == 3


def test_a_batch_that_fails_to_store_is_answered_451_and_nothing_of_it_is_stored(sb: Sandbox) -> None:
    """The database refuses one message (a trigger, as a full disk would): the batch it
    shares with other sessions' messages is rolled back, and each of them is answered with
    a transient 451 (the client keeps it), never 250; what was answered 250 is stored."""
    from concurrent.futures import ThreadPoolExecutor

    from sqlalchemy import create_engine, text

    from shared.db.engine import normalise_url

    url = sb.topology.database_urls.get("mss") or f"sqlite:///{sb.topology.data_dir / 'mss.db'}"
    engine = create_engine(normalise_url(url))
    sqlite = engine.dialect.name == "sqlite"
    create = (
        [
            "CREATE TRIGGER refuse_boom BEFORE INSERT ON messages WHEN NEW.subject LIKE 'Boom%' "
            "BEGIN SELECT RAISE(ABORT, 'simulated storage failure'); END"
        ]
        if sqlite
        else [
            "CREATE FUNCTION refuse_boom() RETURNS trigger AS $$ BEGIN IF NEW.subject LIKE 'Boom%' "
            "THEN RAISE EXCEPTION 'simulated storage failure'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER refuse_boom BEFORE INSERT ON messages "
            "FOR EACH ROW EXECUTE FUNCTION refuse_boom()",
        ]
    )
    drop = (
        ["DROP TRIGGER refuse_boom"]
        if sqlite
        else ["DROP TRIGGER refuse_boom ON messages", "DROP FUNCTION refuse_boom()"]
    )
    token = sb.psc_token("jeanne-martin")
    subjects = ["Boom", "Lot A", "Lot B", "Lot C"]

    def session(subject: str) -> int:
        with smtp_client(sb) as client:
            client.auth("XOAUTH2", xoauth2(JEANNE, token))
            client.mail(JEANNE)
            client.rcpt(KARIM)
            return client.data(letter(JEANNE, KARIM, subject).as_bytes())[0]

    with engine.begin() as connection:
        for statement in create:
            connection.execute(text(statement))
    try:
        with ThreadPoolExecutor(len(subjects)) as pool:
            codes = dict(zip(subjects, pool.map(session, subjects), strict=True))
    finally:
        with engine.begin() as connection:
            for statement in drop:
                connection.execute(text(statement))
        engine.dispose()
    assert codes["Boom"] == 451 and set(codes.values()) <= {250, 451}
    stored = {row["subject"] for row in sb.admin("mss", "GET", "snapshot").json()["tables"]["messages"]}
    assert {s for s, code in codes.items() if code == 250} == stored & set(subjects)


def test_pipelined_commands_are_answered_in_order(sb: Sandbox) -> None:
    with smtp_client(sb) as client:
        assert client.has_extn("pipelining")
        client.auth("XOAUTH2", xoauth2(JEANNE, sb.psc_token("jeanne-martin")))
        # RFC 2920: the envelope and DATA in one write; one reply each, in order.
        client.send(
            f"MAIL FROM:<{JEANNE}>\r\nRCPT TO:<personne@inconnu.mssante.fr>\r\nRCPT TO:<{KARIM}>\r\nDATA\r\n"
        )
        assert [client.getreply()[0] for _ in range(4)] == [250, 550, 250, 354]
        client.send(letter(JEANNE, KARIM, "En pipeline").as_bytes() + b".\r\n")
        assert client.getreply()[0] == 250
    assert inbox(sb, sb.psc_token("karim-benali"), KARIM)[0]["subject"] == "En pipeline"

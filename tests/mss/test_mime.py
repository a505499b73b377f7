"""Reading and building messages with the cheaper header path gives what ``policy.default``
gives; UIDs stay unique per mailbox when a message has several copies in one mailbox."""

from __future__ import annotations

from email import policy
from email.parser import BytesParser

import pytest

from services.mss.mail import mime
from tests.mss.helpers import JEANNE, KARIM, inbox, sent_ok
from tests.support import Sandbox

CORPUS = [
    b"From: <a@b.fr>\r\nTo: <c@d.fr>\r\nSubject:  two  spaces  \r\nX-MSS-INS: O\r\n\r\nbody\r\n",
    (
        b'From: =?utf-8?q?J=C3=A9r=C3=B4me?= <a@b.fr>\r\nTo: "Martin, Jeanne" <j@x.fr>,\r\n k@y.fr\r\n'
        b"Cc: undisclosed-recipients:;\r\nSubject: =?utf-8?b?w6lsw6h2ZQ==?= suite\r\n\r\nx"
    ),
    (
        "From: Jérôme <a@b.fr>\r\nTo: j@x.fr\r\nSubject: Compte rendu — élève\r\n folded\r\n"
        "Message-ID: <abc@def>\r\nIn-Reply-To:\r\n <zz@yy>\r\nReferences: <a@b>\r\n <c@d>\r\n"
        "Disposition-Notification-To: Dr A <a@b.fr>\r\n\r\nx"
    ).encode(),
    (
        b'From: a@b.fr\r\nTo: c@d.fr\r\nContent-Type: multipart/mixed; boundary="XX"\r\n\r\n--XX\r\n'
        b"Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        b"=E9t=E9\r\n--XX\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment;\r\n"
        b" filename*=utf-8''r%C3%A9sum%C3%A9.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"QUJD\r\n--XX--\r\n"
    ),
]


def _fields(parsed: mime.ParsedMessage) -> dict[str, object]:
    fields = {k: v for k, v in vars(parsed).items() if k not in ("message", "generated_id")}
    if parsed.generated_id:
        fields.pop("message_id")
    fields["headers"] = [
        parsed.header_values(name) for name in ("X-MSS-INS", "Disposition-Notification-To", "Content-Type")
    ]
    return fields


@pytest.mark.parametrize("raw", CORPUS)
def test_parsing_reads_what_policy_default_reads(raw: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = _fields(mime.parse(raw))
    monkeypatch.setattr(mime, "_PARSE_POLICY", policy.default)
    assert fast == _fields(mime.parse(raw))


@pytest.mark.parametrize("raw", CORPUS)
def test_the_header_index_reads_what_message_get_reads(raw: bytes) -> None:
    parsed = mime.parse(raw)
    names = [name for name, _ in parsed.message.raw_items()] + ["X-Absent"]
    for name in names + [n.upper() for n in names] + [n.lower() for n in names]:
        first = parsed.message.get(name)
        assert parsed.header(name) == (None if first is None else str(first))
        assert parsed.header_values(name) == [str(v) for v in parsed.message.get_all(name, [])]


def test_parsed_headers_are_decoded() -> None:
    parsed = mime.parse(CORPUS[1])
    assert parsed.subject == "élève suite"
    assert parsed.to == ["j@x.fr", "k@y.fr"]
    parsed = mime.parse(CORPUS[2])
    assert parsed.subject == "Compte rendu — élève folded"
    assert parsed.in_reply_to == "<zz@yy>" and parsed.references == ["<a@b>", "<c@d>"]
    assert parsed.attachments == [] and parsed.body == "x"


@pytest.mark.parametrize(
    ("sender_name", "subject"),
    [("Dr Jeanne Martin", "Bench"), ("Martin, Jeanne (Dr.)", "Résultat «urgent» " + "x" * 90)],
)
def test_a_built_message_reads_back_as_with_policy_smtp(
    sender_name: str, subject: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def built() -> dict[str, object]:
        message = mime.build(
            sender=JEANNE,
            sender_name=sender_name,
            to=["Karim Benali <karim.benali@ch-valmont.mssante.fr>"],
            cc=[],
            subject=subject,
            body="Bonjour é\n" * 3,
            attachments=[mime.Attachment("compte rendu é.pdf", "application/pdf", b"%PDF-1.4")],
            headers={"X-MSS-INS": "N", "Disposition-Notification-To": JEANNE},
            in_reply_to="<x@y>",
        )
        raw = message.as_bytes()
        head = raw.split(b"\r\n\r\n")[0].split(b"\r\n")
        assert all(len(line) <= 78 for line in head)  # long ones refolded; the Message-ID fits
        reread = BytesParser(policy=policy.default).parsebytes(raw)
        assert str(reread["From"]).startswith(f'"{sender_name}"' if "," in sender_name else sender_name)
        fields = _fields(mime.parse(raw))
        fields.pop("message_id")
        fields.pop("headers")
        return fields

    fast = built()
    monkeypatch.setattr(mime, "_BUILD_POLICY", policy.SMTP)
    assert fast == built()


def test_header_injection_is_still_refused() -> None:
    with pytest.raises(ValueError, match="linefeed"):
        mime.build(
            sender=JEANNE,
            sender_name="",
            to=[f"{KARIM}\r\nBcc: x@y.fr"],
            cc=[],
            subject="s",
            body="",
            attachments=[],
            headers={},
        )


@pytest.mark.db
def test_a_message_to_oneself_takes_two_uids_of_the_mailbox(sb: Sandbox) -> None:
    token = sb.psc_token("jeanne-martin")
    sent_ok(sb, token, **{"from": JEANNE, "to": [JEANNE, KARIM], "subject": "À moi-même", "body": "."})
    sent_ok(sb, token, **{"from": JEANNE, "to": [KARIM], "subject": "Ensuite", "body": "."})
    mine = inbox(sb, token, JEANNE, folder="INBOX") + inbox(sb, token, JEANNE, folder="Sent")
    uids = sorted(row["uid"] for row in mine)
    assert len(mine) == 3 and len(set(uids)) == 3
    assert [row["uid"] for row in inbox(sb, sb.psc_token("karim-benali"), KARIM)] == [2, 1]

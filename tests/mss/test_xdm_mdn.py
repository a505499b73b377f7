"""IHE_XDM.zip packages built here and read back; RFC 8098 MDNs with each code 900-906."""

from __future__ import annotations

import io
import zipfile
from email import policy
from email.parser import BytesParser
from typing import Any

import pytest

from services.mss.mail import mdn, xdm
from tests.mss.helpers import DOMINIQUE, DOMINIQUE_INS, GABRIEL, JEANNE, KARIM, b64, inbox, mss, send
from tests.support import Sandbox, bearer

pytestmark = pytest.mark.db

OID = "1.2.250.1.213.1.4.10"
DOMINIQUE_TRAITS = xdm.PatientTraits(
    ins=DOMINIQUE_INS,
    ins_oid=OID,
    family_name="PAT-TROIS",
    given_name="DOMINIQUE",
    birth_date="19790328",
    gender="F",
)


def package(
    traits: xdm.PatientTraits = DOMINIQUE_TRAITS,
    *,
    cda_traits: xdm.PatientTraits | None = None,
    replaces: str | None = None,
    author: str = "899700112545",
    unique_id: str | None = None,
) -> bytes:
    cda = xdm.minimal_cda(
        code="11488-4",
        display="Consult note",
        title="Compte rendu",
        patient=cda_traits or traits,
        author_idnat=author,
    )
    doc = xdm.XdmDocument(
        data=cda,
        mime_type="text/xml",
        title="Compte rendu de consultation",
        type_code="11488-4",
        type_display="Consult note",
        class_code="11",
        class_display="Synthèse",
    )
    if unique_id:
        doc.unique_id = unique_id
    return xdm.build([doc], patient=traits, author_idnat=author, title="Compte rendu", replaces=replaces)


def test_a_package_is_read_back() -> None:
    data = package()
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert "IHE_XDM/SUBSET01/METADATA.XML" in names and "IHE_XDM/SUBSET01/DOC0001.XML" in names
    assert "INDEX.HTM" in names and "README.TXT" in names
    [doc] = xdm.read(data)
    assert doc.patient is not None and doc.patient.ins == DOMINIQUE_INS and doc.patient.ins_oid == OID
    assert (doc.patient.family_name, doc.patient.birth_date, doc.patient.gender) == (
        "PAT-TROIS",
        "19790328",
        "F",
    )
    assert (doc.type_code, doc.class_code, doc.author) == ("11488-4", "11", "899700112545")
    facts = xdm.read_cda(doc.data)
    assert facts is not None and facts.code == "11488-4" and facts.patient.ins == DOMINIQUE_INS
    with pytest.raises(xdm.XdmError):
        xdm.read(b"not a zip")


def send_xdm(sb: Sandbox, data: bytes, to: str = KARIM, **headers: str) -> dict[str, Any]:
    answer = send(
        sb,
        sb.psc_token("jeanne-martin"),
        **{
            "from": JEANNE,
            "to": [to],
            "subject": "XDM/1.0/DDM+Compte rendu de consultation",
            "body": "Compte rendu en pièce jointe.",
            "attachments": [
                {"filename": "IHE_XDM.zip", "content_type": "application/zip", "content_base64": b64(data)}
            ],
            "headers": {"Disposition-Notification-To": JEANNE, "X-MSS-CODECDA": "11488-4", **headers},
        },
    )
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def acknowledgement(sb: Sandbox, sent: dict[str, Any]) -> tuple[dict[str, str], Any]:
    jeanne = sb.psc_token("jeanne-martin")
    [ack_id] = sent["acknowledgements"]
    raw = mss(sb).get(f"/api/mailboxes/{JEANNE}/messages/{ack_id}/raw", headers=bearer(jeanne)).content
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert message.get_content_type() == "multipart/report"
    assert message.get_param("report-type") == "disposition-notification"
    part = next(p for p in message.walk() if p.get_content_type() == "message/disposition-notification")
    payload = part.get_payload()
    if isinstance(payload, str):
        return mdn.parse_disposition(payload), message
    return {name: " ".join(str(value).split()) for name, value in payload[0].items()}, message


def test_success_mdn_and_integrated_document(sb: Sandbox) -> None:
    sent = send_xdm(sb, package())
    fields, message = acknowledgement(sb, sent)
    assert fields["Disposition"] == "automatic-action/MDN-sent-automatically; processed"
    assert fields["Original-Message-ID"] == sent["message_id"]
    assert fields["Final-Recipient"] == f"rfc822;{KARIM}"
    assert message["From"] == KARIM and message["In-Reply-To"] == sent["message_id"]
    assert not str(message["Subject"]).startswith("[KO")


@pytest.mark.parametrize(
    ("code", "build"),
    [
        (
            "902",
            lambda: package(
                xdm.PatientTraits(
                    ins="180017505600103", ins_oid=OID, family_name="X", birth_date="19800101", gender="M"
                )
            ),
        ),
        ("903", lambda: package(xdm.PatientTraits(ins=None, ins_oid=None, family_name="X"))),
        (
            "904",
            lambda: package(
                cda_traits=xdm.PatientTraits(
                    ins="188016912314544",
                    ins_oid=OID,
                    family_name="FONTAINE",
                    birth_date="19880109",
                    gender="M",
                )
            ),
        ),
        ("905", lambda: package(xdm.PatientTraits(ins=DOMINIQUE_INS, ins_oid=OID, family_name="PAT-TROIS"))),
        ("906", lambda: b"PK\x03\x04 ce n'est pas un zip"),
    ],
)
def test_integration_errors_are_acknowledged_with_their_code(sb: Sandbox, code: str, build: Any) -> None:
    sent = send_xdm(sb, build())
    fields, message = acknowledgement(sb, sent)
    assert fields["Disposition"].startswith(
        f"automatic-action/MDN-sent-automatically; processed/Error: {code}^"
    )
    assert str(message["Subject"]).startswith(f"[KO Intégration système !][{code}] XDM/1.0/DDM+")
    # The original package travels back with the error.
    assert any(p.get_filename() == "IHE_XDM.zip" for p in message.walk())


def test_replacement_codes_900_and_901(sb: Sandbox) -> None:
    first = package(unique_id="2.25.1001")
    assert acknowledgement(sb, send_xdm(sb, first))[0]["Disposition"].endswith("processed")
    unknown = acknowledgement(sb, send_xdm(sb, package(replaces="2.25.999")))[0]
    assert "Error: 900^" in unknown["Disposition"]
    other_author = acknowledgement(sb, send_xdm(sb, package(replaces="2.25.1001", author="899700223011")))[0]
    assert "Error: 901^" in other_author["Disposition"]
    ok = acknowledgement(sb, send_xdm(sb, package(replaces="2.25.1001", unique_id="2.25.1002")))[0]
    assert ok["Disposition"].endswith("processed")
    twice = acknowledgement(sb, send_xdm(sb, package(replaces="2.25.1001")))[0]
    assert "Error: 900^" in twice["Disposition"]


def test_a_document_for_another_patient_sent_to_a_citizen_mailbox_is_904(sb: Sandbox) -> None:
    fields, _ = acknowledgement(sb, send_xdm(sb, package(), to=GABRIEL))
    assert "Error: 904^" in fields["Disposition"]
    fields, _ = acknowledgement(sb, send_xdm(sb, package(), to=DOMINIQUE))
    assert fields["Disposition"].endswith("processed")


def test_x_mss_headers_are_checked(sb: Sandbox) -> None:
    jeanne = sb.psc_token("jeanne-martin")
    bad = send(
        sb, jeanne, **{"from": JEANNE, "to": [KARIM], "subject": "x", "headers": {"X-MSS-INS": "peut-être"}}
    )
    assert bad.status_code == 400 and bad.json()["error"] == "malformed_message"
    mismatch = send_xdm(sb, package(), **{"X-MSS-CODECDA": "34133-9"})
    assert "Error: 906^" in acknowledgement(sb, mismatch)[0]["Disposition"]
    assert len(inbox(sb, sb.psc_token("karim-benali"), KARIM)) == 1


def test_no_acknowledgement_unless_asked(sb: Sandbox) -> None:
    answer = send(sb, sb.psc_token("jeanne-martin"), **{"from": JEANNE, "to": [KARIM], "subject": "sans AR"})
    assert answer.status_code == 201 and answer.json()["acknowledgements"] == []
    assert inbox(sb, sb.psc_token("jeanne-martin"), JEANNE) == []

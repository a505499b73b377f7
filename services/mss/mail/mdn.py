"""Acknowledgements: RFC 8098 Message Disposition Notifications, as MSSanté uses them.

Sent only when the message asks with ``Disposition-Notification-To`` (RFC 8098 §2.1).
``multipart/report; report-type=disposition-notification`` (RFC 6522) with a readable
part, the ``message/disposition-notification`` part (§3.2: ``Reporting-UA``,
``Original-Recipient``, ``Final-Recipient``, ``Original-Message-ID``, ``Disposition``)
and, on an integration error, the original attachments again. The MSSanté convention
(IG-hl7v2-volet-trans-lps-doc-cda-courriel-mss, struct-msg-mdn.md / error-codes.md):
``Disposition: automatic-action/MDN-sent-automatically; processed`` on success,
``...; processed/Error: <code>^<label>`` on an integration error (codes 900-906), and the
subject ``[KO Intégration système !][<code>] <original subject>``.
"""

from __future__ import annotations

import unicodedata
from email import policy
from email.message import EmailMessage
from email.utils import formatdate

from services.mss.mail.mime import Attachment, new_message_id

REPORTING_UA = "mss.mes-sandbox.localhost; mes-sandbox MSSante"

#: ERR-5 integration error codes (fr-ecosystem.md §3.2).
ERROR_LABELS = {
    "900": "Version du document incorrecte pour un remplacement ou une suppression",
    "901": "Auteur non autorisé à remplacer ou supprimer le document",
    "902": "Patient inconnu",
    "903": "INS absent du document",
    "904": "INS ne correspondant pas",
    "905": "INS incomplet (traits d'identité manquants)",
    "906": "Autre erreur d'intégration",
}


def build(
    *,
    reporter: str,
    to: str,
    original_message_id: str,
    original_subject: str,
    original_recipient: str,
    error: str | None = None,
    explanation: str = "",
    attachments: list[Attachment] | None = None,
) -> EmailMessage:
    """The MDN ``reporter`` (the final recipient) sends to ``to``."""
    report = EmailMessage(policy=policy.SMTP)
    report["From"] = reporter
    report["To"] = to
    if error:
        report["Subject"] = f"[KO Intégration système !][{error}] {original_subject}"
    else:
        report["Subject"] = f"Accusé de réception : {original_subject}"
    report["Date"] = formatdate(usegmt=True)
    report["Message-ID"] = new_message_id()
    report["In-Reply-To"] = original_message_id
    report["References"] = original_message_id
    report["Auto-Submitted"] = "auto-replied"  # RFC 3834: no acknowledgement of this one
    disposition = "automatic-action/MDN-sent-automatically; processed"
    if error:
        disposition += f"/Error: {error}^{_ascii(ERROR_LABELS[error])}"
        readable = (
            f"Le message {original_message_id} n'a pas pu être intégré ({error} : {ERROR_LABELS[error]}).\n"
            f"{explanation}\n"
        )
    else:
        readable = f"Le message {original_message_id} a été reçu et intégré par {original_recipient}.\n"
    fields = (
        f"Reporting-UA: {REPORTING_UA}\r\n"
        f"Original-Recipient: rfc822;{original_recipient}\r\n"
        f"Final-Recipient: rfc822;{original_recipient}\r\n"
        f"Original-Message-ID: {original_message_id}\r\n"
        f"Disposition: {disposition}\r\n"
    )
    if error:
        fields += f"Error: {error}^{_ascii(ERROR_LABELS[error])}\r\n"
    report.make_mixed()
    report.set_type("multipart/report")
    report.set_param("report-type", "disposition-notification")
    text = EmailMessage(policy=policy.SMTP)
    text.set_content(readable)
    report.attach(text)
    # The fields are a header block (RFC 8098 §3.1) in US-ASCII, written as they are.
    notification = EmailMessage(policy=policy.SMTP)
    notification["Content-Type"] = "message/disposition-notification"
    notification["Content-Transfer-Encoding"] = "7bit"
    notification.set_payload(fields)
    report.attach(notification)
    for item in (attachments or []) if error else []:
        part = EmailMessage(policy=policy.SMTP)
        maintype, _, subtype = item.content_type.partition("/")
        part.set_content(
            item.data, maintype=maintype, subtype=subtype or "octet-stream", filename=item.filename
        )
        part.replace_header("Content-Disposition", f'attachment; filename="{item.filename}"')
        report.attach(part)
    return report


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def parse_disposition(fields: str) -> dict[str, str]:
    """The fields of a ``message/disposition-notification`` body (for tests and clients)."""
    out: dict[str, str] = {}
    last = None
    for line in fields.replace("\r\n", "\n").split("\n"):
        if line[:1] in (" ", "\t") and last is not None:  # a folded field (RFC 5322 §2.2.3)
            out[last] = f"{out[last]} {line.strip()}"
            continue
        name, sep, value = line.partition(":")
        if sep:
            last = name.strip()
            out[last] = value.strip()
    return out

"""One delivery path for HTTP and SMTP: check, store, acknowledge. Flushes, never commits.

Order of the checks (the first failure refuses the whole message; nothing is stored):
size, MIME structure, the ``X-MSS-*`` header syntax, the sender (a mailbox the caller may
use), every recipient (a known mailbox of the space of trust), the citizen rule (a
patient only replies, to the people of a conversation a professional started). Then one
copy goes to the sender's ``Sent`` folder and one to each recipient's ``INBOX``; when
``Disposition-Notification-To`` asks for it, each recipient acknowledges with an RFC 8098
MDN carrying the integration outcome (:mod:`services.mss.mail.integration`).
"""

from __future__ import annotations

import collections
import os
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import Integer, bindparam, select, update
from sqlalchemy.orm import Session

from services.mss import service
from services.mss.errors import (
    BadAddressError,
    MalformedMessageError,
    MessageTooLargeError,
    ReplyOnlyError,
    SenderRefusedError,
    UnknownRecipientError,
)
from services.mss.mail import integration, mdn, mime
from services.mss.mail.addresses import AddressError, normalise
from services.mss.models import Mailbox, Message
from shared.db.base import utcnow
from shared.db.prepared import PreparedInsert
from shared.observability.exchanges import annotate

_X_MSS_YES_NO = ("X-MSS-INS", "X-MSS-MES")


@dataclass
class Delivered:
    id: str
    message_id: str
    thread: str
    sender: str
    recipients: list[str]
    copies: dict[str, str] = field(default_factory=dict)
    acknowledgements: list[str] = field(default_factory=list)


def sender_kind(box: Mailbox) -> str:
    return {"PAT": "patient", "APP": "software"}.get(box.type, "professional")


def check_size(size: int, limit: int) -> None:
    if size > limit:
        raise MessageTooLargeError(f"the message is {size} bytes; this operator accepts at most {limit}")


def parse(raw: bytes, limit: int) -> mime.ParsedMessage:
    check_size(len(raw), limit)
    try:
        parsed = mime.parse(raw)
    except mime.MalformedMessage as exc:
        raise MalformedMessageError(str(exc)) from exc
    check_x_mss(parsed)
    return parsed


def check_x_mss(parsed: mime.ParsedMessage) -> None:
    """The syntax of the MSSanté headers (Référentiel socle #2, ECO.2.4.1/2)."""
    for name in _X_MSS_YES_NO:
        for value in parsed.header_values(name):
            if value.strip().upper() not in ("O", "N"):
                raise MalformedMessageError(f"{name} must be 'O' or 'N', not '{value}'", expression=[name])
    for value in parsed.header_values("X-MSS-CODECDA"):
        codes = [c.strip() for c in value.split(",")]
        if not all(c and all(ch.isalnum() or ch == "-" for ch in c) for c in codes):
            raise MalformedMessageError(f"X-MSS-CODECDA '{value}' is not a list of LOINC codes")


def check_sender(session: Session, caller: service.Caller, address: str) -> Mailbox:
    """The sender's mailbox, if the caller may send from it."""
    try:
        address = normalise(address)
    except AddressError as exc:
        raise BadAddressError(str(exc)) from exc
    box = mailbox(session, address)
    if box is None:
        raise SenderRefusedError(f"{address} is no mailbox of this operator")
    if not service.can_use(session, caller, box):
        annotate(f"MSSanté: refused, {service.describe(caller)} may not send from {address}")
        raise SenderRefusedError(f"{service.describe(caller)} may not send from {address}")
    if box.type == "PAT" and not _can_write(caller):
        raise SenderRefusedError("replying from a citizen mailbox needs the scope messages.write")
    return box


def _can_write(caller: service.Caller) -> bool:
    from shared.oauth.principals import MesUser

    return not isinstance(caller, MesUser) or caller.can("messages", "write")


def check_recipient(session: Session, address: str) -> Mailbox:
    try:
        address = normalise(address)
    except AddressError as exc:
        raise BadAddressError(str(exc)) from exc
    box = mailbox(session, address)
    if box is None:
        raise UnknownRecipientError(f"{address}: no such MSSanté mailbox", expression=[address])
    return box


def check_citizen_rule(
    session: Session, sender: Mailbox, parsed: mime.ParsedMessage, rcpts: list[Mailbox]
) -> None:
    """Only professionals start a conversation with a patient; the patient replies to it."""
    if sender.type != "PAT":
        return
    original = None
    if parsed.in_reply_to:
        original = session.scalars(
            select(Message).where(
                Message.mailbox == sender.address,
                Message.folder == "INBOX",
                Message.message_id == parsed.in_reply_to,
            )
        ).first()
    if original is None or original.sender_kind == "patient":
        annotate("MSSanté: refused, a patient may only reply to a conversation a professional started")
        raise ReplyOnlyError("a patient may only reply to a message a professional sent (In-Reply-To)")
    thread = session.scalars(
        select(Message).where(Message.mailbox == sender.address, Message.thread == original.thread)
    ).all()
    people = {m.sender for m in thread} | {a for m in thread for a in (*m.to, *m.cc)}
    for box in rcpts:
        if box.type == "PAT" and box.address != sender.address:
            raise ReplyOnlyError(f"a patient cannot write to another patient ({box.address})")
        if box.address not in people:
            raise ReplyOnlyError(f"{box.address} is not part of the conversation being replied to")


def deliver(
    session: Session,
    caller: service.Caller,
    parsed: mime.ParsedMessage,
    *,
    raw: bytes,
    envelope_from: str | None = None,
    envelope_rcpts: list[str] | None = None,
    defer: bool = False,
    mailboxes: Mapping[str, Mailbox] | None = None,
) -> Delivered:
    """Check and store ``parsed`` (whose bytes are ``raw``) for its recipients.

    ``defer``: a :func:`simple` message's copies wait in the transaction for
    :func:`write_deferred` (the delivery writer calls it once for its whole batch, before
    committing); every check has run when ``deliver`` returns, so nothing can refuse them
    any more, only a failing commit. ``mailboxes``: every mailbox row by address, read
    earlier (:class:`~services.mss.service.MailboxIndex`), instead of reading them here."""
    addresses = envelope_rcpts if envelope_rcpts is not None else [*parsed.to, *parsed.cc]
    _load_mailboxes(session, [envelope_from or parsed.sender, *addresses], mailboxes)
    sender = check_sender(session, caller, envelope_from or parsed.sender)
    if envelope_from and normalise(parsed.sender) != sender.address:
        raise SenderRefusedError(f"'From: {parsed.sender}' differs from the envelope sender {sender.address}")
    if not addresses:
        raise MalformedMessageError("the message has no recipient (To or Cc)")
    rcpts: dict[str, Mailbox] = {}
    for address in addresses:
        box = check_recipient(session, address)
        rcpts[box.address] = box
    check_citizen_rule(session, sender, parsed, list(rcpts.values()))
    return store(session, sender, parsed, raw, list(rcpts.values()), defer=defer)


_MAILBOXES = select(Mailbox).where(Mailbox.address.in_(bindparam("addresses", expanding=True)))
_KNOWN = "mss_mailboxes"


def mailbox(session: Session, address: str) -> Mailbox | None:
    """The mailbox at ``address`` (normalised), read once per transaction.

    Kept in ``session.info`` (the identity map holds only weak references, and a
    delivery looks its mailboxes up several times). Deliveries never change a mailbox's
    ORM state (UIDs are taken with Core statements), so a batch of deliveries sharing a
    transaction may share these too."""
    known: dict[str, Mailbox | None] = session.info.setdefault(_KNOWN, {})
    if address not in known:
        known[address] = session.get(Mailbox, address)
    return known[address]


def _load_mailboxes(session: Session, addresses: list[str], rows: Mapping[str, Mailbox] | None) -> None:
    """Read the message's mailboxes not read yet in one query (or take them from ``rows``)."""
    known: dict[str, Mailbox | None] = session.info.setdefault(_KNOWN, {})
    wanted = set()
    for address in addresses:
        try:
            wanted.add(normalise(address))
        except AddressError:
            continue  # refused by the checks, with the reason
    wanted -= known.keys()
    if wanted and rows is not None:
        known.update({address: rows.get(address) for address in wanted})
    elif wanted:
        found = {box.address: box for box in session.scalars(_MAILBOXES, {"addresses": sorted(wanted)})}
        known.update({address: found.get(address) for address in wanted})


#: An empty JSON list, the same object in every row: the prepared INSERT serialises a
#: value once per batch, whichever rows share it (most messages have no Cc, attachment
#: or keyword).
_EMPTY: tuple[()] = ()


def copy_id() -> str:
    """A new copy's id: a UUID in the RFC 9562 version 7 layout (48 bits of Unix time in
    milliseconds, then random bits), not a random version 4 one. Ids that grow with time
    land at the end of the primary key's index, where a random one dirtied another of its
    pages for each copy: pages that every commit writes again (SQLite's WAL) and that
    made committing a batch a fifth dearer."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10)) & _RANDOM_BITS
    return str(uuid.UUID(int=value | _VERSION_7))


_RANDOM_BITS = (1 << 80) - 1 ^ (0xF << 76) ^ (0x3 << 62)
_VERSION_7 = 0x7 << 76 | 0x2 << 62  # the version nibble, and the RFC 9562 variant (0b10)


def simple(parsed: mime.ParsedMessage) -> bool:
    """True when storing ``parsed`` reads no message and writes nothing but its copies: not
    a reply (no thread to look up, no original to mark answered, no citizen rule to read),
    no XDM package to integrate, no acknowledgement asked. Such a delivery cannot fail once
    its checks have passed, so it needs no savepoint of its own in a batch."""
    return (
        not parsed.in_reply_to
        and not parsed.references
        and parsed.header("Disposition-Notification-To") is None
        and not integration.xdm_attachments(parsed)
    )


def store(
    session: Session,
    sender: Mailbox,
    parsed: mime.ParsedMessage,
    raw: bytes,
    rcpts: list[Mailbox],
    *,
    defer: bool = False,
    mailboxes: Mapping[str, Mailbox] | None = None,
) -> Delivered:
    defer = defer and simple(parsed)
    if not defer:
        write_deferred(session)  # the batch's earlier copies first: UIDs follow the order of arrival
    if parsed.generated_id:
        raw = f"Message-ID: {parsed.message_id}\r\n".encode() + raw
        parsed.generated_id = False
    thread = _thread_of(session, parsed)
    kind = sender_kind(sender)
    attachments = [
        {"filename": a.filename, "content_type": a.content_type, "size": len(a.data)}
        for a in parsed.attachments
    ]
    result = Delivered(
        id="",
        message_id=parsed.message_id,
        thread=thread,
        sender=sender.address,
        recipients=[b.address for b in rcpts],
    )

    received = utcnow()
    copies = [(sender, "Sent", True), *((box, "INBOX", False) for box in rcpts)]
    rows: list[dict[str, object]] = []
    for box, folder, seen in copies:
        row_id = copy_id()
        rows.append(
            {
                "id": row_id,
                "mailbox": box.address,
                "folder": folder,
                "uid": None,  # taken when written
                "message_id": parsed.message_id,
                "thread": thread,
                "in_reply_to": parsed.in_reply_to,
                "sender": sender.address,
                "sender_kind": kind,
                "to": parsed.to,
                "cc": parsed.cc or _EMPTY,
                "subject": parsed.subject,
                "attachments": attachments or _EMPTY,
                "raw": raw,
                "size": len(raw),
                "received_at": received,
                "seen": seen,
                "flagged": False,
                "answered": False,
                "deleted": False,
                "draft": False,
                "keywords": _EMPTY,
            }
        )
        if folder == "Sent":
            result.id = row_id
        else:
            result.copies[box.address] = row_id
    if defer:
        session.info.setdefault(_DEFERRED, []).extend(rows)
        return result
    _write_copies(session, rows)
    if parsed.in_reply_to:
        for original in session.scalars(
            select(Message).where(
                Message.mailbox == sender.address,
                Message.folder == "INBOX",
                Message.message_id == parsed.in_reply_to,
            )
        ):
            original.answered = True
    session.flush()
    result.acknowledgements = _acknowledge(session, parsed, rcpts)
    return result


def _thread_of(session: Session, parsed: mime.ParsedMessage) -> str:
    for ref in [parsed.in_reply_to, *reversed(parsed.references)]:
        if ref:
            thread = session.scalars(select(Message.thread).where(Message.message_id == ref).limit(1)).first()
            if thread:
                return thread
    return parsed.message_id


_DEFERRED = "mss_deferred_copies"

_TAKE_UIDS = (
    update(Mailbox)
    .where(Mailbox.address.in_(bindparam("addresses", expanding=True)))
    .values(next_uid=Mailbox.next_uid + bindparam("count", type_=Integer))
    .returning(Mailbox.address, Mailbox.next_uid)
)


def write_deferred(session: Session) -> None:
    """Store the copies that :func:`deliver` deferred in this transaction, in their order."""
    rows = session.info.pop(_DEFERRED, None)
    if rows:
        _write_copies(session, rows)


_INSERT_COPIES = PreparedInsert(Message.metadata.tables[Message.__tablename__])


def _write_copies(session: Session, rows: list[dict[str, object]]) -> None:
    """Give each copy the next UID of its mailbox, then INSERT them all with one prepared
    statement (:mod:`shared.db.prepared`; the ORM's unit of work, even its bulk
    path, and Core's per-row parameters cost more than the rows)."""
    counts = collections.Counter(str(row["mailbox"]) for row in rows)
    next_uid = _take_uids(session, counts)
    for row in rows:
        address = str(row["mailbox"])
        row["uid"] = next_uid[address]
        next_uid[address] += 1
    _INSERT_COPIES.execute(session.connection(), rows)


def _take_uids(session: Session, counts: dict[str, int]) -> dict[str, int]:
    """The first of ``counts[address]`` consecutive IMAP UIDs taken in each mailbox, with
    atomic ``UPDATE ... RETURNING`` statements (SQLite ≥ 3.35 and PostgreSQL; the row
    locks keep two concurrent deliveries from sharing a UID): one statement for the
    mailboxes that take as many UIDs (usually all of them: a batch of messages from one
    sender to one recipient)."""
    by_count: dict[int, list[str]] = {}
    for address, count in counts.items():
        by_count.setdefault(count, []).append(address)
    first: dict[str, int] = {}
    for count, addresses in by_count.items():
        result = session.connection().execute(_TAKE_UIDS, {"addresses": sorted(addresses), "count": count})
        for address, after in result:
            first[address] = after - count
    return first


def _acknowledge(session: Session, parsed: mime.ParsedMessage, rcpts: list[Mailbox]) -> list[str]:
    """Integrate the XDM documents for each recipient; send the MDNs that were asked for."""
    wanted = parsed.header("Disposition-Notification-To")
    sent: list[str] = []
    for box in rcpts:
        outcome = integration.check(session, parsed, box)
        if outcome.error is None:
            integration.record(session, outcome, box)
        if not wanted or parsed.header("Auto-Submitted") not in (None, "no"):
            continue
        try:
            target = normalise(wanted)
        except AddressError:
            continue
        target_box = session.get(Mailbox, target)
        if target_box is None:
            continue  # an acknowledgement to outside the sandbox goes nowhere
        report = mdn.build(
            reporter=box.address,
            to=target,
            original_message_id=parsed.message_id,
            original_subject=parsed.subject,
            original_recipient=box.address,
            error=outcome.error,
            explanation=outcome.explanation,
            attachments=[a for a in parsed.attachments if a.filename.upper() == integration.XDM_NAME],
        )
        raw = report.as_bytes()
        ack = mime.parse(raw)
        annotate(
            f"MSSanté: {box.address} acknowledged {parsed.message_id}"
            + (f" with integration error {outcome.error}" if outcome.error else "")
        )
        store(session, box, ack, raw, [target_box])
        sent.append(ack.message_id)
    return sent

"""Who reaches which mailbox (README, "MSSanté: access"). Flushes, never commits.

* a professional (Pro Santé Connect token) uses the mailboxes they are a member of: their
  personal (PER) mailboxes and the organisational (ORG/CAB) mailboxes of the structures
  they work in (their persona's activities);
* a software (PSC client_credentials token) uses the application (APP) mailboxes bound
  to its ``client_id``;
* a Mon espace santé token reaches the citizen mailbox of the patient it is for, with
  ``messages.read`` to read and ``messages.write`` to reply (the patient, a caregiver
  with delegated message rights, a legal representative, or a consented app);
* a mailbox login (SMTP/IMAP with the mailbox's sandbox password) reaches that mailbox.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from services.mss.models import Mailbox, MailboxMember
from shared.errors import ForbiddenError, InsufficientScopeError, NotFoundError
from shared.oauth.principals import MesUser, Principal, Professional, Software


@dataclass(frozen=True)
class MailboxLogin:
    """A client authenticated with a mailbox address and its sandbox password."""

    address: str
    kind: Literal["mailbox"] = "mailbox"


Caller = Principal | MailboxLogin
Access = Literal["read", "write"]


def describe(caller: Caller) -> str:
    if isinstance(caller, Professional):
        return f"professional {caller.idnat}"
    if isinstance(caller, Software):
        return f"software {caller.client_id}"
    if isinstance(caller, MesUser):
        return f"Mon espace santé {caller.actor} for INS {caller.patient_ins}"
    return f"mailbox login {caller.address}"


def mailboxes_of(session: Session, caller: Caller) -> list[Mailbox]:
    """Every mailbox the caller may use (read access)."""
    query = select(Mailbox).order_by(Mailbox.address)
    if isinstance(caller, Professional):
        members = select(MailboxMember.address).where(MailboxMember.idnat == caller.idnat)
        query = query.where(Mailbox.address.in_(members))
    elif isinstance(caller, Software):
        query = query.where(Mailbox.type == "APP", Mailbox.client_id == caller.client_id)
    elif isinstance(caller, MesUser):
        query = query.where(Mailbox.type == "PAT", Mailbox.holder == caller.patient_ins)
    else:
        query = query.where(Mailbox.address == caller.address)
    return list(session.scalars(query))


_IS_MEMBER = select(MailboxMember.idnat).where(
    MailboxMember.address == bindparam("address"), MailboxMember.idnat == bindparam("idnat")
)


def can_use(session: Session, caller: Caller, box: Mailbox) -> bool:
    if isinstance(caller, Professional):
        # A Core statement: on every message sent, the ORM's get costs more than the row.
        found = session.connection().execute(_IS_MEMBER, {"address": box.address, "idnat": caller.idnat})
        return found.first() is not None
    if isinstance(caller, Software):
        return box.type == "APP" and box.client_id == caller.client_id
    if isinstance(caller, MesUser):
        return box.type == "PAT" and box.holder == caller.patient_ins
    return box.address == caller.address


def require_mailbox(session: Session, caller: Caller, address: str, access: Access) -> Mailbox:
    """The mailbox, if the caller may use it for ``access``; 404 or 403 otherwise."""
    box = session.get(Mailbox, address.lower())
    if box is None:
        raise NotFoundError(f"no MSSanté mailbox '{address}'", error="unknown_mailbox")
    if not can_use(session, caller, box):
        raise ForbiddenError(f"{describe(caller)} may not use the mailbox {box.address}")
    if isinstance(caller, MesUser) and not caller.can("messages", access):
        raise InsufficientScopeError(f"reading or replying needs the scope messages.{access}")
    return box


# -- sandbox application passwords (SMTP/IMAP PLAIN and LOGIN) ---------------------------

_ITERATIONS = 10_000  # a sandbox: enough to not store the password, cheap to check


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, _ITERATIONS)
    return f"pbkdf2_sha256${_ITERATIONS}${salt.hex()}${digest.hex()}"


def check_password(stored: str | None, password: str) -> bool:
    if not stored:
        return False
    _, iterations, salt, digest = stored.split("$")
    candidate = hashlib.pbkdf2_hmac("sha256", password.encode(), bytes.fromhex(salt), int(iterations))
    return hmac.compare_digest(candidate.hex(), digest)


def new_password(session: Session, box: Mailbox) -> str:
    """A new application password for ``box`` (the previous one stops working)."""
    password = "mss-" + secrets.token_urlsafe(12)
    box.password_hash = hash_password(password)
    session.flush()
    return password


# -- an in-memory index for the SMTP envelope checks -----------------------------------


@dataclass(frozen=True)
class BoxInfo:
    address: str
    type: str
    holder: str
    client_id: str | None
    members: frozenset[str]
    #: The row as read (detached from its session): what a delivery checks.
    row: Mailbox


class MailboxIndex:
    """The mailboxes and their members, read once: ``MAIL FROM``/``RCPT TO`` are answered
    without a database round trip, and ``DATA`` checks the message against the same rows
    (:meth:`rows`) instead of reading them again for each batch. Mailboxes are only
    written by the seed, so a reset or a snapshot load drops the index
    (``runtime.reset_hooks``); one being read while it is dropped is not kept."""

    def __init__(self, load: Callable[[], dict[str, BoxInfo]]) -> None:
        self._load = load
        self._boxes: dict[str, BoxInfo] | None = None
        self._rows: dict[str, Mailbox] | None = None
        self._generation = 0

    def _current(self) -> dict[str, BoxInfo]:
        boxes = self._boxes
        if boxes is None:
            generation = self._generation
            boxes = self._load()
            if generation == self._generation:
                self._boxes = boxes
        return boxes

    def get(self, address: str) -> BoxInfo | None:
        return self._current().get(address.lower())

    def rows(self) -> dict[str, Mailbox]:
        """Every mailbox row by address (read-only: never add them to a session)."""
        rows = self._rows
        if rows is None:
            generation = self._generation
            rows = {address: info.row for address, info in self._current().items()}
            if generation == self._generation:
                self._rows = rows
        return rows

    def forget(self) -> None:
        self._generation += 1
        self._boxes = None
        self._rows = None

    def may_send(self, caller: Caller, box: BoxInfo) -> bool:
        if isinstance(caller, Professional):
            return caller.idnat in box.members
        if isinstance(caller, Software):
            return box.type == "APP" and box.client_id == caller.client_id
        if isinstance(caller, MesUser):
            return box.type == "PAT" and box.holder == caller.patient_ins and caller.can("messages", "write")
        return box.address == caller.address


def load_index(session: Session) -> dict[str, BoxInfo]:
    members: dict[str, set[str]] = {}
    for member in session.scalars(select(MailboxMember)):
        members.setdefault(member.address, set()).add(member.idnat)
    return {
        box.address: BoxInfo(
            box.address, box.type, box.holder, box.client_id, frozenset(members.get(box.address, ())), box
        )
        for box in session.scalars(select(Mailbox))
    }

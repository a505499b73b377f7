"""The IMAP listener: pymap's IMAP4rev1 server over MSSanté's database (README, "MSSanté").

pymap (icgood/pymap) parses and answers the protocol; this module is its backend: each
mailbox address is an IMAP account with two folders, ``INBOX`` and ``Sent``, read from
the ``messages`` table the HTTP API and SMTP write. Flags (``\\Seen``, ``\\Flagged``,
``\\Answered``, ``\\Deleted``, ``\\Draft`` and keywords) are the same columns the HTTP
API shows; ``EXPUNGE`` deletes. UIDs are the ``uid`` column (ascending per mailbox).

Authentication (after ``STARTTLS``, which uses the sandbox certificate; pymap also offers
it before ``STARTTLS`` to a client on the loopback interface, as the README says):
``AUTHENTICATE XOAUTH2`` with ``user=<mailbox address>`` and a Pro Santé Connect or Mon
espace santé access token that may read that mailbox, or ``LOGIN``/``AUTHENTICATE
PLAIN`` with the mailbox address and its sandbox application password. Each session is
recorded in ``/_sandbox/exchanges`` (``protocol="imap"``) when it ends.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from argparse import Namespace
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from contextlib import asynccontextmanager
from ssl import SSLContext
from typing import Any

from proxyprotocol.reader import ProxyProtocolReader
from pymap.backend.session import BaseSession
from pymap.config import BackendCapability, IMAPConfig
from pymap.exceptions import AuthorizationFailure, InvalidAuth, NotAllowedError
from pymap.flags import FlagOp
from pymap.imap import IMAPServer
from pymap.interfaces.login import IdentityInterface, LoginInterface
from pymap.interfaces.message import CachedMessage
from pymap.listtree import ListTree
from pymap.mailbox import MailboxSnapshot
from pymap.message import BaseLoadedMessage, BaseMessage
from pymap.mime import MessageContent
from pymap.parsing.message import AppendMessage
from pymap.parsing.specials import FetchRequirement, ObjectId
from pymap.parsing.specials.flag import Answered, Deleted, Draft, Flag, Flagged, Seen
from pymap.selected import SelectedMailbox, SelectedSet
from pymap.token import AllTokens
from pymap.user import UserMetadata
from pysasl import SASLAuth
from pysasl.creds.external import ExternalCredentials, ExternalVerificationRequired
from pysasl.creds.plain import PlainCredentials
from pysasl.creds.server import ServerCredentials
from pysasl.mechanism.login import LoginMechanism
from pysasl.mechanism.oauth import OAuth2Mechanism
from pysasl.mechanism.plain import PlainMechanism
from sqlalchemy import select
from sqlalchemy.orm import Session as OrmSession

from services.mss import service
from services.mss.mail import mime
from services.mss.models import Mailbox, Message
from services.mss.settings import MssSettings
from services.mss.tls import ListenerTls
from shared.db.base import utcnow
from shared.errors import SandboxError
from shared.oauth.resource import ResourceServer
from shared.observability.exchanges import Exchange
from shared.observability.exchanges import Message as ExchangeMessage
from shared.web.runtime import Runtime

FOLDERS = ("INBOX", "Sent")
_FLAG_COLUMNS = {Seen: "seen", Flagged: "flagged", Answered: "answered", Deleted: "deleted", Draft: "draft"}


class Config(IMAPConfig):
    def __init__(self, settings: MssSettings, listener_tls: ListenerTls) -> None:
        self.listener_tls = listener_tls
        args = Namespace(passlib_cfg=None, proxy_protocol=None, debug=False)
        super().__init__(
            args,
            host=settings.host,
            port=settings.imap_port,
            ssl_context=listener_tls.context,
            invalid_user_sleep=0.0,
            reject_dnsbl=False,
            disable_idle=True,
            max_append_len=settings.max_message_bytes,
        )

    @property
    def ssl_context(self) -> SSLContext:
        """Read at each ``STARTTLS``: the current certificate (a snapshot may bring another)."""
        return self.listener_tls.context

    @property
    def backend_capability(self) -> BackendCapability:
        return BackendCapability(idle=False, object_id=False, multi_append=False)

    @property
    def tls_auth(self) -> SASLAuth:
        return SASLAuth([PlainMechanism(), LoginMechanism(), OAuth2Mechanism()])

    @property
    def greeting(self) -> bytes:
        return b"mes-sandbox MSSante IMAP4rev1 ready"


class DbMessage(BaseMessage):
    """A message's flags and date; its bytes are read when a FETCH needs them."""

    __slots__ = ["folder"]

    def __init__(
        self, folder: Folder, uid: int, when: dt.datetime, flags: Iterable[Flag], *, expunged: bool = False
    ):
        super().__init__(uid, when, flags, expunged=expunged)
        self.folder = folder

    async def load_content(self, requirement: FetchRequirement) -> BaseLoadedMessage:
        raw = await self.folder.raw(self.uid) if requirement != FetchRequirement.NONE else None
        content = MessageContent.parse(raw) if raw is not None else None
        return BaseLoadedMessage(self, requirement, content)


def _flags_of(row: Message) -> frozenset[Flag]:
    flags = {flag for flag, column in _FLAG_COLUMNS.items() if getattr(row, column)}
    return frozenset(flags | {Flag(k.encode()) for k in row.keywords or []})


class Folder:
    """One folder of one mailbox, shared by every session that selects it."""

    def __init__(self, runtime: Runtime, address: str, name: str) -> None:
        self.runtime = runtime
        self.address = address
        self.name = name
        self.mailbox_id = ObjectId.random_mailbox_id()
        self.selected_set = SelectedSet()

    readonly = False

    @property
    def permanent_flags(self) -> frozenset[Flag]:
        return frozenset(_FLAG_COLUMNS)

    @property
    def session_flags(self) -> frozenset[Flag]:
        return frozenset()

    @property
    def uid_validity(self) -> int:
        return 1

    def _rows(self) -> list[tuple[int, dt.datetime, frozenset[Flag]]]:
        with self.runtime.database().session(write=False) as session:
            rows = session.scalars(
                select(Message)
                .where(Message.mailbox == self.address, Message.folder == self.name)
                .order_by(Message.uid)
            )
            return [(r.uid, r.received_at, _flags_of(r)) for r in rows]

    async def all(self) -> list[DbMessage]:
        return [DbMessage(self, uid, when, flags) for uid, when, flags in await asyncio.to_thread(self._rows)]

    async def raw(self, uid: int) -> bytes | None:
        def read() -> bytes | None:
            with self.runtime.database().session(write=False) as session:
                return session.scalars(
                    select(Message.raw).where(
                        Message.mailbox == self.address, Message.folder == self.name, Message.uid == uid
                    )
                ).first()

        return await asyncio.to_thread(read)

    async def update_selected(self, selected: SelectedMailbox, *, wait_on: Any = None) -> SelectedMailbox:
        selected.set_messages(await self.all())
        return selected

    async def append(self, append_msg: AppendMessage, *, recent: bool = False) -> DbMessage:
        """APPEND (a client saving what it sent, a draft): stored as it is, not delivered."""
        raw = bytes(append_msg.literal)

        def write() -> DbMessage:
            try:
                parsed = mime.parse(raw)
            except mime.MalformedMessage as exc:
                raise NotAllowedError(f"malformed message: {exc}") from exc
            with self.runtime.database().session(write=True) as session:
                box = session.scalars(
                    select(Mailbox).where(Mailbox.address == self.address).with_for_update()
                ).one()
                uid, box.next_uid = box.next_uid, box.next_uid + 1
                flags = append_msg.flag_set
                session.add(
                    Message(
                        id=_uuid(),
                        mailbox=self.address,
                        folder=self.name,
                        uid=uid,
                        message_id=parsed.message_id,
                        thread=parsed.message_id,
                        in_reply_to=parsed.in_reply_to,
                        sender=parsed.sender,
                        sender_kind="professional" if box.type != "PAT" else "patient",
                        to=parsed.to,
                        cc=parsed.cc,
                        subject=parsed.subject,
                        raw=raw,
                        size=len(raw),
                        received_at=utcnow(),
                        attachments=[
                            {"filename": a.filename, "content_type": a.content_type, "size": len(a.data)}
                            for a in parsed.attachments
                        ],
                        keywords=sorted(f.value.decode() for f in flags if f not in _FLAG_COLUMNS),
                        **{column: flag in flags for flag, column in _FLAG_COLUMNS.items()},
                    )
                )
                return DbMessage(self, uid, utcnow(), flags)

        return await asyncio.to_thread(write)

    def _message(self, session: OrmSession, uid: int) -> Message | None:
        """The message with ``uid`` in this folder, if any."""
        return session.scalars(
            select(Message).where(
                Message.mailbox == self.address, Message.folder == self.name, Message.uid == uid
            )
        ).first()

    async def _transfer(self, uid: int, destination: Folder, *, remove: bool) -> int | None:
        def write() -> int | None:
            with self.runtime.database().session(write=True) as session:
                row = self._message(session, uid)
                if row is None:
                    return None
                box = session.scalars(
                    select(Mailbox).where(Mailbox.address == self.address).with_for_update()
                ).one()
                new_uid, box.next_uid = box.next_uid, box.next_uid + 1
                values = {c.key: getattr(row, c.key) for c in Message.__table__.columns}
                session.add(Message(**{**values, "id": _uuid(), "folder": destination.name, "uid": new_uid}))
                if remove:
                    session.delete(row)
                return new_uid

        return await asyncio.to_thread(write)

    async def copy(self, uid: int, destination: Folder, *, recent: bool = False) -> int | None:
        return await self._transfer(uid, destination, remove=False)

    async def move(self, uid: int, destination: Folder, *, recent: bool = False) -> int | None:
        return await self._transfer(uid, destination, remove=True)

    async def get(self, uid: int, cached_msg: CachedMessage) -> DbMessage:
        def read() -> DbMessage | None:
            with self.runtime.database().session(write=False) as session:
                row = self._message(session, uid)
                return None if row is None else DbMessage(self, row.uid, row.received_at, _flags_of(row))

        found = await asyncio.to_thread(read)
        if found is None:
            return DbMessage(self, uid, cached_msg.internal_date, cached_msg.permanent_flags, expunged=True)
        return found

    async def update(
        self, uid: int, cached_msg: CachedMessage, flag_set: frozenset[Flag], mode: FlagOp
    ) -> DbMessage:
        def write() -> DbMessage | None:
            with self.runtime.database().session(write=True) as session:
                row = self._message(session, uid)
                if row is None:
                    return None
                flags = mode.apply(_flags_of(row), flag_set)
                for flag, column in _FLAG_COLUMNS.items():
                    setattr(row, column, flag in flags)
                row.keywords = sorted(f.value.decode() for f in flags if f not in _FLAG_COLUMNS)
                return DbMessage(self, row.uid, row.received_at, flags)

        updated = await asyncio.to_thread(write)
        if updated is None:
            return DbMessage(self, uid, cached_msg.internal_date, cached_msg.permanent_flags, expunged=True)
        return updated

    async def delete(self, uids: Iterable[int]) -> None:
        wanted = list(uids)

        def write() -> None:
            with self.runtime.database().session(write=True) as session:
                for row in session.scalars(
                    select(Message).where(
                        Message.mailbox == self.address, Message.folder == self.name, Message.uid.in_(wanted)
                    )
                ):
                    session.delete(row)

        await asyncio.to_thread(write)

    async def claim_recent(self, selected: SelectedMailbox) -> None:
        """``\\Recent`` is not kept (IMAP4rev2 dropped it); no message is recent."""

    async def cleanup(self) -> None:
        """Nothing to collect: the database is the store."""

    async def messages(self) -> AsyncIterable[DbMessage]:
        for message in await self.all():
            yield message

    async def snapshot(self) -> MailboxSnapshot:
        messages = await self.all()
        unseen = [i for i, m in enumerate(messages, start=1) if Seen not in m.permanent_flags]

        def next_uid() -> int:
            with self.runtime.database().session(write=False) as session:
                box = session.get(Mailbox, self.address)
                return box.next_uid if box is not None else 1

        return MailboxSnapshot(
            self.mailbox_id,
            self.readonly,
            self.uid_validity,
            self.permanent_flags,
            self.session_flags,
            len(messages),
            0,
            len(unseen),
            unseen[0] if unseen else None,
            await asyncio.to_thread(next_uid),
        )

    async def find(self, seq_set: Any, selected: SelectedMailbox) -> AsyncIterable[tuple[int, DbMessage]]:
        for seq, cached in selected.messages.get_all(seq_set):
            yield seq, await self.get(cached.uid, cached)

    async def find_deleted(self, seq_set: Any, selected: SelectedMailbox) -> list[int]:
        return [msg.uid async for _, msg in self.find(seq_set, selected) if Deleted in msg.permanent_flags]


def _uuid() -> str:
    import uuid

    return str(uuid.uuid4())


class Folders:
    """The folders of one mailbox (``INBOX``, ``Sent``); no folder is created or removed."""

    def __init__(self, registry: dict[tuple[str, str], Folder], runtime: Runtime, address: str) -> None:
        self.address = address
        self._folders = {
            name: registry.setdefault((address, name), Folder(runtime, address, name)) for name in FOLDERS
        }

    delimiter = "/"

    async def set_subscribed(self, name: str, subscribed: bool) -> None:
        """Both folders are always subscribed."""

    async def list_subscribed(self) -> ListTree:
        return ListTree(self.delimiter).update(*FOLDERS)

    async def list_mailboxes(self) -> ListTree:
        return ListTree(self.delimiter).update(*FOLDERS)

    async def get_mailbox(self, name: str) -> Folder:
        return self._folders["INBOX" if name.upper() == "INBOX" else name]

    async def add_mailbox(self, name: str) -> ObjectId:
        raise NotAllowedError("an MSSanté mailbox has the folders INBOX and Sent only")

    async def delete_mailbox(self, name: str) -> None:
        raise NotAllowedError("an MSSanté mailbox has the folders INBOX and Sent only")

    async def rename_mailbox(self, before: str, after: str) -> None:
        raise NotAllowedError("an MSSanté mailbox has the folders INBOX and Sent only")


class Session(BaseSession[DbMessage]):
    """pymap's generic session over our folders."""

    def __init__(self, owner: str, config: Config, folders: Folders) -> None:
        super().__init__(owner)
        self._config = config
        self._folders = folders

    @property
    def config(self) -> Config:
        return self._config

    @property
    def mailbox_set(self) -> Folders:
        return self._folders


class Login(LoginInterface):
    def __init__(self, runtime: Runtime, auth: ResourceServer, config: Config) -> None:
        self.runtime = runtime
        self.auth = auth
        self.config = config
        self.registry: dict[tuple[str, str], Folder] = {}
        self._tokens = AllTokens(config)

    @property
    def tokens(self) -> AllTokens:
        return self._tokens

    async def authenticate(self, credentials: ServerCredentials) -> Identity:
        if isinstance(credentials, ExternalCredentials):
            return await self._by_token(credentials)
        if isinstance(credentials, PlainCredentials):
            return await self._by_password(credentials)
        raise InvalidAuth()

    async def _by_password(self, credentials: PlainCredentials) -> Identity:
        address = credentials.authcid.strip().lower()

        def check() -> bool:
            with self.runtime.database().session(write=False) as session:
                box = session.get(Mailbox, address)
                return box is not None and credentials.verify(_StoredPassword(address, box.password_hash))

        if not await asyncio.to_thread(check):
            raise InvalidAuth()
        return Identity(self, address, service.MailboxLogin(address))

    async def _by_token(self, credentials: ExternalCredentials) -> Identity:
        from services.mss.smtp import principal_of

        try:
            credentials.verify(None)
        except ExternalVerificationRequired as needed:
            token = needed.token or ""
        caller = await principal_of(self.auth, token)
        address = credentials.authzid.strip().lower()
        if caller is None or not address:
            raise InvalidAuth()

        def check() -> None:
            with self.runtime.database().session(write=False) as session:
                service.require_mailbox(session, caller, address, "read")

        try:
            await asyncio.to_thread(check)
        except SandboxError as exc:
            raise InvalidAuth(exc.detail) from exc
        return Identity(self, address, caller)

    async def authorize(self, authenticated: IdentityInterface, authzid: str) -> IdentityInterface:
        if authzid and authzid.lower() != authenticated.name:
            raise AuthorizationFailure()
        return authenticated


class _StoredPassword:
    """A pysasl identity (``pysasl.identity.Identity``) over the mailbox's stored hash."""

    def __init__(self, address: str, stored: str | None) -> None:
        self.authcid = address
        self.stored = stored

    def compare_authcid(self, authcid: str) -> bool:
        return authcid.strip().lower() == self.authcid

    def compare_secret(self, secret: str) -> bool:
        return service.check_password(self.stored, secret)

    def get_clear_secret(self) -> str | None:
        return None


class Identity(IdentityInterface):
    def __init__(self, login: Login, address: str, caller: service.Caller) -> None:
        self.login = login
        self.address = address
        self.caller = caller

    @property
    def name(self) -> str:
        return self.address

    @property
    def roles(self) -> frozenset[str]:
        return frozenset()

    @asynccontextmanager
    async def new_session(self) -> AsyncIterator[Session]:
        started, at = time.perf_counter(), dt.datetime.now(dt.UTC)
        folders = Folders(self.login.registry, self.login.runtime, self.address)
        try:
            yield Session(self.address, self.login.config, folders)
        finally:
            _record(self.login.runtime, self, started, at)

    async def new_token(self, *, expiration: dt.datetime | None = None) -> str | None:
        return None

    async def get(self) -> UserMetadata:
        return UserMetadata(self.login.config, self.address)

    async def set(self, metadata: UserMetadata) -> int | None:
        raise NotAllowedError("mailboxes are managed by the sandbox")

    async def delete(self) -> None:
        raise NotAllowedError("mailboxes are managed by the sandbox")


def _record(runtime: Runtime, identity: Identity, started: float, at: dt.datetime) -> None:
    text = f"IMAP session of {service.describe(identity.caller)} on {identity.address}"
    runtime.exchanges.add(
        Exchange(
            service="mss",
            direction="inbound",
            method="IMAP",
            path=f"/imap/{identity.address}",
            time=at,
            caller="external",
            target="mss",
            trace_id=None,
            protocol="imap",
            status=200,
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
            client_id=service.describe(identity.caller),
            request=ExchangeMessage({}, text, "utf-8", len(text)),
        )
    )


def connection_handler(
    runtime: Runtime, auth: ResourceServer, settings: MssSettings, listener_tls: ListenerTls
) -> Any:
    """The ``client_connected_cb`` of :func:`asyncio.start_server` serving pymap's IMAP."""
    config = Config(settings, listener_tls)
    config.apply_context()
    server = IMAPServer(Login(runtime, auth, config), config)
    return ProxyProtocolReader(config.proxy_protocol).get_callback(server)

"""The SMTP listener (aiosmtpd), feeding the same delivery as ``POST /api/messages``.

Submission as at an MSSanté operator (fr-ecosystem.md §3.1: SMTP with STARTTLS), on
``MES_MSS_SMTP_PORT`` (2525):

* ``STARTTLS`` (RFC 3207) with the sandbox certificate (:mod:`services.mss.tls`);
* ``AUTH`` (RFC 4954) after STARTTLS: ``XOAUTH2`` and ``OAUTHBEARER`` (RFC 7628) with a
  Pro Santé Connect or Mon espace santé access token, ``PLAIN``/``LOGIN`` with a mailbox
  address and its sandbox application password (``PUT /api/mailboxes/{address}/password``);
* ``MAIL FROM``: a mailbox the authenticated caller may send from, else
  ``550 5.7.1``; ``RCPT TO``: a known mailbox, else ``550 5.1.1`` (``553 5.1.3`` for a
  citizen address whose INS key is wrong); ``SIZE`` (RFC 1870) and ``552 5.3.4``;
* ``DATA``: the message goes through the same checks as over HTTP (``554 5.6.0`` for
  malformed MIME, ``550 5.7.1`` for the citizen rule...), is stored, and is answered
  ``250 2.0.0 Ok: queued as <Message-ID>``.

Each session is recorded in ``/_sandbox/exchanges`` (``protocol="smtp"``), and the fault
book applies with methods ``SMTP:MAIL``, ``SMTP:RCPT`` and ``SMTP:DATA`` (path ``*``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import inspect
import logging
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword
from aiosmtpd.smtp import Session as SmtpSession
from sqlalchemy.orm import Session

from services.mss import service
from services.mss.errors import BadAddressError, SenderRefusedError, UnknownRecipientError, smtp_reply
from services.mss.mail import delivery
from services.mss.mail.addresses import AddressError, normalise
from services.mss.models import Mailbox
from services.mss.settings import MssSettings
from services.mss.tls import ListenerTls
from services.mss.writer import DeliveryWriter
from shared.errors import SandboxError
from shared.oauth.resource import ResourceServer
from shared.observability.exchanges import Exchange, Message, start_notes, stop_notes
from shared.web.runtime import Runtime

log = logging.getLogger(__name__)

SERVER_NAME = "mss.mes-sandbox.localhost"
TRANSCRIPT_LINES = 200
_ADDRESS_CACHE_SIZE = 4096
#: The only names aiosmtpd looks up by listing an object (its AUTH mechanisms, handler
#: hooks and commands).
_HOOK_PREFIXES = ("auth_", "smtp_", "handle_")


_HOOK_NAMES: dict[str, list[str]] = {}


def _hook_names(cls: type) -> list[str]:
    key = f"{cls.__module__}.{cls.__qualname__}"
    names = _HOOK_NAMES.get(key)
    if names is None:
        names = _HOOK_NAMES[key] = [n for n in dir(cls) if n.startswith(_HOOK_PREFIXES)]
    return names


class _ListsHooksOnly:
    """aiosmtpd's ``SMTP.__init__``, run for every connection, lists the server and its
    handler with ``inspect.getmembers``/``dir`` to find the ``auth_``, ``handle_`` and
    ``smtp_`` methods: reading all ~125 attributes was about a fifth of a one-message
    connection. ``dir`` of these objects names just those methods (per class, once)."""

    def __dir__(self) -> list[str]:
        return _hook_names(type(self))


@dataclass
class SessionLog:
    """What one SMTP session did, recorded as one exchange when it ends.

    A session kept open for thousands of messages keeps only its first
    :data:`TRANSCRIPT_LINES` lines (and counts the others): the transcript is for people
    reading the flow console, and must not grow with the session."""

    peer: str
    started: float = field(default_factory=time.perf_counter)
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    lines: list[str] = field(default_factory=list)
    caller: str = "anonymous"
    last_status: int = 220
    notes: list[str] = field(default_factory=list)
    more: int = 0
    refused: bool = False

    def add(self, line: str) -> None:
        if len(self.lines) < TRANSCRIPT_LINES:
            self.lines.append(line)
        else:
            self.more += 1

    def data(self, size: int, reply: str) -> None:
        self.refused = self.refused or not reply.startswith("250")
        self.add(f"DATA ({size} bytes) -> {reply}")


class MssHandler(_ListsHooksOnly):
    """aiosmtpd handler hooks: authentication, envelope checks, delivery."""

    def __init__(
        self,
        runtime: Runtime,
        auth: ResourceServer,
        settings: MssSettings,
        writer: DeliveryWriter,
        sessions: LiveSessions,
    ) -> None:
        self.runtime = runtime
        self.sessions = sessions
        self.auth = auth
        self.settings = settings
        self.index = service.MailboxIndex(self._load_index)
        runtime.reset_hooks.append(self.index.forget)
        # The service's one delivery writer, shared with POST /api/messages.
        self.writer = writer

    def _load_index(self) -> dict[str, service.BoxInfo]:
        with self.runtime.database().session(write=False) as db:
            return service.load_index(db)

    # -- authentication (aiosmtpd calls authenticator, and auth_<MECH> for extra ones) ----

    def authenticator(
        self, server: SMTP, session: SmtpSession, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        """PLAIN and LOGIN: the mailbox address and its sandbox application password."""
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        address = data.login.decode(errors="replace").strip().lower()
        with self.runtime.database().session(write=False) as db:
            box = db.get(Mailbox, address)
            ok = box is not None and service.check_password(
                box.password_hash, data.password.decode(errors="replace")
            )
        if not ok:
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=service.MailboxLogin(address))

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        """``XOAUTH2``: ``base64("user=" user "^Aauth=Bearer " token "^A^A")``."""
        return await self._oauth(server, args, oauthbearer=False)

    async def auth_OAUTHBEARER(self, server: SMTP, args: list[str]) -> AuthResult:
        """RFC 7628 §3.1: ``n,a=<user>,^Aauth=Bearer <token>^A^A`` (GS2 header first)."""
        return await self._oauth(server, args, oauthbearer=True)

    async def _oauth(self, server: SMTP, args: list[str], *, oauthbearer: bool) -> AuthResult:
        if len(args) > 1:
            blob = args[1].encode()
        else:
            reply = await server.challenge_auth("", encode_to_b64=False)
            if not isinstance(reply, bytes):
                return AuthResult(success=False, handled=False)
            blob = reply
        try:
            text = base64.b64decode(blob, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return AuthResult(success=False, handled=False)
        fields = dict(part.split("=", 1) for part in text.split("\x01") if "=" in part)
        token = fields.get("auth", "")
        if not token.lower().startswith("bearer "):
            return AuthResult(success=False, handled=False)
        caller = await principal_of(self.auth, token[7:].strip())
        if caller is None:
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=caller)

    # -- envelope ------------------------------------------------------------------------

    def _caller(self, session: SmtpSession) -> service.Caller | None:
        data = session.auth_data
        return data if data is not None and not isinstance(data, LoginPassword) else None

    def _fault(self, method: str) -> str | None:
        hit = self.runtime.faults.hit(method, "*")
        if hit is None or hit.status is None:
            return None
        code = 421 if hit.status >= 500 else 450
        return f"{code} 4.3.0 {hit.detail}"

    async def handle_EHLO(
        self, server: SMTP, session: SmtpSession, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        """RFC 2920 PIPELINING, as MSSanté operators' MTAs (Postfix) announce it: a client may
        send MAIL, RCPT and DATA without waiting for each reply. aiosmtpd reads and answers
        buffered commands one after the other, in order, which is all RFC 2920 §3 asks of a
        server; it does not announce the extension itself."""
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_MAIL(
        self, server: SMTP, session: SmtpSession, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        log_of(session).add(f"MAIL FROM:<{address}>")
        fault = self._fault("SMTP:MAIL")
        if fault:
            return fault
        caller = self._caller(session)
        if caller is None and self.settings.smtp_auth == "required":
            return "530 5.7.0 Authentication required (STARTTLS then AUTH)"
        try:
            bare = normalise(address)
        except AddressError as exc:
            return smtp_reply(BadAddressError(str(exc)))
        box = self.index.get(bare)
        # Unauthenticated (MES_MSS_SMTP_AUTH=optional): any mailbox of the sandbox.
        if box is None or (caller is not None and not self.index.may_send(caller, box)):
            who = service.describe(caller) if caller is not None else "this session"
            return smtp_reply(SenderRefusedError(f"{who} may not send from {bare}"))
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 Sender OK"

    async def handle_RCPT(
        self, server: SMTP, session: SmtpSession, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        log_of(session).add(f"RCPT TO:<{address}>")
        fault = self._fault("SMTP:RCPT")
        if fault:
            return fault

        try:
            bare = normalise(address)
        except AddressError as exc:
            return smtp_reply(BadAddressError(str(exc)))
        if self.index.get(bare) is None:
            return smtp_reply(UnknownRecipientError(f"{bare}: no such MSSanté mailbox"))
        box = bare
        envelope.rcpt_tos.append(box)
        envelope.rcpt_options.extend(options)
        return "250 2.1.5 Recipient OK"

    async def handle_DATA(self, server: SMTP, session: SmtpSession, envelope: Envelope) -> str:
        record = log_of(session)
        fault = self._fault("SMTP:DATA")
        if fault:
            return fault
        raw = envelope.original_content or b""
        caller = self._caller(session) or service.MailboxLogin((envelope.mail_from or "").lower())
        envelope_from, rcpts = envelope.mail_from, list(envelope.rcpt_tos)
        mailboxes = self.index.rows()

        def work(db: Session) -> delivery.Delivered:
            return delivery.deliver(
                db,
                caller,
                parsed,
                raw=raw,
                envelope_from=envelope_from,
                envelope_rcpts=rcpts,
                defer=True,
                mailboxes=mailboxes,
            )

        notes, token = start_notes()
        try:
            # Parsed here, not in the writer: a malformed message never waits for a batch.
            parsed = delivery.parse(raw, self.settings.max_message_bytes)
            done = await self.writer.run(work, isolated=not delivery.simple(parsed))
        except SandboxError as exc:
            reply = smtp_reply(exc)
            record.data(len(raw), reply)
            return reply
        except Exception as exc:  # the batch's commit (or the writer) failed: nothing of it is stored
            log.warning("SMTP delivery not stored: %r", exc)
            # RFC 5321 §4.2.5: a transient failure after DATA; the client keeps the message.
            reply = "451 4.3.0 Local error: the message was not stored, try again later"
            record.data(len(raw), reply)
            return reply
        finally:
            record.notes.extend(notes)
            stop_notes(token)
        reply = f"250 2.0.0 Ok: queued as {done.message_id}"
        record.data(len(raw), reply)
        return reply


# aiosmtpd reads the hook's signature on every connection (to tell its old 4-argument
# form from the new one); computed once here, ``inspect.signature`` finds it.
MssHandler.handle_EHLO.__signature__ = inspect.signature(MssHandler.handle_EHLO)  # type: ignore[attr-defined]


class LiveSessions:
    """The listener's open sessions, for the delivery writer's ``expected``."""

    def __init__(self) -> None:
        # By id: added and removed on the event loop, copied whole (one C call, under the
        # GIL) by the writer thread, which therefore never sees it change mid-iteration.
        self._servers: dict[int, SMTP] = {}

    def add(self, server: SMTP) -> None:
        self._servers[id(server)] = server

    def discard(self, server: SMTP) -> None:
        self._servers.pop(id(server), None)

    def in_transaction(self) -> int:
        """How many sessions are inside a mail transaction (``MAIL FROM`` accepted,
        ``DATA`` not answered yet: aiosmtpd clears the envelope once the DATA hook has
        returned), their deliveries soon or already queued. Read from the writer thread:
        a count a moment old only makes a batch wait a little less or longer."""
        return sum(1 for server in tuple(self._servers.values()) if _in_transaction(server))


def _in_transaction(server: SMTP) -> bool:
    envelope = server.envelope
    return server.transport is not None and envelope is not None and envelope.mail_from is not None


async def principal_of(auth: ResourceServer, token: str) -> service.Caller | None:
    """The caller behind a bearer token (SASL XOAUTH2/OAUTHBEARER), or None if refused."""
    from shared.oauth.principals import principal_from_claims

    try:
        verifier = auth.router.verifier_for(token)
        claims = await verifier.averify(token)
        return principal_from_claims(dict(claims), "psc" if verifier is auth.psc else "mes")
    except SandboxError:
        return None


def log_of(session: SmtpSession) -> SessionLog:
    record = getattr(session, "mss_log", None)
    if record is None:
        peer = session.peer
        record = SessionLog(peer=f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer))
        session.mss_log = record  # type: ignore[attr-defined]
    return record


class MssSMTP(_ListsHooksOnly, SMTP):
    """aiosmtpd's server, recording each session as one exchange when it closes."""

    #: The stream's line limit must let a 12288-octet AUTH line through (RFC 4954 §4).
    line_length_limit = 12300

    def __init__(self, handler: MssHandler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.mss_handler = handler
        # RFC 4954 §4: an AUTH line may be up to 12288 octets (a JWT does not fit in 512).
        # An instance dict: aiosmtpd's default is shared by the class.
        self.command_size_limits = collections.defaultdict(lambda: SMTP.command_size_limit, {"AUTH": 12288})

    #: ``_getaddr`` answers by command argument (see below); bounded, shared by sessions.
    _addresses: ClassVar[dict[tuple[str, int], tuple[str | None, str | None]]] = {}

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        """aiosmtpd's ``MAIL FROM``/``RCPT TO`` address parsing, remembered by argument.

        aiosmtpd parses each address with the stdlib's RFC 5322 header parser and defines
        a ``typing.Protocol`` class on every call: almost half of the listener's own time
        per message. The answer depends only on the argument (and ``local_part_limit``),
        and the same few addresses come again and again."""
        key = (arg, self.local_part_limit)
        found = self._addresses.get(key)
        if found is None:
            found = super()._getaddr(arg)
            if len(self._addresses) < _ADDRESS_CACHE_SIZE:
                self._addresses[key] = found
        return found

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.mss_handler.sessions.add(self)

    def connection_lost(self, error: Exception | None) -> None:
        self.mss_handler.sessions.discard(self)
        session = getattr(self, "session", None)
        if session is not None:
            record = log_of(session)
            data = session.auth_data
            if data is not None:
                record.caller = service.describe(data) if not isinstance(data, LoginPassword) else "?"
            _record(self.mss_handler.runtime, record)
        super().connection_lost(error)


def _record(runtime: Runtime, record: SessionLog) -> None:
    if not record.lines:
        return  # a bare connection (health checks, benchmarks' probes) is not an exchange
    transcript = "\n".join(record.lines)
    if record.more:
        transcript += f"\n... and {record.more} more commands"
    status = 550 if record.refused else 250
    runtime.exchanges.add(
        Exchange(
            service="mss",
            direction="inbound",
            method="SMTP",
            path="/smtp",
            time=record.at,
            caller="external",
            target="mss",
            trace_id=None,
            protocol="smtp",
            status=status,
            duration_ms=round((time.perf_counter() - record.started) * 1000, 2),
            client_id=record.caller,
            request=Message({"peer": record.peer}, transcript, "utf-8", len(transcript)),
            notes=record.notes,
        )
    )


async def start(
    runtime: Runtime,
    auth: ResourceServer,
    settings: MssSettings,
    writer: DeliveryWriter,
    listener_tls: ListenerTls,
    sessions: LiveSessions,
    stack: AsyncExitStack,
) -> None:
    """Listen on ``settings.smtp_port`` on the running loop (the service's) until ``stack`` closes."""
    handler = MssHandler(runtime, auth, settings, writer, sessions)
    loop = asyncio.get_running_loop()

    def factory() -> MssSMTP:
        return MssSMTP(
            handler,
            hostname=SERVER_NAME,
            ident="mes-sandbox MSSanté ESMTP",
            data_size_limit=settings.max_message_bytes,
            enable_SMTPUTF8=True,
            tls_context=listener_tls.context,  # the current one (a snapshot may bring another)
            require_starttls=False,
            auth_required=False,
            auth_require_tls=True,
            authenticator=handler.authenticator,
            decode_data=False,
            loop=loop,
        )

    server = await loop.create_server(factory, host=settings.host, port=settings.smtp_port)
    stack.push_async_callback(server.wait_closed)
    stack.callback(server.close)

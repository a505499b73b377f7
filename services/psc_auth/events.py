"""Revocation events: Pro Santé Connect tells the resource servers (the DMP, MSSanté) when
some of its access tokens may have stopped being active, so that they can keep its
introspection answers in between (``shared/oauth/security_events.py`` says why; RFC 8417
SETs pushed as RFC 8935 describes; the real PSC has no such push, README "Revocation
events").

What can turn an active access token inactive here: a token revoked (``issued_tokens``), a
grant revoked (``revoked_grants``: a code redeemed twice, a refresh token reused or
revoked), a login session ended or removed (``sessions``: a logout, a reset or a snapshot
load), a change of the signing keys, the clock moving. The database side is
watched on the engine, whatever code issues the statement, so that no new path can forget
it; the clock says it itself. Each request's reasons are pushed once, after its
transaction committed and before its response starts: when a client reads the answer of a
revocation, the DMP and MSSanté already refuse the token.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any, Protocol

import httpx
from sqlalchemy import event
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.oauth.keys import sign
from shared.oauth.security_events import RECEIVER_PATH, SET_MEDIA_TYPE, SET_TYP, tokens_changed

log = logging.getLogger(__name__)

#: The reasons noted while serving the current request (``None`` outside a request).
PENDING: ContextVar[set[str] | None] = ContextVar("psc_pending_events", default=None)
#: The statements that may deactivate tokens (their first words: verb, then table), and
#: the reason they give. Inserts into the two revocation tables revoke; a session ends by
#: an update and goes by a delete.
WATCHED = (
    (("insert into issued_tokens", "update issued_tokens", "delete from issued_tokens"), "tokens"),
    (("insert into revoked_grants", "update revoked_grants", "delete from revoked_grants"), "tokens"),
    (("update sessions", "delete from sessions"), "tokens"),
    (("update signing_keys", "delete from signing_keys"), "keys"),
)
#: A receiver that does not answer within this delays the revocation's answer no longer.
PUSH_TIMEOUT = 2.0


def mark(reason: str) -> None:
    """Note that tokens may have changed; pushed when the current request answers."""
    pending = PENDING.get()
    if pending is not None:
        pending.add(reason)


def _watch_statement(
    _conn: Any, _cursor: Any, statement: str, _parameters: Any, _context: Any, _executemany: bool
) -> None:
    head = " ".join(statement[:64].lower().split())
    for starts, reason in WATCHED:
        if head.startswith(starts):
            mark(reason)


def watch(engine: Engine) -> None:
    """Mark every UPDATE or DELETE of the watched tables run on ``engine``. A statement
    rolled back afterwards still pushes: a needless event only costs a new introspection."""
    event.listen(engine, "before_cursor_execute", _watch_statement)


class Keys(Protocol):
    def current(self) -> dict[str, Any] | None: ...


class Transmitter:
    """Signs one SET per receiver and posts it (RFC 8935 §2); a receiver's failure is
    logged, never raised: the revocation itself has already happened."""

    def __init__(
        self,
        issuer: str,
        keys: Keys,
        receivers: Mapping[str, tuple[str, httpx.AsyncClient]],
        admin_token: str | None,
    ) -> None:
        self.issuer = issuer
        self.keys = keys
        #: The last signing key seen: a snapshot without keys leaves none to sign with, and
        #: the receivers must still hear of it (one that cannot check the key drops all).
        self.last_key = keys.current()
        #: service name -> (its client id at PSC, the SET's ``aud``; a client to it)
        self.receivers = dict(receivers)
        self.headers = {"Content-Type": SET_MEDIA_TYPE, "Accept": "application/json"}
        if admin_token:
            self.headers["Authorization"] = f"Bearer {admin_token}"
        self.pushed = 0

    async def push(self, reasons: set[str]) -> None:
        key = self.keys.current() or self.last_key
        if not self.receivers or not reasons or key is None:
            return
        self.last_key = key
        await asyncio.gather(*(self._push_one(name, key, reasons) for name in self.receivers))

    async def _push_one(self, name: str, key: dict[str, Any], reasons: set[str]) -> None:
        audience, client = self.receivers[name]
        # Real time, not PSC's movable clock: the receivers check exp against theirs.
        claims = tokens_changed(self.issuer, audience, sorted(reasons), now=time.time())
        signed = await run_in_threadpool(sign, claims, key, typ=SET_TYP)
        try:
            answer = await client.post(
                RECEIVER_PATH, content=signed, headers=self.headers, timeout=PUSH_TIMEOUT
            )
        except httpx.HTTPError as exc:
            log.warning("revocation event to %s not delivered: %s", name, exc)
            return
        if answer.status_code != 202:
            log.warning("revocation event to %s refused: %s %s", name, answer.status_code, answer.text[:300])
            return
        self.pushed += 1

    async def aclose(self) -> None:
        for _audience, client in self.receivers.values():
            await client.aclose()


class EventsMiddleware:
    """Pure ASGI: collects the request's reasons and pushes them as its response starts
    (the session dependency has committed by then, house rule 5)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        pending: set[str] = set()
        token = PENDING.set(pending)

        async def flush() -> None:
            transmitter: Transmitter | None = getattr(scope["app"].state, "events", None)
            reasons = set(pending)
            pending.clear()
            if transmitter is not None and reasons:
                await transmitter.push(reasons)

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start" and pending:
                await flush()
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            PENDING.reset(token)
            if pending:  # noted after the response started (or the request failed)
                await flush()

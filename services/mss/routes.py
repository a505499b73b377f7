"""MSSanté's HTTP messaging API (thin handlers; README, "MSSanté").

``POST /api/messages`` is contract 5: JSON (or ``message/rfc822``) in, 201 out.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import json
import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from services.mss import service
from services.mss.dependencies import PrincipalDep, SettingsDep, WriterDep
from services.mss.errors import BadRequestError, MalformedMessageError, NotFoundError
from services.mss.mail import delivery, folders, mime
from services.mss.models import Mailbox, Message
from services.mss.schemas import (
    FlagsIn,
    MailboxOut,
    MessageDetail,
    MessageIn,
    MessageSummary,
    PasswordOut,
    SentOut,
    summary_of,
)
from shared.errors import UnsupportedMediaTypeError
from shared.web.deps import RuntimeDep, SessionDep

router = APIRouter(prefix="/api", tags=["Messagerie"])

_RAW_TYPES = ("message/rfc822", "message/global")


@router.get("/mailboxes", summary="The mailboxes the caller may use")
def my_mailboxes(session: SessionDep, principal: PrincipalDep) -> list[MailboxOut]:
    return [MailboxOut.model_validate(box) for box in service.mailboxes_of(session, principal)]


@router.post(
    "/messages",
    status_code=201,
    summary="Send a message (JSON, or a raw MIME message as message/rfc822)",
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/MessageIn"}},
                "message/rfc822": {"schema": {"type": "string", "format": "binary"}},
            },
            "required": True,
        }
    },
)
async def send(
    request: Request, writer: WriterDep, principal: PrincipalDep, settings: SettingsDep
) -> SentOut:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    limit = settings.max_message_bytes
    body = await request.body()
    if content_type in _RAW_TYPES:
        build = None
    elif content_type in ("application/json", ""):
        form = _json_message(body)
        build = form
    else:
        raise UnsupportedMediaTypeError(f"send JSON or {' or '.join(_RAW_TYPES)}, not '{content_type}'")

    def work(session: Session) -> delivery.Delivered:
        raw = body if build is None else _raw_of(session, principal, build)
        parsed = delivery.parse(raw, limit)
        return delivery.deliver(session, principal, parsed, raw=raw)

    done = await writer.run(work)
    return SentOut(
        id=done.id,
        message_id=done.message_id,
        thread=done.thread,
        sender=done.sender,
        recipients=done.recipients,
        acknowledgements=done.acknowledgements,
    )


def _json_message(body: bytes) -> MessageIn:
    from pydantic import ValidationError

    try:
        return MessageIn.model_validate_json(body or b"{}")
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise BadRequestError(f"{where}: {first['msg']}", expression=[where]) from exc


def _raw_of(session: Session, caller: service.Caller, form: MessageIn) -> bytes:
    in_reply_to, references = None, []
    if form.in_reply_to:
        original = _original(session, caller, form.in_reply_to)
        in_reply_to = original.message_id
        references = [original.thread] if original.thread != original.message_id else []
    box = delivery.check_sender(session, caller, form.sender)
    try:
        message = mime.build(
            sender=box.address,
            sender_name=box.display_name,
            to=form.to,
            cc=form.cc,
            subject=form.subject,
            body=form.body,
            attachments=[
                mime.Attachment(a.filename, a.content_type, mime.decode_base64(a.content_base64, a.filename))
                for a in form.attachments
            ],
            headers=form.headers,
            in_reply_to=in_reply_to,
            references=references,
        )
    except mime.MalformedMessage as exc:
        raise MalformedMessageError(str(exc)) from exc
    return message.as_bytes()


def _original(session: Session, caller: service.Caller, ref: str) -> Message:
    """The message replied to: by id or Message-ID, in a mailbox the caller may read."""
    for box in service.mailboxes_of(session, caller):
        try:
            return folders.get(session, box.address, ref)
        except NotFoundError:
            continue
    raise NotFoundError(
        f"no message {ref} in the caller's mailboxes", error="unknown_message", expression=["in_reply_to"]
    )


Folder = Annotated[str, Query(pattern="^(INBOX|Sent)$", description="INBOX or Sent")]


@router.get("/mailboxes/{address}/messages", summary="List or search a folder, newest first")
def list_messages(
    address: str,
    session: SessionDep,
    principal: PrincipalDep,
    folder: Folder = "INBOX",
    unread: bool | None = None,
    sender: Annotated[str | None, Query(alias="from")] = None,
    subject: str | None = None,
    thread: str | None = None,
    q: Annotated[str | None, Query(description="text in the subject, addresses or body")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[MessageSummary]:
    box = service.require_mailbox(session, principal, address, "read")
    stmt = folders.query(
        box.address, folder=folder, unread=unread, sender=sender, subject=subject, thread=thread
    )
    return [
        MessageSummary.model_validate(summary_of(r)) for r in folders.search(session, stmt, q, limit, offset)
    ]


@router.get("/mailboxes/{address}/messages/{message}", summary="Read a message (by id or Message-ID)")
def read_message(address: str, message: str, session: SessionDep, principal: PrincipalDep) -> MessageDetail:
    box = service.require_mailbox(session, principal, address, "read")
    row = folders.get(session, box.address, message)
    headers, body, _ = folders.headers_and_body(row)
    return MessageDetail.model_validate({**summary_of(row), "headers": headers, "body": body})


@router.get("/mailboxes/{address}/messages/{message}/raw", summary="The message as sent (message/rfc822)")
def raw_message(address: str, message: str, session: SessionDep, principal: PrincipalDep) -> Response:
    box = service.require_mailbox(session, principal, address, "read")
    return Response(folders.get(session, box.address, message).raw, media_type="message/rfc822")


@router.get("/mailboxes/{address}/messages/{message}/attachments/{index}", summary="One attachment")
def attachment(
    address: str, message: str, index: int, session: SessionDep, principal: PrincipalDep
) -> Response:
    box = service.require_mailbox(session, principal, address, "read")
    _, _, attachments = folders.headers_and_body(folders.get(session, box.address, message))
    if not 0 <= index < len(attachments):
        raise NotFoundError(f"message {message} has no attachment {index}", error="unknown_attachment")
    item = attachments[index]
    disposition = f'attachment; filename="{item.filename}"'
    return Response(item.data, media_type=item.content_type, headers={"Content-Disposition": disposition})


@router.patch("/mailboxes/{address}/messages/{message}", summary="Mark read/unread, flag/unflag")
def set_flags(
    address: str, message: str, flags: FlagsIn, session: SessionDep, principal: PrincipalDep
) -> MessageSummary:
    box = service.require_mailbox(session, principal, address, "read")
    row = folders.get(session, box.address, message)
    if flags.seen is not None:
        row.seen = flags.seen
    if flags.flagged is not None:
        row.flagged = flags.flagged
    session.flush()
    return MessageSummary.model_validate(summary_of(row))


@router.delete("/mailboxes/{address}/messages/{message}", status_code=204, summary="Delete a message")
def delete_message(address: str, message: str, session: SessionDep, principal: PrincipalDep) -> Response:
    box = service.require_mailbox(session, principal, address, "read")
    session.delete(folders.get(session, box.address, message))
    return Response(status_code=204)


@router.get(
    "/mailboxes/{address}/wait",
    summary="Wait until a matching message is in the folder (for tests), or 404 after the timeout",
)
async def wait_for_message(
    address: str,
    runtime: RuntimeDep,
    principal: PrincipalDep,
    folder: Folder = "INBOX",
    sender: Annotated[str | None, Query(alias="from")] = None,
    subject: str | None = None,
    message_id: str | None = None,
    thread: str | None = None,
    unread: bool | None = None,
    since: dt.datetime | None = None,
    timeout: Annotated[float, Query(gt=0, le=60)] = 10.0,  # noqa: ASYNC109 - the API's own parameter
) -> MessageSummary:
    def look() -> dict[str, Any] | None:
        with runtime.database().session(write=False) as session:
            box = service.require_mailbox(session, principal, address, "read")
            stmt = folders.query(
                box.address,
                folder=folder,
                unread=unread,
                sender=sender,
                subject=subject,
                thread=thread,
                message_id=message_id,
                since=since,
            )
            rows = folders.search(session, stmt, None, 1, 0)
            return summary_of(rows[0]) if rows else None

    deadline = time.monotonic() + timeout
    while True:
        found = await run_in_threadpool(look)
        if found is not None:
            return MessageSummary.model_validate(found)
        if time.monotonic() >= deadline:
            raise NotFoundError(
                f"no matching message arrived in {address} within {timeout:g} s", error="timeout"
            )
        await asyncio.sleep(0.05)


@router.get(
    "/tls/certificate",
    summary="The sandbox certificate of the SMTP and IMAP STARTTLS (PEM), to trust or pin",
    response_class=Response,
)
def tls_certificate(session: SessionDep) -> Response:
    from services.mss.models import TlsMaterial

    material = session.get(TlsMaterial, "listeners")
    if material is None:
        raise NotFoundError("no certificate yet: reset the service")
    return Response(material.certificate_pem, media_type="application/x-pem-file")


@router.put(
    "/mailboxes/{address}/password",
    summary="A new sandbox application password of the mailbox (SMTP/IMAP PLAIN and LOGIN)",
)
def new_password(address: str, session: SessionDep, principal: PrincipalDep) -> PasswordOut:
    box = service.require_mailbox(session, principal, address, "write")
    return PasswordOut(
        address=box.address,
        password=service.new_password(session, box),
        usage="SMTP AUTH PLAIN/LOGIN and IMAP LOGIN with the mailbox address as user name",
    )


directory_router = APIRouter(prefix="/fhir/v2", tags=["Annuaire Santé (BAL MSSanté)"])


@directory_router.get(
    "/{resource}",
    summary="Search the directory: Practitioner, PractitionerRole or Organization with their mailboxes",
    response_class=Response,
)
def directory_search(
    resource: str, request: Request, session: SessionDep, runtime: RuntimeDep, settings: SettingsDep
) -> Response:
    from services.mss import directory
    from shared.errors import UnauthorizedError

    key = request.headers.get("esante-api-key", "")
    if not key or not hmac.compare_digest(key.encode(), settings.directory_api_key.encode()):
        raise UnauthorizedError(
            "the Annuaire Santé API needs the header ESANTE-API-KEY (README, MSSanté)",
            error="unauthorized",
            headers={"WWW-Authenticate": 'ApiKey header="ESANTE-API-KEY"'},
        )
    if resource not in directory.CARRIERS:
        raise NotFoundError(f"resource type '{resource}' is not served here", fhir_code="not-supported")
    bundle = directory.search(
        resource,
        dict(request.query_params),
        runtime.loaded_personas(),
        session.scalars(select(Mailbox).where(Mailbox.type != "PAT")),
        f"{settings.public_url}/fhir/v2",
    )
    return Response(json.dumps(bundle), media_type="application/fhir+json")

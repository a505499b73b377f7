"""``Annotated`` dependency aliases every service uses (``SessionDep``, ``AdminDep``...).

Transactions belong to the request (architecture rule 5): the session dependency commits
when the endpoint returns, *before* the response is sent (``scope="function"``), and
rolls back if it raises, so a write either fully lands or leaves nothing. Reads (GET,
HEAD) open a read transaction; everything else a write one (``BEGIN IMMEDIATE`` on
SQLite). ``ReadSessionDep`` forces a read transaction for a POST that only reads (token
introspection) and must not queue behind writers.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from shared.errors import UnauthorizedError
from shared.web.runtime import Runtime

_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def _session(request: Request, write: bool) -> Iterator[Session]:
    with get_runtime(request).database().session(write=write) as session:
        yield session


def get_session(request: Request) -> Iterator[Session]:
    yield from _session(request, request.method not in _READ_METHODS)


def get_read_session(request: Request) -> Iterator[Session]:
    yield from _session(request, False)


def get_write_session(request: Request) -> Iterator[Session]:
    yield from _session(request, True)


SessionDep = Annotated[Session, Depends(get_session, scope="function")]
ReadSessionDep = Annotated[Session, Depends(get_read_session, scope="function")]
WriteSessionDep = Annotated[Session, Depends(get_write_session, scope="function")]


def require_admin(request: Request) -> None:
    """``/_sandbox/`` is open unless ``MES_ADMIN_TOKEN`` is set; then it needs that bearer."""
    expected = get_runtime(request).settings.admin_token
    if not expected:
        return
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise UnauthorizedError(
            "the sandbox controls need 'Authorization: Bearer <MES_ADMIN_TOKEN>'",
            error="unauthorized",
            headers={"WWW-Authenticate": 'Bearer realm="mes-sandbox-admin"'},
        )


AdminDep = Annotated[None, Depends(require_admin)]

"""Dependency aliases of the DMP's endpoints.

They are ``async def`` where they do not block: FastAPI runs every plain ``def``
dependency in the thread pool, a hop that costs more than the dependency itself on the hot
paths (ITI-65, ITI-67; issue #4 item 10). A token whose introspection answer is kept
(README, "Revocation events") is read on the event loop; the others are verified in the
thread pool with the synchronous client (httpcore's asynchronous one tries to import
``sniffio`` on every request, which costs more than the hop).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.dmp.access.caller import Caller, caller_from_request
from services.dmp.settings import DmpSettings
from shared.errors import PayloadTooLargeError
from shared.oauth.principals import Principal
from shared.oauth.resource import ResourceServer
from shared.web.deps import get_runtime
from shared.web.runtime import Runtime


async def aget_runtime(request: Request) -> Runtime:
    return get_runtime(request)


RuntimeDep = Annotated[Runtime, Depends(aget_runtime)]


def get_auth(request: Request) -> ResourceServer:
    auth: ResourceServer = request.app.state.auth
    return auth


async def get_principal(request: Request) -> Principal:
    """The caller from its Pro Santé Connect or Mon espace santé token, or a 401."""
    return await get_auth(request).caller(request)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def get_caller(request: Request, principal: PrincipalDep) -> Caller:
    return caller_from_request(request, principal)


CallerDep = Annotated[Caller, Depends(get_caller)]


def settings_of(request: Request) -> DmpSettings:
    settings = get_runtime(request).settings
    assert isinstance(settings, DmpSettings)
    return settings


async def get_settings(request: Request) -> DmpSettings:
    return settings_of(request)


SettingsDep = Annotated[DmpSettings, Depends(get_settings)]


async def get_body(request: Request) -> bytes:
    """The request body, refused above ``MES_DMP_MAX_BODY_BYTES`` (413)."""
    limit = settings_of(request).max_body_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(f"the body is larger than {limit} bytes (MES_DMP_MAX_BODY_BYTES)")
    body = await request.body()
    if len(body) > limit:
        raise PayloadTooLargeError(f"the body is larger than {limit} bytes (MES_DMP_MAX_BODY_BYTES)")
    return body


BodyDep = Annotated[bytes, Depends(get_body)]


async def base_url(request: Request) -> str:
    """``{MES_DMP_URL public}/fhir``: the FHIR base of fullUrls and attachment URLs."""
    return f"{get_runtime(request).settings.public_url}/fhir"


BaseUrlDep = Annotated[str, Depends(base_url)]


async def front_context(request: Request) -> tuple[Caller, Runtime, str]:
    """``CallerDep``, ``RuntimeDep`` and ``BaseUrlDep`` solved in FastAPI's order, for the
    endpoints answered in front of the router (``shared/web/front.py``): the token is
    checked first, so a request failing two checks gets the same error either way."""
    caller = await get_caller(request, await get_principal(request))
    return caller, await aget_runtime(request), await base_url(request)

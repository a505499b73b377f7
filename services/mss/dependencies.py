"""Dependency aliases of MSSanté's endpoints: ``async def`` (FastAPI runs a plain ``def``
dependency in the thread pool, a hop that costs more than these getters)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.mss.settings import MssSettings
from services.mss.writer import DeliveryWriter
from shared.oauth.principals import Principal
from shared.oauth.resource import ResourceServer
from shared.web.deps import get_runtime


def get_auth(request: Request) -> ResourceServer:
    auth: ResourceServer = request.app.state.auth
    return auth


async def get_principal(request: Request) -> Principal:
    """The caller from its Pro Santé Connect or Mon espace santé token, or a 401."""
    return await get_auth(request).caller(request)


async def get_writer(request: Request) -> DeliveryWriter:
    writer: DeliveryWriter = request.app.state.writer
    return writer


async def get_settings(request: Request) -> MssSettings:
    settings = get_runtime(request).settings
    assert isinstance(settings, MssSettings)
    return settings


PrincipalDep = Annotated[Principal, Depends(get_principal)]
SettingsDep = Annotated[MssSettings, Depends(get_settings)]
WriterDep = Annotated[DeliveryWriter, Depends(get_writer)]

"""Every router of Mon espace santé, in the order they are mounted."""

from __future__ import annotations

from fastapi import APIRouter

from services.catalog.accounts import routes as accounts
from services.catalog.catalogue import routes as catalogue
from services.catalog.consent import routes as consent
from services.catalog.mesures import routes as mesures
from services.catalog.oauth import authorize_routes
from services.catalog.oauth import routes as oauth
from services.catalog.space import dmp_routes
from services.catalog.space import routes as space

#: The mesures API first: FastAPI matches routes in order, and it is the hot path.
ROUTERS: tuple[APIRouter, ...] = (
    mesures.router,
    oauth.router,
    authorize_routes.router,
    accounts.router,
    space.router,
    dmp_routes.router,
    catalogue.router,
    consent.router,
)

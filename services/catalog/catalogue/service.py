"""The catalogue of referenced services (fr-ecosystem.md §4, "Catalogue rules").

Two tracks: simple listing (``listed``) or listing with data exchange (``exchange``). A
referencing lasts one year and can be renewed; the sandbox allows two renewals of one
year each (the sources say "1 year, renewable for 2 more": our reading, README). A
withdrawn or expired app can no longer exchange data: no pairing, no token, and its tokens
are inactive at introspection.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.catalog.models import App
from services.catalog.service import ACCESS_LABELS, CATEGORIES, scope_label, today
from shared.db.base import utcnow
from shared.errors import BadRequestError, ConflictError, NotFoundError
from shared.personas import CatalogApp

AppState = Literal["active", "expired", "withdrawn", "pending"]
MAX_RENEWALS = 2
STATE_LABELS: dict[str, str] = {
    "active": "référencé",
    "expired": "référencement expiré",
    "withdrawn": "retiré du catalogue",
    "pending": "référencement à venir",
}
TRACK_LABELS: dict[str, str] = {"listed": "référencement simple", "exchange": "avec échange de données"}


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def one_year_after(day: dt.date) -> dt.date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year + 1, day=28)


def from_persona(app: CatalogApp) -> App:
    return App(
        id=app.id,
        name=app.name,
        editor=app.editor,
        editor_oid=app.editor_oid,
        description=app.description,
        track=app.track,
        status=app.status,
        referenced_on=app.referenced_on,
        expires_on=app.expires_on,
        renewals=0,
        withdrawn_at=None,
        withdrawal_reason=None,
        data=[{"category": d.category, "access": list(d.access)} for d in app.data],
        client_id=app.client_id,
        client_secret_hash=secret_hash(app.client_secret) if app.client_secret else None,
        redirect_uris=list(app.redirect_uris),
        website=app.website,
    )


def state(app: App, on: dt.date | None = None) -> AppState:
    day = on or today()
    if app.status == "withdrawn":
        return "withdrawn"
    if day < app.referenced_on:
        return "pending"
    if day >= app.expires_on:
        return "expired"
    return "active"


def scopes(app: App) -> list[str]:
    """The data the app is referenced for, as scopes (``mesures.write``...)."""
    return [f"{d['category']}.{access}" for d in app.data for access in d["access"]]


def exchange_refusal(app: App) -> str | None:
    """Why ``app`` may not exchange data today, or ``None`` when it may."""
    current = state(app)
    if current == "withdrawn":
        return f"the app '{app.id}' was withdrawn from the catalogue"
    if current == "expired":
        return f"the referencing of the app '{app.id}' expired on {app.expires_on.isoformat()}"
    if current == "pending":
        return f"the app '{app.id}' is referenced from {app.referenced_on.isoformat()} only"
    if app.track != "exchange":
        return f"the app '{app.id}' is listed without data exchange"
    return None


def check_secret(app: App, secret: str | None) -> bool:
    if app.client_secret_hash is None or secret is None:
        return False
    return hmac.compare_digest(secret_hash(secret), app.client_secret_hash)


def find(session: Session, app_id: str) -> App:
    app = session.get(App, app_id)
    if app is None:
        raise NotFoundError(f"no app '{app_id}' in the catalogue")
    return app


def by_client(session: Session, client_id: str) -> App | None:
    return session.scalars(select(App).where(App.client_id == client_id)).first()


def listing(session: Session) -> list[App]:
    return list(session.scalars(select(App).order_by(App.name)))


def to_json(app: App) -> dict[str, Any]:
    """The public description of an app (no secret)."""
    current = state(app)
    return {
        "id": app.id,
        "name": app.name,
        "editor": app.editor,
        "editor_oid": app.editor_oid,
        "description": app.description,
        "track": app.track,
        "status": current,
        "status_label": STATE_LABELS[current],
        "referenced_on": app.referenced_on.isoformat(),
        "expires_on": app.expires_on.isoformat(),
        "renewals": app.renewals,
        "renewals_left": MAX_RENEWALS - app.renewals,
        "withdrawn_at": app.withdrawn_at.isoformat() if app.withdrawn_at else None,
        "withdrawal_reason": app.withdrawal_reason,
        "data": [
            {
                "category": d["category"],
                "category_label": CATEGORIES.get(d["category"], d["category"]),
                "access": list(d["access"]),
                "scopes": [f"{d['category']}.{a}" for a in d["access"]],
            }
            for d in app.data
        ],
        "client_id": app.client_id,
        "public_client": app.client_secret_hash is None,
        "redirect_uris": list(app.redirect_uris),
        "website": app.website,
    }


def data_lines(app: App) -> list[str]:
    """French lines for pages: one per category and direction."""
    return [scope_label(scope) for scope in scopes(app)]


def _check_data(track: str, data: list[dict[str, Any]]) -> None:
    if track == "listed" and data:
        raise BadRequestError("an app listed without data exchange cannot declare data categories")
    if track == "exchange" and not data:
        raise BadRequestError("an app listed with data exchange must declare its data categories")
    seen: set[str] = set()
    for item in data:
        if item["category"] not in CATEGORIES:
            raise BadRequestError(f"unknown data category '{item['category']}'")
        if item["category"] in seen:
            raise BadRequestError(f"data category '{item['category']}' appears twice")
        seen.add(item["category"])
        for access in item["access"]:
            if access not in ACCESS_LABELS:
                raise BadRequestError(f"unknown direction '{access}' (read or write)")


def reference(session: Session, fields: dict[str, Any], public: bool) -> tuple[App, str | None]:
    """A new referencing, for one year from today; returns the app and its new secret."""
    if session.get(App, fields["id"]) is not None:
        raise ConflictError(f"an app '{fields['id']}' is already in the catalogue")
    if by_client(session, fields["client_id"]) is not None:
        raise ConflictError(f"the client id '{fields['client_id']}' is already used")
    _check_data(fields["track"], fields["data"])
    secret = None if public else secrets.token_urlsafe(24)
    start = today()
    app = App(
        **fields,
        status="referenced",
        referenced_on=start,
        expires_on=one_year_after(start),
        renewals=0,
        client_secret_hash=secret_hash(secret) if secret else None,
    )
    session.add(app)
    session.flush()
    return app, secret


def renew(session: Session, app_id: str) -> App:
    """One more year, from the end of the current one (or from today if it has ended)."""
    app = find(session, app_id)
    if app.status == "withdrawn":
        raise ConflictError(f"the app '{app_id}' was withdrawn: it must be referenced again")
    if app.renewals >= MAX_RENEWALS:
        raise ConflictError(
            f"the app '{app_id}' was already renewed {MAX_RENEWALS} times: it must be referenced again"
        )
    app.expires_on = one_year_after(max(app.expires_on, today()))
    app.renewals += 1
    session.flush()
    return app


def withdraw(session: Session, app_id: str, reason: str) -> App:
    app = find(session, app_id)
    if app.status == "withdrawn":
        raise ConflictError(f"the app '{app_id}' is already withdrawn")
    app.status = "withdrawn"
    app.withdrawn_at = utcnow()
    app.withdrawal_reason = reason
    session.flush()
    return app


def update(session: Session, app_id: str, changes: dict[str, Any]) -> App:
    """A new referencing file: name, description, redirect URIs, website, or the editor's OID
    (ID tokens carrying the old OID then get the mesures API's 409)."""
    app = find(session, app_id)
    for name, value in changes.items():
        setattr(app, name, value)
    session.flush()
    return app

"""``GET /health``: 200 once the service can serve, 503 with the reason otherwise."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from shared import __version__
from shared.db import migrate
from shared.web.deps import RuntimeDep

router = APIRouter(tags=["health"])


@router.get("/health", summary="Ready, seeded, migrations at head")
def health(runtime: RuntimeDep) -> JSONResponse:
    base = {"service": runtime.spec.name, "version": __version__}
    try:
        status = runtime.seed_manager().status()
        current = migrate.current_revision(runtime.database().engine)
    except (SQLAlchemyError, RuntimeError) as exc:
        reason = f"database unavailable: {type(exc).__name__}: {str(exc).splitlines()[0]}"
        return _unavailable(base, reason)
    if current != runtime.schema:
        return _unavailable(base, f"migrations at {current}, expected {runtime.schema}")
    if not status.seeded:
        return _unavailable(base, "the database is not seeded")
    return JSONResponse(
        {
            "status": "ok",
            **base,
            "seeded": True,
            "seeded_at": status.seeded_at,
            "seed": "stale" if status.stale else "current",
            "migrations": current,
        }
    )


def _unavailable(base: dict[str, str], reason: str) -> JSONResponse:
    return JSONResponse(
        {"status": "unavailable", **base, "error": "unavailable", "detail": reason, "reason": reason},
        status_code=503,
    )

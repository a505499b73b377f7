"""The DMP's own test controls, under ``/_sandbox`` (admin-guarded).

``GET /_sandbox/notifications``: the outbox of notices sent through MSSanté (break-the-glass
access), with their status; ``POST /_sandbox/notifications/flush``: send what is pending now.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import select

from services.dmp.dependencies import RuntimeDep
from services.dmp.models import Notification
from services.dmp.notifications import Notifier, notice_json

router = APIRouter(tags=["sandbox"])


@router.get("/notifications", summary="The DMP's outbox (notices to patients and médecins traitants)")
def list_notifications(runtime: RuntimeDep) -> list[dict[str, Any]]:
    with runtime.database().session(write=False) as session:
        return [
            notice_json(n) for n in session.scalars(select(Notification).order_by(Notification.created_at))
        ]


@router.post("/notifications/flush", summary="Send the pending notices now")
def flush_notifications(request: Request) -> dict[str, Any]:
    notifier: Notifier = request.app.state.notifier
    return {"sent": notifier.flush()}

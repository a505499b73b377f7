"""Telling the holder and the médecin traitant of an emergency access, through MSSanté.

L1111-17 I / R1111-48: after a break-the-glass access (or the SAMU regulator's), "the holder
and their médecin traitant are informed afterwards, electronically" (fr-ecosystem.md §2.8).
The notice is written to an outbox in the same transaction as the access, one per day,
professional and DMP; it is sent after the response (never while holding a write
transaction): a Pro Santé Connect ``client_credentials`` token of the DMP's service client
(``mes-sandbox-dmp``), then ``POST {MES_MSS_URL}/api/messages`` from the DMP operator's
application mailbox ``notifications@dmp.mssante.fr`` (contract 5).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from typing import Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services.dmp.access.caller import Caller
from services.dmp.access.policy import Viewer
from services.dmp.models import Dossier, Notification
from shared.db.engine import Database
from shared.oauth.issuers import PSC_OIDC_PATH, psc_internal_base
from shared.personas import Personas
from shared.settings import ServiceSettings

log = logging.getLogger(__name__)

SENDER = "notifications@dmp.mssante.fr"
MAX_ATTEMPTS = 3
_PROFESSION = {
    "10": "médecin",
    "21": "pharmacien",
    "40": "chirurgien-dentiste",
    "50": "sage-femme",
    "60": "infirmier",
    "70": "masseur-kinésithérapeute",
}


def queue_emergency_notice(
    session: Session, dossier: Dossier, caller: Caller, viewer: Viewer, personas: Personas, now: dt.datetime
) -> Notification | None:
    """The outbox entry of an emergency access (none if one was queued in the last day)."""
    pro = caller.professional
    if viewer.emergency is None or pro is None:
        return None
    recent = session.scalars(
        select(Notification.id).where(
            Notification.dossier_id == dossier.id,
            Notification.about == pro.idnat,
            Notification.kind == viewer.emergency,
            Notification.created_at >= now - dt.timedelta(days=1),
        )
    ).first()
    if recent is not None:
        return None
    recipients = [f"{dossier.ins}@patient.mssante.fr"]
    doctor = personas.professional_by_idnat(dossier.medecin_traitant) if dossier.medecin_traitant else None
    if doctor is not None and doctor.mailboxes:
        recipients.append(doctor.mailboxes[0].address)
    mode = "bris de glace" if viewer.emergency == "bris_de_glace" else "régulation médicale (centre 15)"
    who = f"{pro.given_name.title()} {pro.family_name}".strip()
    profession = _PROFESSION.get(pro.profession or "", "professionnel de santé")
    body = (
        f"Bonjour,\n\nLe {now.astimezone(dt.UTC):%d/%m/%Y à %H:%M} (UTC), {who} ({profession}"
        f"{', ' + pro.organisation if pro.organisation else ''}, RPPS {pro.idnat[1:]}) a accédé au dossier "
        f"médical partagé de {dossier.given_names.split()[0].title()} {dossier.family_name} en mode {mode}, "
        "sans autorisation préalable, comme la loi le permet en cas d'urgence (article L1111-17 du code "
        f"de la santé publique).\nMotif déclaré : {caller.reason or 'non précisé'}.\n\n"
        "Cet accès figure dans l'historique des accès de Mon espace santé. Vous pouvez vous opposer aux "
        "accès en urgence depuis les paramètres de confidentialité de votre DMP.\n\n"
        "Message automatique du DMP (bac à sable mes-sandbox, données fictives)."
    )
    notice = Notification(
        id=str(uuid.uuid4()),
        created_at=now,
        dossier_id=dossier.id,
        kind=viewer.emergency,
        about=pro.idnat,
        recipients=recipients,
        subject="Accès en urgence à votre dossier médical partagé",
        body=body,
        status="pending",
        attempts=0,
    )
    session.add(notice)
    return notice


class Notifier:
    """Sends the outbox (after the response, or when asked by ``/_sandbox``)."""

    def __init__(
        self,
        settings: ServiceSettings,
        personas: Personas,
        db: Database,
        psc: httpx.Client,
        mss: httpx.Client,
        enabled: bool,
    ) -> None:
        self.settings = settings
        self.credentials = personas.service_client("dmp")
        self.db = db
        self.psc = psc
        self.mss = mss
        self.enabled = enabled
        self._lock = threading.Lock()

    def _token(self) -> str:
        url = psc_internal_base(self.settings) + PSC_OIDC_PATH + "/token"
        answer = self.psc.post(
            url,
            data={"grant_type": "client_credentials"},
            auth=(self.credentials.client_id, self.credentials.client_secret),
        )
        if answer.status_code != 200:
            raise RuntimeError(
                f"Pro Santé Connect refused the DMP's client_credentials ({answer.status_code}: "
                f"{answer.text[:200]})"
            )
        token: str = answer.json()["access_token"]
        return token

    def _send(self, token: str, notice: Notification) -> str:
        answer = self.mss.post(
            "/api/messages",
            headers={"Authorization": f"Bearer {token}"},
            json={
                "from": SENDER,
                "to": notice.recipients,
                "cc": [],
                "subject": notice.subject,
                "body": notice.body,
                "attachments": [],
                "headers": {},
                "in_reply_to": None,
            },
        )
        if answer.status_code != 201:
            raise RuntimeError(f"MSSanté answered {answer.status_code}: {answer.text[:300]}")
        data: dict[str, Any] = answer.json()
        return str(data.get("message_id") or data.get("id") or "")

    def flush(self) -> int:
        """Send what is pending; the number sent. Never raises (the outcome is recorded)."""
        if not self.enabled:
            return 0
        with self._lock:
            with self.db.session(write=False) as session:
                pending = session.scalars(
                    select(Notification)
                    .where(
                        Notification.status.in_(("pending", "failed")), Notification.attempts < MAX_ATTEMPTS
                    )
                    .order_by(Notification.created_at)
                ).all()
            if not pending:
                return 0
            results: dict[str, tuple[str, str | None, str | None]] = {}
            try:
                token = self._token()
            except (httpx.HTTPError, RuntimeError, KeyError, ValueError) as exc:
                results = {n.id: ("failed", None, f"token: {exc}") for n in pending}
            else:
                for notice in pending:
                    try:
                        results[notice.id] = ("sent", self._send(token, notice), None)
                    except (httpx.HTTPError, RuntimeError, ValueError) as exc:
                        results[notice.id] = ("failed", None, str(exc))
            self._record(results)
            return sum(1 for status, _, _ in results.values() if status == "sent")

    def _record(self, results: dict[str, tuple[str, str | None, str | None]]) -> None:
        # One UPDATE per notice, not a read then an ORM flush: a reset (or a snapshot load)
        # may delete the rows meanwhile, and a notice that is gone is simply not updated.
        now = dt.datetime.now(dt.UTC)
        with self.db.session(write=True) as session:
            for notice_id, (status, message_id, detail) in results.items():
                values: dict[str, Any] = {
                    "attempts": Notification.attempts + 1,
                    "status": status,
                    "detail": detail,
                }
                if status == "sent":
                    values.update(message_id=message_id, sent_at=now)
                else:
                    log.warning("DMP notice %s not sent: %s", notice_id, detail)
                session.execute(update(Notification).where(Notification.id == notice_id).values(**values))


def notice_json(notice: Notification) -> dict[str, Any]:
    return {
        "id": notice.id,
        "created_at": notice.created_at.isoformat(),
        "kind": notice.kind,
        "about": notice.about,
        "recipients": notice.recipients,
        "subject": notice.subject,
        "body": notice.body,
        "status": notice.status,
        "attempts": notice.attempts,
        "detail": notice.detail,
        "message_id": notice.message_id,
        "sent_at": notice.sent_at.isoformat() if notice.sent_at else None,
    }

"""The simulated e-CPS app of each professional: ``GET {MES_PSC_URL}/ecps/{idNatPS}``.

A page of its own (what the phone would show): the pending requests with Accept / Refuse,
and the current TOTP code. The sandbox does not ask for the app's own PIN (fictitious
simplification, README).
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse

from services.psc_auth.dependencies import Psc, PscDep
from services.psc_auth.errors import ConflictError, NotFoundError, PageError
from shared.personas import Professional
from shared.web.deps import ReadSessionDep, SessionDep

router = APIRouter(prefix="/ecps", tags=["Application e-CPS simulée"])


def _professional(psc: Psc, idnat: str) -> Professional:
    pro = psc.registry.professional(idnat)
    if pro is None or pro.idnat != idnat:
        raise PageError(
            "Professionnel inconnu", f"Aucun professionnel n'a l'identifiant {idnat}.", status=404
        )
    return pro


@router.get("/{idnat}", summary="Page: the professional's e-CPS app")
def app_page(idnat: str, session: ReadSessionDep, psc: PscDep, fait: str = "") -> HTMLResponse:
    pro = _professional(psc, idnat)
    code, remaining = psc.factors.totp_now(pro)
    pending = psc.factors.pending(session, pro.id) if pro.ecps.enrolled else []
    names = {
        r.client_id: (c.name if (c := psc.registry.client(r.client_id)) else r.client_id) for r in pending
    }
    return HTMLResponse(
        psc.page(
            "ecps_app.html",
            title="e-CPS",
            pro=pro,
            pending=pending,
            client_names=names,
            code=code,
            remaining=remaining,
            done=fait,
            now=psc.clock.now(),
        )
    )


def _answer(psc: Psc, session: SessionDep, idnat: str, request_id: str, approve: bool) -> RedirectResponse:
    pro = _professional(psc, idnat)
    try:
        psc.factors.answer(session, request_id, approve, pro.id)
    except (NotFoundError, ConflictError) as exc:
        raise PageError("Demande indisponible", exc.detail, status=exc.status_code) from exc
    return RedirectResponse(
        f"{psc.settings.public_url}/ecps/{idnat}?fait={'accepte' if approve else 'refuse'}", 303
    )


@router.post("/{idnat}/demandes/{request_id}/accepter", summary="Accept a request")
def accept(idnat: str, request_id: str, session: SessionDep, psc: PscDep) -> RedirectResponse:
    return _answer(psc, session, idnat, request_id, True)


@router.post("/{idnat}/demandes/{request_id}/refuser", summary="Refuse a request")
def refuse(idnat: str, request_id: str, session: SessionDep, psc: PscDep) -> RedirectResponse:
    return _answer(psc, session, idnat, request_id, False)

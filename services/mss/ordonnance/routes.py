"""The ordonnance numérique's HTTP API (thin handlers; README, "Ordonnance numérique")."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from services.mss.dependencies import PrincipalDep, SettingsDep
from services.mss.mail import delivery, mime
from services.mss.models import Ordonnance
from services.mss.ordonnance import documents, formats, publication, service
from shared.db.base import utcnow
from shared.oauth.bearer import bearer_token
from shared.observability.exchanges import annotate
from shared.web.deps import RuntimeDep, SessionDep

router = APIRouter(prefix="/api", tags=["Ordonnance numérique"])


class Substitute(BaseModel):
    code: str
    display: str = ""
    system: str = "http://data.esante.gouv.fr/ansm/medicament/UCD"


class DispenseItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    line: int = Field(..., ge=1)
    kind: Literal["full", "partial", "substitution"]
    quantity: float | None = Field(None, gt=0)
    substitute: Substitute | None = None


class DispenseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lines: list[DispenseItem] = Field(..., min_length=1)


class ObjectionIn(BaseModel):
    objection: bool


@router.post("/ordonnances", status_code=201, summary="Issue an ordonnance numérique from MedicationRequests")
def issue(
    request: Request,
    bundle: dict[str, Any],
    runtime: RuntimeDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    send_to_patient: bool = Query(False, description="send it to the patient's citizen mailbox"),
    publish_to_dmp: bool = Query(False, description="publish it in the patient's DMP (ITI-65)"),
) -> dict[str, Any]:
    who = service.prescriber(principal)
    prescription = service.read_bundle(bundle, who)
    issued = utcnow()
    db = runtime.database()
    with db.session(write=False) as session:
        ordonnance, lines = service.prepare(session, who, prescription, issued)
        sender = service.prescriber_mailbox(session, who) if send_to_patient else None
    payload = formats.qr_payload(ordonnance.number, who.idnat, issued.date())
    pdf = documents.pdf(ordonnance, lines, payload)
    if publish_to_dmp:
        # The peer call happens before the write transaction (docs/DEVELOPING.md, State).
        answer = request.app.state.dmp.provide(
            publication.iti65_bundle(ordonnance, pdf), bearer_token(request)
        )
        ordonnance.dmp_document = publication.document_location(answer) or "published"
        annotate(f"MSSanté: ordonnance {ordonnance.number} published in the DMP with the prescriber's token")
    with db.session(write=True) as session:
        session.add(ordonnance)
        session.add_all(lines)
        session.flush()
        if sender is not None:
            ordonnance.patient_message_id = _send_to_patient(
                session, who, sender.address, ordonnance, pdf, payload, settings.max_message_bytes
            )
        return service.view(session, principal, ordonnance)


def _send_to_patient(
    session: Any, who: Any, sender: str, ordonnance: Ordonnance, pdf: bytes, payload: str, limit: int
) -> str:
    message = mime.build(
        sender=sender,
        sender_name=ordonnance.prescriber_name,
        to=[f"{ordonnance.patient_ins}@patient.mssante.fr"],
        cc=[],
        subject=f"Votre ordonnance numérique {ordonnance.number}",
        body=(
            f"Bonjour,\n\nVoici votre ordonnance numérique n° {ordonnance.number}. Présentez son QR code "
            "(ou ce numéro) à votre pharmacien.\n\n" + ordonnance.prescriber_name
        ),
        attachments=[
            mime.Attachment(f"ordonnance-{ordonnance.number}.pdf", "application/pdf", pdf),
            mime.Attachment(f"qr-{ordonnance.number}.png", "image/png", documents.qr_png(payload)),
        ],
        headers={"X-MSS-INS": "O"},
    )
    raw = message.as_bytes()
    parsed = delivery.parse(raw, limit)
    done = delivery.deliver(session, who, parsed, raw=raw)
    return done.message_id


@router.get("/ordonnances/{number}", summary="Read an ordonnance by its number or QR payload")
def read(number: str, session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    return service.view(session, principal, service.find(session, number))


def _documents_of(session: Any, principal: Any, number: str) -> tuple[Ordonnance, str]:
    ordonnance = service.find(session, number)
    service.view(session, principal, ordonnance)  # the same readers as the JSON
    return ordonnance, formats.qr_payload(
        ordonnance.number, ordonnance.prescriber_idnat, ordonnance.issued_at.date()
    )


@router.get("/ordonnances/{number}/qr.png", summary="The QR code (PNG)", response_class=Response)
def qr_png(number: str, session: SessionDep, principal: PrincipalDep) -> Response:
    _, payload = _documents_of(session, principal, number)
    return Response(documents.qr_png(payload), media_type="image/png")


@router.get("/ordonnances/{number}/qr.svg", summary="The QR code (SVG)", response_class=Response)
def qr_svg(number: str, session: SessionDep, principal: PrincipalDep) -> Response:
    _, payload = _documents_of(session, principal, number)
    return Response(documents.qr_svg(payload), media_type="image/svg+xml")


@router.get("/ordonnances/{number}/pdf", summary="The printable ordonnance (PDF)", response_class=Response)
def printable(number: str, session: SessionDep, principal: PrincipalDep) -> Response:
    ordonnance, payload = _documents_of(session, principal, number)
    pdf = documents.pdf(ordonnance, service.lines_of(session, ordonnance.number), payload)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="ordonnance-{ordonnance.number}.pdf"'},
    )


@router.post(
    "/ordonnances/{number}/dispensations", status_code=201, summary="Record dispensing, line by line"
)
def dispense(number: str, body: DispenseIn, session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    who = service.pharmacist(principal)
    ordonnance = service.find(session, number)
    service.dispense(session, who, ordonnance, [item.model_dump() for item in body.lines])
    return service.view(session, principal, ordonnance)


@router.post(
    "/ordonnances/{number}/cancel",
    summary="The prescriber cancels an ordonnance nothing of which was dispensed",
)
def cancel(number: str, session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    who = service.prescriber(principal)
    ordonnance = service.find(session, number)
    service.cancel(session, who, ordonnance)
    return service.view(session, principal, ordonnance)


@router.put(
    "/patient/ordonnances/objection",
    summary="The patient objects (or not) to the prescriber seeing the dispensing",
)
def objection(body: ObjectionIn, session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    service.set_objection(session, principal, body.objection)
    return {"objection": body.objection}

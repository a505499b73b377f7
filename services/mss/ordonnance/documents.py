"""The QR code (PNG, SVG: segno) and the printable ordonnance (PDF: fpdf2)."""

from __future__ import annotations

import io
from typing import Any


def qr_png(payload: str, scale: int = 6) -> bytes:
    import segno

    buffer = io.BytesIO()
    segno.make(payload, error="m").save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()


def qr_svg(payload: str, scale: int = 4) -> bytes:
    import segno

    buffer = io.BytesIO()
    segno.make(payload, error="m").save(buffer, kind="svg", scale=scale, border=4, title=payload)
    return buffer.getvalue()


def _latin1(text: str) -> str:
    """fpdf2's core fonts are Latin-1: replace what they cannot draw."""
    return (
        text.replace("’", "'")
        .replace("œ", "oe")
        .replace("Œ", "OE")
        .encode("latin-1", "replace")
        .decode("latin-1")
    )


def pdf(ordonnance: Any, lines: list[Any], payload: str) -> bytes:
    """A one-page A4 ordonnance: prescriber, patient, lines, QR code and its number."""
    from fpdf import FPDF

    doc = FPDF(format="A4")
    doc.set_title(f"Ordonnance {ordonnance.number}")
    doc.set_creator("mes-sandbox (bac à sable, document fictif)")
    doc.add_page()
    doc.set_font("helvetica", "B", 14)
    doc.cell(0, 8, _latin1(ordonnance.prescriber_name), new_x="LMARGIN", new_y="NEXT")
    doc.set_font("helvetica", "", 10)
    doc.cell(
        0,
        6,
        _latin1(f"{ordonnance.prescriber_organisation} - RPPS/idNatPS {ordonnance.prescriber_idnat}"),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    doc.ln(4)
    doc.cell(
        0,
        6,
        _latin1(f"Patient : {ordonnance.patient_name} - INS {ordonnance.patient_ins}"),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    doc.cell(0, 6, f"Le {ordonnance.issued_at:%d/%m/%Y}", new_x="LMARGIN", new_y="NEXT")
    doc.ln(6)
    doc.set_font("helvetica", "B", 12)
    doc.cell(0, 8, "ORDONNANCE NUMERIQUE", new_x="LMARGIN", new_y="NEXT")
    doc.set_font("helvetica", "", 11)
    for line in lines:
        doc.multi_cell(
            0,
            6,
            _latin1(
                f"{line.line}. {line.medication_display} - {line.dosage} - "
                f"quantité : {line.quantity:g} {line.unit}"
            ),
            new_x="LMARGIN",
            new_y="NEXT",
        )
        doc.ln(1)
    doc.ln(6)
    top = doc.get_y()
    doc.image(io.BytesIO(qr_png(payload, scale=4)), x=doc.l_margin, y=top, w=45, h=45)
    doc.set_xy(doc.l_margin + 50, top + 15)
    doc.set_font("courier", "B", 16)
    doc.cell(0, 8, ordonnance.number, new_x="LMARGIN", new_y="NEXT")
    doc.set_xy(doc.l_margin + 50, top + 24)
    doc.set_font("helvetica", "", 8)
    doc.cell(0, 5, _latin1("Numéro d'ordonnance (fictif, bac à sable mes-sandbox)"))
    return bytes(doc.output())

"""How the space shows a measurement in French (the guide's "Liste des codes")."""

from __future__ import annotations

from typing import Any

LABELS = {
    "29463-7": "Poids",
    "8302-2": "Taille",
    "39156-5": "Indice de masse corporelle",
    "85354-9": "Pression artérielle",
    "8310-5": "Température",
    "2339-0": "Glycémie",
    "2345-7": "Glycémie",
    "MED-969": "Glucose interstitiel",
    "4548-4": "Hémoglobine glyquée",
    "MED-972": "Indice de gestion de la glycémie",
    "72514-3": "Niveau de douleur",
    "41950-7": "Nombre de pas",
    "8280-0": "Tour de taille",
    "8287-5": "Périmètre crânien",
    "8867-4": "Fréquence cardiaque",
}


def label(code: str) -> str:
    return LABELS.get(code, code)


def _quantity(quantity: Any) -> str:
    if not isinstance(quantity, dict):
        return ""
    value = quantity.get("value")
    text = f"{value:g}".replace(".", ",") if isinstance(value, int | float) else str(value)
    return f"{text} {quantity.get('unit') or quantity.get('code') or ''}".strip()


def value(resource: dict[str, Any]) -> str:
    if "valueQuantity" in resource:
        return _quantity(resource["valueQuantity"])
    parts = [_quantity(c.get("valueQuantity")) for c in resource.get("component", []) if isinstance(c, dict)]
    return " / ".join(p for p in parts if p)

"""A :class:`~.layout.Drawing` as a PNG picture, drawn with Pillow (for slides and bug
reports; no browser needed). Pillow is imported here only: it is slow to import."""

from __future__ import annotations

import io
import math
import os
import unicodedata
from typing import Any

from services.console.journeys.layout import FONT, Box, Drawing, Label, Line

SCALE = 2  # drawn at twice the size: crisp on slides...
#: ... unless that makes more pixels than this: encoding a tall journey at twice the size
#: would take seconds (a PNG of 150 calls is about 14,000 px tall at size 1).
MAX_PIXELS_AT_SCALE = 2_000_000


def scale_for(drawing: Drawing) -> int:
    return SCALE if drawing.width * drawing.height <= MAX_PIXELS_AT_SCALE else 1


#: The monospace font the SVG asks for, where systems usually keep it (Debian, Fedora,
#: Arch, macOS, Windows); without one, Pillow's own font, which lacks accented letters.
FONT_FILES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono{bold}.ttf",
    "/usr/share/fonts/dejavu-sans-mono-fonts/DejaVuSansMono{bold}.ttf",
    "/usr/share/fonts/TTF/DejaVuSansMono{bold}.ttf",
    "/Library/Fonts/DejaVuSansMono{bold}.ttf",
    "C:/Windows/Fonts/consola{bold_win}.ttf",
)


def _font(bold: bool, k: int) -> tuple[Any, bool]:
    """(font, has accents)."""
    from PIL import ImageFont

    for pattern in FONT_FILES:
        path = pattern.format(bold="-Bold" if bold else "", bold_win="b" if bold else "")
        if os.path.exists(path):
            return ImageFont.truetype(path, FONT * k), True
    return ImageFont.load_default(size=FONT * k), False


def _ascii(text: str) -> str:
    """Accents dropped (é → e) for a font that lacks them, rather than empty boxes."""
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _rgb(colour: str) -> tuple[int, int, int]:
    value = colour.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def _dashed(draw: Any, line: Line, fill: tuple[int, int, int], k: int) -> None:
    x1, y1, x2, y2 = (v * k for v in (line.x1, line.y1, line.x2, line.y2))
    length = math.hypot(x2 - x1, y2 - y1) or 1.0
    dash, gap = 5 * k, 4 * k
    travelled = 0.0
    while travelled < length:
        end = min(travelled + dash, length)
        draw.line(
            [
                (x1 + (x2 - x1) * travelled / length, y1 + (y2 - y1) * travelled / length),
                (x1 + (x2 - x1) * end / length, y1 + (y2 - y1) * end / length),
            ],
            fill=fill,
            width=k,
        )
        travelled = end + gap


def _arrow_head(draw: Any, line: Line, fill: tuple[int, int, int], k: int) -> None:
    angle = math.atan2(line.y2 - line.y1, line.x2 - line.x1)
    tip = (line.x2 * k, line.y2 * k)
    size = 8 * k
    left = (tip[0] - size * math.cos(angle - 0.4), tip[1] - size * math.sin(angle - 0.4))
    right = (tip[0] - size * math.cos(angle + 0.4), tip[1] - size * math.sin(angle + 0.4))
    draw.polygon([tip, left, right], fill=fill)


def render(drawing: Drawing) -> bytes:
    from PIL import Image, ImageDraw

    k = scale_for(drawing)
    image = Image.new("RGB", (int(drawing.width * k), int(drawing.height * k)), "white")
    draw = ImageDraw.Draw(image)
    regular, accents = _font(False, k)
    bold, _ = _font(True, k)
    for group in drawing.groups:
        for shape in group.shapes:
            if isinstance(shape, Box):
                draw.rounded_rectangle(
                    [shape.x * k, shape.y * k, (shape.x + shape.w) * k, (shape.y + shape.h) * k],
                    radius=shape.radius * k,
                    fill=_rgb(shape.fill),
                    outline=_rgb(shape.stroke),
                    width=1,
                )
            elif isinstance(shape, Line):
                colour = _rgb(shape.color)
                if shape.dashed:
                    _dashed(draw, shape, colour, k)
                else:
                    draw.line(
                        [(shape.x1 * k, shape.y1 * k), (shape.x2 * k, shape.y2 * k)], fill=colour, width=k
                    )
                if shape.arrow:
                    _arrow_head(draw, shape, colour, k)
            elif isinstance(shape, Label):
                draw.text(
                    (shape.x * k, shape.y * k),
                    shape.text if accents else _ascii(shape.text),
                    fill=_rgb(shape.color),
                    font=bold if shape.bold else regular,
                    anchor="ms" if shape.anchor == "middle" else "ls",
                    # A white halo, as in the SVG: labels stay readable across lifelines.
                    stroke_width=0 if group.kind in ("actor", "section", "note") else k + 1,
                    stroke_fill=(255, 255, 255),
                )
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=6)  # optimize=True costs seconds on tall diagrams
    return out.getvalue()

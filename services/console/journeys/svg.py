"""A :class:`~.layout.Drawing` as SVG 1.1: inline in the page (arrows are links to the
exchange, so the diagram works without JavaScript) or as a standalone file to export."""

from __future__ import annotations

from collections.abc import Callable
from html import escape

from services.console.journeys.layout import FONT, Box, Drawing, Group, Label, Line, Shape

_STYLE = (
    f"text{{font-family:'DejaVu Sans Mono',Menlo,Consolas,monospace;font-size:{FONT}px;"
    "stroke:#fff;stroke-width:3px;paint-order:stroke;stroke-linejoin:round}"
    ".actor text,.section text,.note text{stroke:none}"
    ".request:hover line,.response:hover line{stroke-width:2.5}"
    "a{cursor:pointer}"
)


def _attr(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _shape(shape: Shape) -> str:
    if isinstance(shape, Line):
        dash = ' stroke-dasharray="5 4"' if shape.dashed else ""
        head = f' marker-end="url(#head-{shape.color[1:]})"' if shape.arrow else ""
        return (
            f'<line x1="{_attr(shape.x1)}" y1="{_attr(shape.y1)}" x2="{_attr(shape.x2)}" '
            f'y2="{_attr(shape.y2)}" stroke="{shape.color}" stroke-width="1.4"{dash}{head}/>'
        )
    if isinstance(shape, Box):
        return (
            f'<rect x="{_attr(shape.x)}" y="{_attr(shape.y)}" width="{_attr(shape.w)}" '
            f'height="{_attr(shape.h)}" rx="{_attr(shape.radius)}" fill="{shape.fill}" '
            f'stroke="{shape.stroke}"/>'
        )
    assert isinstance(shape, Label)
    weight = ' font-weight="bold"' if shape.bold else ""
    return (
        f'<text x="{_attr(shape.x)}" y="{_attr(shape.y)}" fill="{shape.color}" '
        f'text-anchor="{shape.anchor}"{weight}>{escape(shape.text)}</text>'
    )


def _markers(drawing: Drawing) -> str:
    colours = sorted({s.color for g in drawing.groups for s in g.shapes if isinstance(s, Line) and s.arrow})
    return "".join(
        f'<marker id="head-{c[1:]}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="9" '
        f'markerHeight="9" markerUnits="userSpaceOnUse" orient="auto-start-reverse">'
        f'<path d="M0,0L10,5L0,10z" fill="{c}"/></marker>'
        for c in colours
    )


def _group(group: Group, link: Callable[[str], str] | None) -> str:
    data = "".join(f' data-{k}="{escape(v)}"' for k, v in group.data.items())
    key = f' data-key="{escape(group.key)}"' if group.key else ""
    body = "".join(_shape(s) for s in group.shapes)
    title = f"<title>{escape(group.title)}</title>" if group.title else ""
    if link is not None and group.key and group.kind in ("request", "response", "note"):
        body = f'<a href="{escape(link(group.key))}">{title}{body}</a>'
    else:
        body = title + body
    return f'<g class="{group.kind}"{key}{data}>{body}</g>'


def render(drawing: Drawing, *, link: Callable[[str], str] | None = None, standalone: bool = False) -> str:
    """The SVG markup; ``link(key)`` makes every arrow a link to its exchange."""
    width, height = _attr(drawing.width), _attr(drawing.height)
    head = '<?xml version="1.0" encoding="UTF-8"?>\n' if standalone else ""
    background = f'<rect width="{width}" height="{height}" fill="#ffffff"/>' if standalone else ""
    groups = "".join(_group(g, link) for g in drawing.groups)
    return (
        f'{head}<svg xmlns="http://www.w3.org/2000/svg" class="journey" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img">'
        f"<style>{_STYLE}</style><defs>{_markers(drawing)}</defs>{background}{groups}</svg>"
    )

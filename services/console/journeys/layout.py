"""A journey placed as a sequence diagram: one column per actor, one row per arrow.

The layout is a list of plain shapes (lines, boxes, labels) grouped by what they show (a
request, its answer, an access note, an actor, a step), so that the page's SVG, the
exported SVG and the PNG are drawn from the very same picture.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from services.console.journeys.labels import STATUS_TEXT, operation, short_path
from services.console.journeys.model import ACTOR_LABELS, Call, Journey

COLUMN = 210
MARGIN = 16
HEAD = 34
ROW = 28
NOTE_ROW = 24
SECTION_ROW = 30
FONT = 11
#: Width of one character of the monospace font at ``FONT`` px (0.6 em).
CHAR = FONT * 0.6

INK = "#1f3a5f"
ANSWER = "#5b6570"
REFUSED = "#b00020"
NOTE_FILL = "#fff4c2"
NOTE_STROKE = "#c9a400"
ACTOR_FILL = "#e8eef6"
SECTION_FILL = "#eef2f7"

Kind = Literal["actor", "lifeline", "section", "request", "response", "note"]


@dataclass(frozen=True)
class Line:
    x1: float
    y1: float
    x2: float
    y2: float
    color: str = INK
    dashed: bool = False
    arrow: bool = False


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    w: float
    h: float
    fill: str
    stroke: str
    radius: float = 3


@dataclass(frozen=True)
class Label:
    x: float
    y: float
    text: str
    color: str = INK
    anchor: Literal["start", "middle"] = "middle"
    bold: bool = False


Shape = Line | Box | Label


@dataclass
class Group:
    kind: Kind
    shapes: list[Shape]
    key: str | None = None
    title: str = ""
    data: dict[str, str] = field(default_factory=dict)


@dataclass
class Drawing:
    width: float
    height: float
    groups: list[Group]


def fit(text: str, width: float) -> str:
    """``text`` cut with an ellipsis to fit ``width`` pixels of the monospace font."""
    room = max(4, int(width / CHAR))
    return text if len(text) <= room else text[: room - 1] + "…"


def request_texts(call: Call) -> list[str]:
    """Ways to name a request, longest first: the diagram takes the first that fits."""
    name = operation(call.target, call.method, call.path, call.record.get("protocol", "http"))
    segments = [s for s in call.path.split("/") if s]
    tail = "/".join(segments[-2:]) if len(segments) > 2 else call.path.lstrip("/")
    verbs = [
        f"{call.method} {call.path}",
        f"{call.method} …/{tail}",
        f"{call.method} …/{segments[-1] if segments else ''}",
    ]
    if name:
        return [*(f"{name} · {v}" for v in verbs), name]
    return verbs


def request_text(call: Call) -> str:
    name = operation(call.target, call.method, call.path, call.record.get("protocol", "http"))
    verb = f"{call.method} {short_path(call.path, 60)}"
    return f"{name} · {verb}" if name else verb


def fit_first(texts: list[str], width: float) -> str:
    room = int(width / CHAR)
    return next((t for t in texts if len(t) <= room), fit(texts[-1], width))


def answer_text(call: Call) -> str:
    if call.error:
        return f"échec : {call.error.split(':', 1)[0]}"
    if call.status is None:
        return "sans réponse"
    return f"{call.status} {STATUS_TEXT.get(call.status, '')}".strip()


class _Placer:
    def __init__(self, journey: Journey) -> None:
        self.actors = journey.actors or ["editor"]
        self.x = {a: MARGIN + COLUMN / 2 + i * COLUMN for i, a in enumerate(self.actors)}
        self.width = MARGIN * 2 + COLUMN * len(self.actors)
        self.y = MARGIN + HEAD + 14
        self.groups: list[Group] = []

    def section(self, title: str) -> None:
        top = self.y
        self.groups.append(
            Group(
                "section",
                [
                    Box(MARGIN / 2, top, self.width - MARGIN, SECTION_ROW - 6, SECTION_FILL, "#b8c4d4"),
                    Label(MARGIN, top + 16, fit(title, self.width - 2 * MARGIN), anchor="start", bold=True),
                ],
                title=title,
            )
        )
        self.y += SECTION_ROW

    def arrow(self, call: Call, kind: Kind, texts: list[str], color: str, dashed: bool) -> None:
        start, end = (call.caller, call.target) if kind == "request" else (call.target, call.caller)
        x1, x2 = self.x[start], self.x[end]
        y = self.y + ROW - 8
        shapes: list[Shape]
        if x1 == x2:  # a service calling itself: a small loop on its lifeline
            shapes = [
                Line(x1, y - 8, x1 + 30, y - 8, color, dashed),
                Line(x1 + 30, y - 8, x1 + 30, y, color, dashed),
                Line(x1 + 30, y, x1 + 2, y, color, dashed, arrow=True),
                Label(x1 + 36, y - 8, fit_first(texts, COLUMN - 40), color, anchor="start"),
            ]
        else:
            span = abs(x2 - x1)
            shapes = [
                Line(x1, y, x2, y, color, dashed, arrow=True),
                Label((x1 + x2) / 2, y - 5, fit_first(texts, span - 12), color),
            ]
        title = f"{call.method} {call.path}{'?' + call.query if call.query else ''}"
        data = {"from": start, "to": end, "status": str(call.status or ""), "label": texts[0]}
        self.groups.append(Group(kind, shapes, key=call.key, title=title, data=data))
        self.y += ROW

    def note(self, call: Call, note: str) -> None:
        x = self.x[call.target]
        width = min(COLUMN * 2 - 20, len(note) * CHAR + 16)
        left = min(max(x - width / 2, MARGIN / 2), self.width - MARGIN / 2 - width)
        shapes: list[Shape] = [
            Box(left, self.y + 2, width, NOTE_ROW - 4, NOTE_FILL, NOTE_STROKE),
            Label(left + 8, self.y + 15, fit(note, width - 14), "#5a4a00", anchor="start"),
        ]
        self.groups.append(Group("note", shapes, key=call.key, title=note))
        self.y += NOTE_ROW

    def call(self, call: Call) -> None:
        self.arrow(call, "request", request_texts(call), INK, dashed=False)
        for child in call.children:
            self.call(child)
        for note in call.notes:
            self.note(call, note)
        colour = REFUSED if call.refused else ANSWER
        self.arrow(call, "response", [answer_text(call)], colour, dashed=True)

    def actors_row(self, top: float) -> None:
        for actor, x in self.x.items():
            label = ACTOR_LABELS.get(actor, actor)
            self.groups.append(
                Group(
                    "actor",
                    [
                        Box(x - COLUMN / 2 + 8, top, COLUMN - 16, HEAD, ACTOR_FILL, INK),
                        Label(x, top + HEAD / 2 + 4, fit(label, COLUMN - 24), bold=True),
                    ],
                    key=actor,
                    title=label,
                    data={"actor": actor},
                )
            )


def layout(journey: Journey) -> Drawing:
    placer = _Placer(journey)
    placer.actors_row(MARGIN)
    for section in journey.sections:
        if section.title:
            placer.section(section.title)
        for call in section.calls:
            placer.call(call)
    if not journey.calls:
        placer.y += ROW
    bottom = placer.y + 10
    lifelines = [Line(x, MARGIN + HEAD, x, bottom, "#9aa7b5", dashed=True) for x in placer.x.values()]
    placer.groups.insert(0, Group("lifeline", list(lifelines)))
    placer.actors_row(bottom)
    return Drawing(placer.width, bottom + HEAD + MARGIN, placer.groups)

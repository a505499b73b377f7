"""A journey as a Mermaid sequence diagram (``sequenceDiagram``), for slides and READMEs.

Mermaid's syntax (https://mermaid.js.org/syntax/sequenceDiagram.html): ``A->>B: text``
for a request, ``B-->>A: text`` for the answer, ``Note over B: text``, ``rect`` to shade
a step; ``;`` and ``#`` in text are written as the entity codes ``#59;`` and ``#35;``.
"""

from __future__ import annotations

import re

from services.console.journeys.layout import answer_text, request_text
from services.console.journeys.model import ACTOR_LABELS, Call, Journey

_ENTITIES = {"#": "#35;", ";": "#59;", "<": "#lt;", ">": "#gt;"}


def _text(value: str) -> str:
    """One line, with the characters Mermaid reserves as entity codes (in one pass, so
    that the ``;`` of an entity is not escaped again)."""
    return re.sub(r"[#;<>]", lambda m: _ENTITIES[m.group()], " ".join(value.split()))


def _call(call: Call, lines: list[str], indent: str) -> None:
    lines.append(f"{indent}{call.caller}->>+{call.target}: {_text(request_text(call))}")
    for child in call.children:
        _call(child, lines, indent)
    for note in call.notes:
        lines.append(f"{indent}Note over {call.target}: {_text(note)}")
    arrow = "--x" if call.refused else "-->>"
    lines.append(f"{indent}{call.target}{arrow}-{call.caller}: {_text(answer_text(call))}")


def render(journey: Journey, title: str | None = None) -> str:
    lines = ["sequenceDiagram"]
    if title:
        lines.insert(0, f"---\ntitle: {_text(title)}\n---")
    for actor in journey.actors:
        lines.append(f"    participant {actor} as {_text(ACTOR_LABELS.get(actor, actor))}")
    for section in journey.sections:
        if section.title:
            lines.append("    rect rgb(238, 242, 247)")
            first = journey.actors[0] if journey.actors else "editor"
            last = journey.actors[-1] if journey.actors else first
            span = first if first == last else f"{first},{last}"
            lines.append(f"        Note over {span}: {_text(section.title)}")
            for call in section.calls:
                _call(call, lines, "        ")
            lines.append("    end")
        else:
            for call in section.calls:
                _call(call, lines, "    ")
    return "\n".join(lines) + "\n"

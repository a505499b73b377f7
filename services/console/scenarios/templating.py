"""Templates and expressions of scenario files: Jinja2's sandbox (user files may come
from anywhere), strict about undefined names, and native values for a string that is
a single ``{{ expression }}`` (so that ``size: "{{ size(report) }}"`` stays a number)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import uuid as uuid_module
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

_SINGLE = re.compile(r"^\{\{(.*)\}\}$", re.DOTALL)


class TemplateProblem(ValueError):
    """A template or an expression that cannot be evaluated; the message says which."""


@lru_cache(maxsize=1)
def _env() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
    )
    env.filters["tojson"] = lambda value: json.dumps(value, ensure_ascii=False)
    env.filters["b64"] = b64
    return env


def b64(value: str | bytes) -> str:
    data = value.encode("utf-8") if isinstance(value, str) else value
    return base64.b64encode(data).decode("ascii")


def sha1_b64(value: str | bytes) -> str:
    """The ``hash`` of an attachment (FHIR R4 Attachment.hash: base64 SHA-1)."""
    data = value.encode("utf-8") if isinstance(value, str) else value
    return base64.b64encode(hashlib.sha1(data, usedforsecurity=False).digest()).decode("ascii")


def size(value: str | bytes) -> int:
    return len(value.encode("utf-8") if isinstance(value, str) else value)


def search(pattern: str, text: str) -> str | None:
    """The first group (or the whole match) of ``pattern`` in ``text``: a hidden form
    field of a page, for instance; ``None`` when it is not there."""
    found = re.search(pattern, text or "")
    if found is None:
        return None
    return found.group(1) if found.groups() else found.group(0)


def helpers() -> dict[str, Any]:
    """Functions every template may call."""
    return {
        "uuid": lambda: str(uuid_module.uuid4()),
        "now": lambda: datetime.now(UTC).isoformat(timespec="seconds"),
        "today": lambda: datetime.now(UTC).date().isoformat(),
        "b64": b64,
        "sha1_b64": sha1_b64,
        "size": size,
        "search": search,
        # A fresh OID under the sandbox's fictitious test root (README), e.g. uniqueIds.
        "oid": lambda: f"1.2.250.1.999.9.{secrets.randbelow(10**12)}",
    }


def evaluate(expression: str, context: Mapping[str, Any]) -> Any:
    """The value of a Jinja expression (``response.json.total == 1``)."""
    try:
        return _env().compile_expression(expression, undefined_to_none=False)(**context)
    except TemplateError as exc:
        raise TemplateProblem(f"« {expression.strip()} » : {exc}") from exc
    except (TypeError, KeyError, IndexError, AttributeError, ValueError, ZeroDivisionError) as exc:
        raise TemplateProblem(f"« {expression.strip()} » : {type(exc).__name__}: {exc}") from exc


def render_text(text: str, context: Mapping[str, Any]) -> str:
    try:
        return _env().from_string(text).render(**context)
    except TemplateError as exc:
        raise TemplateProblem(f"modèle « {text.strip()[:80]} » : {exc}") from exc
    except (TypeError, KeyError, IndexError, AttributeError, ValueError) as exc:
        raise TemplateProblem(f"modèle « {text.strip()[:80]} » : {type(exc).__name__}: {exc}") from exc


def render(value: Any, context: Mapping[str, Any]) -> Any:
    """``value`` with every string rendered, recursively (dict keys too)."""
    if isinstance(value, str):
        if "{{" not in value and "{%" not in value:
            return value
        single = _SINGLE.match(value.strip())
        if single and "{{" not in single.group(1):
            return evaluate(single.group(1), context)
        return render_text(value, context)
    if isinstance(value, Mapping):
        return {render(k, context): render(v, context) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [render(v, context) for v in value]
    return value

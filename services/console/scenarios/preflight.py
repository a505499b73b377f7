"""Before playing: is the sandbox there, and does it have every API the scenario needs
(its ``needs``, looked up in each service's OpenAPI document)?"""

from __future__ import annotations

import re
from typing import Any

import httpx

from services.console.scenarios.engine import LABELS, Target
from services.console.scenarios.format import SERVICE_ALIASES, SERVICES, Scenario


def unreachable(target: Target, http: httpx.Client) -> dict[str, str]:
    """The services of ``target`` that do not answer ``/health`` (name → URL)."""
    down = {}
    for name in SERVICES:
        url = target.urls[name]
        try:
            http.get(f"{url}/health", timeout=5.0)
        except httpx.HTTPError:
            down[name] = url
    return down


def _path_pattern(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$")


def missing_needs(scenario: Scenario, target: Target, http: httpx.Client) -> list[str]:
    """The ``needs`` of ``scenario`` that the services' OpenAPI documents do not list."""
    missing = []
    documents: dict[str, dict[str, Any]] = {}
    for need in scenario.needs:
        service, method, path = need.split()
        service = SERVICE_ALIASES.get(service, service)
        if service not in documents:
            try:
                answer = http.get(f"{target.urls[service]}/openapi.json", timeout=10.0)
                documents[service] = answer.json().get("paths", {}) if answer.status_code == 200 else {}
            except (httpx.HTTPError, ValueError):
                documents[service] = {}
        paths = documents[service]
        found = any(
            _path_pattern(template).match(path) and method.lower() in operations
            for template, operations in paths.items()
        )
        if not found:
            missing.append(f"{LABELS[service]} {method} {path}")
    return missing

"""OperationOutcome (FHIR R4 §OperationOutcome) from :class:`shared.errors.Issue`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from shared.errors import Issue


def issue_json(issue: Issue) -> dict[str, Any]:
    out: dict[str, Any] = {"severity": issue.severity, "code": issue.code}
    if issue.details_code or issue.details_text:
        details: dict[str, Any] = {}
        if issue.details_code:
            coding: dict[str, Any] = {"code": issue.details_code}
            if issue.details_system:
                coding["system"] = issue.details_system
            details["coding"] = [coding]
        details["text"] = issue.details_text or issue.diagnostics
        out["details"] = details
    out["diagnostics"] = issue.diagnostics
    if issue.expression:
        out["expression"] = list(issue.expression)
    return out


def operation_outcome(issues: Iterable[Issue]) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": [issue_json(i) for i in issues]}

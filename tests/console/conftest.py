"""Fixtures of the console's tests."""

from __future__ import annotations

import pytest

from tests.support import Sandbox


@pytest.fixture
def env(sb: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    """The environment ``mes-sandbox`` reads: this sandbox's URLs and admin token."""
    for name, value in sb.topology.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("MES_CONSOLE_SCENARIOS_DIR", raising=False)
    return sb

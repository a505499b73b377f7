"""The login pages driven over HTTP (``Browser``: httpx following the real pages), one per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.psc_auth.support import Browser
from tests.support import Sandbox


@pytest.fixture
def browser(sb: Sandbox) -> Iterator[Browser]:
    browser = Browser(sb)
    yield browser
    browser.close()

"""What every headless-Chromium test needs: Debian's chromium driven by Playwright (no
browser download), and a stand-in for the editor's software receiving OAuth callbacks."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

CHROMIUM = "/usr/bin/chromium"
# Quiet, headless and offline: no update checks, sync or QUIC probes on a machine with no
# outside network.
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]


@contextmanager
def chromium() -> Iterator[Any]:
    """A launched Chromium (a Playwright ``Browser``)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def callback_server(title: str) -> Iterator[str]:
    """The editor's software: a real HTTP server answering every GET with a page titled
    ``title``; yields its ``/callback`` URL."""
    page = f"<h1>{title}</h1>".encode()

    class Callback(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Callback)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/callback"
    finally:
        server.shutdown()
        server.server_close()

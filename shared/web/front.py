"""``FrontRoutes``: a service's hottest endpoints, answered in front of FastAPI's router.

Routing, dependency solving and the exception middleware cost a fixed ~150–300 µs per
request on this project's machines: a third of a PSC client_credentials grant and about
a seventh of a DMP publication (``python -m bench.psc``, ``python -m bench.dmp``; README
"How fast"). A service lists a few ``(method, path)`` pairs and a handler for each; the
handler gets the Starlette ``Request`` and calls the same functions as the FastAPI route
of that path, which stays for ``/docs`` and for an app built without this middleware.

It goes in :attr:`ServiceSpec.middleware`, inside the platform's ``SandboxMiddleware``:
the exchange is still traced, faulted, recorded and logged. A :class:`SandboxError` is
rendered as the exception handlers render it on that path; anything else propagates, as
from a route, to the server-error middleware (a 500 in the service's format).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.errors import SandboxError
from shared.web.errors import ErrorFormat, render

Handler = Callable[[Request], Awaitable[Response]]


class FrontRoutes:
    """Pure ASGI: ``routes[(method, path)]`` answers that exact request; others pass."""

    def __init__(
        self, app: ASGIApp, routes: Mapping[tuple[str, str], Handler], error_format: ErrorFormat
    ) -> None:
        self.app = app
        self.routes = dict(routes)
        self.error_format = error_format

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = self.routes.get((scope["method"], scope["path"])) if scope["type"] == "http" else None
        if handler is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            response = await handler(request)
        except SandboxError as exc:
            response = render(exc.body(), self.error_format, request)
        await response(scope, receive, send)

"""Security Event Tokens (RFC 8417) pushed by an authorization server to the resource
servers that cache its introspection answers (push delivery, RFC 8935).

Why: a resource server that introspects every request (RFC 7662) spends more on the call
than on its own work; RFC 7662 §4 lets it cache the answers, at the price of seeing a
revocation late. Pro Santé Connect therefore tells the DMP and MSSanté, before it answers
the request that changed anything, that some of its tokens may have stopped being active:
they drop what they cached and introspect again, so a revoked token is refused at once.

The event type is the sandbox's own (README, "Revocation events"; the real PSC has no such
push): one event, "tokens-changed", with the reason. Receivers do not try to tell which
tokens it concerns; they drop every cached answer of that issuer, which is always safe
(the next request introspects) and leaves no case to get wrong.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

#: RFC 8417 §2.3 ``typ`` header, and the RFC 8935 §2 request media type.
SET_TYP = "secevent+jwt"
SET_MEDIA_TYPE = "application/secevent+jwt"
#: The sandbox's event type (fictitious: README, "Revocation events").
TOKENS_CHANGED = "https://mes-sandbox.localhost/secevent/tokens-changed"
#: Where a resource server receives the pushes (under the test-control prefix: it is
#: plumbing between the sandbox's services, not a real DMP or MSSanté endpoint).
RECEIVER_PATH = "/_sandbox/security-events"
#: How long a pushed SET is good for: a receiver refuses an older one (a replay).
SET_LIFETIME = 60


def tokens_changed(
    issuer: str, audience: str, reasons: list[str], *, now: float | None = None
) -> dict[str, Any]:
    """The claims of one SET (RFC 8417 §2.2): ``iss``, ``aud`` (the receiver's client id),
    ``iat``, ``jti`` and ``events``; ``exp`` bounds replays."""
    issued = int(time.time() if now is None else now)
    return {
        "iss": issuer,
        "aud": audience,
        "iat": issued,
        "exp": issued + SET_LIFETIME,
        "jti": str(uuid.uuid4()),
        "events": {TOKENS_CHANGED: {"reasons": sorted(set(reasons))}},
    }


class SetError(Exception):
    """A pushed SET refused (RFC 8935 §2.3): ``err`` is one of the registry's codes."""

    def __init__(self, err: str, description: str) -> None:
        super().__init__(description)
        self.err = err
        self.description = description

    def body(self) -> dict[str, str]:
        """RFC 8935 §2.3: ``{"err": ..., "description": ...}`` with a 400."""
        return {"err": self.err, "description": self.description}

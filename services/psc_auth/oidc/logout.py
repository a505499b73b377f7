"""RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0 §2, §3).

``id_token_hint`` names the session (its ``sid``) and the client (its ``aud``); an expired
ID token is still a good hint (§2). ``post_logout_redirect_uri`` must be registered for
that client exactly, and needs the client to be known (from the hint or ``client_id``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from services.psc_auth.oidc.authorize import redirect_to
from shared.errors import OAuthError

if TYPE_CHECKING:
    from services.psc_auth.dependencies import Psc


def logout(psc: Psc, params: Mapping[str, str], cookie_session: str | None) -> str | None:
    """End the session; the URL to send the browser to, or ``None`` for our own page."""
    hint = params.get("id_token_hint")
    claims = None
    if hint is not None:
        claims = psc.tokens.decode(hint, allow_expired=True)
        if claims is None or claims.get("typ") != "ID":
            raise OAuthError("invalid_request", "id_token_hint is not an ID token issued by this server")
    client_id = params.get("client_id")
    audience = claims.get("aud") if claims else None
    if client_id and audience and client_id != audience:
        raise OAuthError("invalid_request", "client_id differs from the audience of id_token_hint")
    client = psc.registry.client(client_id or str(audience or ""))
    if (client_id or audience) and client is None:
        raise OAuthError("invalid_request", "unknown client")
    target = params.get("post_logout_redirect_uri")
    if target is not None:
        if client is None:
            raise OAuthError("invalid_request", "post_logout_redirect_uri needs id_token_hint or client_id")
        if target not in client.post_logout_redirect_uris:
            raise OAuthError("invalid_request", "post_logout_redirect_uri is not registered for this client")
    sessions = {s for s in (claims.get("sid") if claims else None, cookie_session) if isinstance(s, str)}

    def work(session: Session) -> None:
        for sid in sessions:
            psc.tokens.end_session(session, sid)

    psc.tokens.run(work)
    return redirect_to(target, {"state": params.get("state")}) if target is not None else None

"""MSSanté's peers: Pro Santé Connect and Mon espace santé (tokens), the DMP (publication)."""

from __future__ import annotations

from typing import Any

import httpx

from shared.errors import ForbiddenError, PeerUnavailableError, UnauthorizedError
from shared.oauth.resource import ResourceServer
from shared.web.runtime import Runtime


def resource_server(runtime: Runtime, audience: str) -> ResourceServer:
    return ResourceServer(
        runtime.settings,
        audience=audience,
        credentials=runtime.loaded_personas().service_client("mss"),
        sync_client=runtime.peer_client,
        async_client=runtime.async_peer_client,
    )


class DmpClient:
    """Contract 4: ITI-65 ``POST /fhir`` with the prescriber's own PSC access token."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def provide(self, bundle: dict[str, Any], token: str) -> dict[str, Any]:
        try:
            answer = self.client.post(
                "/fhir",
                json=bundle,
                headers={
                    "Authorization": f"Bearer {token}",
                    "Content-Type": "application/fhir+json",
                    "Accept": "application/fhir+json",
                },
            )
        except httpx.HTTPError as exc:
            raise PeerUnavailableError(f"the DMP did not answer: {exc}") from exc
        if answer.status_code in (401, 403):
            why = _diagnostics(answer)
            error = UnauthorizedError if answer.status_code == 401 else ForbiddenError
            raise error(f"the DMP refused the publication: {why}", error="dmp_refused")
        if answer.status_code >= 300:
            raise PeerUnavailableError(f"the DMP answered {answer.status_code}: {_diagnostics(answer)}")
        body: dict[str, Any] = answer.json()
        return body

    def close(self) -> None:
        self.client.close()


def _diagnostics(answer: httpx.Response) -> str:
    try:
        body = answer.json()
    except ValueError:
        return answer.text[:300]
    issues = body.get("issue") if isinstance(body, dict) else None
    if issues:
        return "; ".join(str(i.get("diagnostics", i.get("code", ""))) for i in issues)
    return str(body)[:300]

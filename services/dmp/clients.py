"""The DMP's peers: Pro Santé Connect and Mon espace santé (token verification) and
MSSanté (notices sent to the patient and the médecin traitant)."""

from __future__ import annotations

from shared.oauth.resource import ResourceServer
from shared.web.runtime import Runtime


def resource_server(runtime: Runtime, audience: str, *, introspect: bool = True) -> ResourceServer:
    return ResourceServer(
        runtime.settings,
        audience=audience,
        credentials=runtime.loaded_personas().service_client("dmp"),
        sync_client=runtime.peer_client,
        async_client=runtime.async_peer_client,
        introspect=introspect,
    )

"""The journey pages: every trace recorded by the services, one trace as a sequence
diagram (live while it grows), one exchange opened, and the exports."""

from __future__ import annotations

import json
from typing import Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from services.console import service
from services.console.dependencies import ConsoleGuard, PeersDep
from services.console.journeys import har, layout, mermaid, png, svg
from services.console.journeys.inspect import view_body
from services.console.journeys.model import Journey, summarise
from services.console.journeys.tokens import find_tokens
from services.console.pages import fragment, render
from shared.errors import BadRequestError, NotFoundError
from shared.settings import ServiceSettings
from shared.web.deps import RuntimeDep

router = APIRouter(prefix="/parcours", tags=["parcours"], dependencies=[ConsoleGuard])

ExportFormat = Literal["mmd", "svg", "png", "har"]
#: A W3C trace id, or ``<service>-<id>`` for a session recorded without one (SMTP, IMAP).
_TRACE = r"^([0-9a-f]{32}|(psc_auth|dmp|mss|catalog)-[0-9]{1,12})$"


def diagram(journey: Journey, link_base: str) -> str:
    """The inline SVG; each arrow links to ``{link_base}/echanges/{key}``."""
    return svg.render(layout.layout(journey), link=lambda key: f"{link_base}/echanges/{key}")


def export(journey: Journey, fmt: ExportFormat, name: str, title: str, settings: ServiceSettings) -> Response:
    """The journey as a file to download (Mermaid, SVG, PNG or HAR)."""
    if fmt == "mmd":
        body: bytes = mermaid.render(journey, title).encode()
        media = "text/vnd.mermaid; charset=utf-8"
    elif fmt == "svg":
        body, media = svg.render(layout.layout(journey), standalone=True).encode(), "image/svg+xml"
    elif fmt == "png":
        body, media = png.render(layout.layout(journey)), "image/png"
    else:
        document = har.render(journey, settings.peer_public_url, title)
        body, media = json.dumps(document, ensure_ascii=False, indent=1).encode(), "application/json"
    return Response(
        body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"'}
    )


def _cursor(newest: dict[str, int]) -> str:
    return ",".join(f"{k}:{v}" for k, v in sorted(newest.items()))


@router.get("", response_class=HTMLResponse, summary="Les parcours enregistrés (une trace chacun)")
async def journeys(
    request: Request,
    runtime: RuntimeDep,
    peers: PeersDep,
    erreurs: bool = Query(False, description="seulement les parcours avec un appel refusé"),
    client: str = Query("", description="seulement les parcours de ce client OAuth"),
    tout: bool = Query(False, description="aussi les lectures faites par la console"),
    fragment_only: bool = Query(False, alias="fragment"),
) -> HTMLResponse:
    settings = runtime.settings
    window = getattr(settings, "journey_window", 500)
    gathered = await peers.exchanges(limit=window)
    items = summarise(gathered.exchanges, service.app_clients(runtime.loaded_personas()))
    clients = sorted({c for s in items for c in s.clients})
    shown = [
        s
        for s in items
        if (tout or not s.console_only) and (not erreurs or s.refused) and (not client or client in s.clients)
    ]
    context: dict[str, Any] = {
        "section": "journeys",
        "items": shown[:200],
        "total": len(shown),
        "clients": clients,
        "filters": {"erreurs": erreurs, "client": client, "tout": tout},
        "unreachable": gathered.unreachable,
        "version": _cursor(gathered.newest),
        "query": request.url.query.replace("fragment=1", "").strip("&"),
    }
    if fragment_only:
        return fragment(request, "_journeys.html", **context)
    return render(request, "journeys.html", **context)


@router.get("/etat", summary="Le dernier échange de chaque service (pour l'affichage en direct)")
async def journeys_state(peers: PeersDep) -> JSONResponse:
    gathered = await peers.exchanges(limit=1)
    return JSONResponse({"version": _cursor(gathered.newest)})


async def _journey(peers: PeersDep, runtime: RuntimeDep, trace: str) -> tuple[Journey, dict[str, str]]:
    journey, gathered = await service.journey_of(peers, runtime.loaded_personas(), [(trace, None)])
    return journey, gathered.unreachable


TracePath = Path(..., pattern=_TRACE, description="W3C trace id (32 hex), or <service>-<id>")


def _context(journey: Journey, trace: str, unreachable: dict[str, str]) -> dict[str, Any]:
    calls = journey.calls
    return {
        "section": "journeys",
        "trace": trace,
        "journey": journey,
        "calls": calls,
        "refused": sum(1 for c in calls if c.refused),
        "diagram": diagram(journey, f"/parcours/{trace}"),
        "unreachable": unreachable,
        "version": str(len(calls)) + ":" + ",".join(str(c.status) for c in calls),
    }


@router.get("/{trace}", response_class=HTMLResponse, summary="Un parcours en diagramme de séquence")
async def journey_page(
    request: Request,
    runtime: RuntimeDep,
    peers: PeersDep,
    trace: str = TracePath,
    fragment_only: bool = Query(False, alias="fragment"),
) -> HTMLResponse:
    journey, unreachable = await _journey(peers, runtime, trace)
    context = _context(journey, trace, unreachable)
    if fragment_only:
        return fragment(request, "_journey.html", **context)
    return render(request, "journey.html", **context)


@router.get("/{trace}/etat", summary="Où en est ce parcours (pour l'affichage en direct)")
async def journey_state(runtime: RuntimeDep, peers: PeersDep, trace: str = TracePath) -> JSONResponse:
    journey, _ = await _journey(peers, runtime, trace)
    return JSONResponse({"version": _context(journey, trace, {})["version"]})


@router.get("/{trace}/echanges/{key}", response_class=HTMLResponse, summary="Un échange ouvert")
async def exchange_page(
    request: Request,
    runtime: RuntimeDep,
    peers: PeersDep,
    key: str,
    trace: str = TracePath,
    fragment_only: bool = Query(False, alias="fragment"),
) -> HTMLResponse:
    journey, unreachable = await _journey(peers, runtime, trace)
    call = journey.find(key)
    if call is None:
        raise NotFoundError(f"no exchange {key} in trace {trace}")
    keysets = await peers.keysets()
    tokens = find_tokens(call.record, keysets)
    if any(t.verdict == "unknown" for t in tokens):  # a key rotated since: look again
        tokens = find_tokens(call.record, await peers.keysets(fresh=True))
    context: dict[str, Any] = {
        **_context(journey, trace, unreachable),
        "call": call,
        "request_body": view_body(call.record["request"]),
        "response_body": view_body(call.record["response"]),
        "tokens": tokens,
        "url": call.record.get("url") or f"{runtime.settings.peer_public_url(call.target)}{call.path}",
    }
    context["diagram"] = str(context["diagram"]).replace(
        f'data-key="{key}"', f'data-key="{key}" data-selected="1"'
    )
    if fragment_only:
        return fragment(request, "_exchange.html", **context)
    return render(request, "exchange.html", **context)


@router.get("/{trace}/export.{fmt}", summary="Exporter un parcours : Mermaid, SVG, PNG ou HAR")
async def export_journey(runtime: RuntimeDep, peers: PeersDep, fmt: str, trace: str = TracePath) -> Response:
    if fmt not in ("mmd", "svg", "png", "har"):
        raise BadRequestError(f"unknown export format {fmt!r} (mmd, svg, png, har)")
    journey, _ = await _journey(peers, runtime, trace)
    if not journey.calls:
        raise NotFoundError(f"no exchange recorded for trace {trace}")
    title = f"Parcours {trace[:8]}"
    return export(journey, fmt, f"parcours-{trace[:8]}", title, runtime.settings)  # type: ignore[arg-type]

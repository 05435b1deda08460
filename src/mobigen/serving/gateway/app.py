"""The gateway's HTTP app: ``POST /v1/generate`` (window, associate, forward), the request routes
proxied to the edge that served the request, and ``GET /health``.

Errors have the edge server's shape ``{"error": kind, "detail": message}``: a malformed upload is
refused here (400/422, naming the field) before it joins a window; an edge that cannot be reached is a
502 for that upload only; an edge's own 4xx/5xx is passed through unchanged.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import TypeAdapter, ValidationError

from mobigen.serving.gateway.association import GatewaySettings, Link, Window
from mobigen.serving.schemas import API_PREFIX, GenerateMeta

log = logging.getLogger(__name__)

EDGE_HEADER = "x-mobigen-edge"
"""Reply header: the index of the edge site that served the upload."""
_LINKS = TypeAdapter(list[Link])
_PASS_HEADERS = ("content-type", "x-mobigen-request-id")


def _error(status: int, kind: str, detail: str) -> JSONResponse:
    return JSONResponse({"error": kind, "detail": detail}, status_code=status)


def _first_error(exc: ValidationError, prefix: str) -> str:
    e = exc.errors(include_url=False)[0]
    where = ".".join(str(x) for x in e.get("loc", ()))
    return f"field '{prefix}{'.' + where if where else ''}': {e.get('msg', 'invalid')}"


def parse_upload_meta(text: str, n_edges: int) -> tuple[GenerateMeta, list[Link] | None, dict[str, Any]]:
    """(validated meta, per-edge links or None, the meta as a dict without ``links``); ValueError naming
    ``meta.<field>``."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"field 'meta': not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError("field 'meta': must be a JSON object")
    raw_links = data.pop("links", None)
    try:
        meta = GenerateMeta.model_validate(data)
    except ValidationError as exc:
        raise ValueError(_first_error(exc, "meta")) from None
    links = None
    if raw_links is not None:
        try:
            links = _LINKS.validate_python(raw_links)
        except ValidationError as exc:
            raise ValueError(_first_error(exc, "meta.links")) from None
        if len(links) != n_edges:
            raise ValueError(f"field 'meta.links': must hold one link per edge site ({n_edges}), got {len(links)}")
    return meta, links, data


def create_gateway_app(settings: GatewaySettings, *, quality_model: Any = None) -> FastAPI:
    """The gateway app for ``settings`` (``quality_model``: the edges' quality model; default the package's)."""
    if quality_model is None:
        from mobigen.conditions.quality import make_quality_model

        quality_model = make_quality_model()
    window = Window(settings, quality_model)
    client = httpx.AsyncClient(timeout=settings.timeout_s)
    owner: dict[str, int] = {}  # request id -> edge index

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await client.aclose()

    app = FastAPI(title="mobigen multi-edge gateway", version="1", docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.window, app.state.settings, app.state.owner = window, settings, owner

    @app.get("/health")
    async def health() -> dict[str, Any]:
        """The first reachable site's /health (clients read its generation fields: every site must run the
        same components) plus the gateway's own fields and each site's status."""
        sites: list[str] = []
        first: dict[str, Any] = {}
        for url in settings.edge_urls:
            try:
                r = await client.get(f"{url}/health", timeout=10.0)
                body = r.json() if r.status_code == 200 else {}
            except (httpx.HTTPError, ValueError):
                body = {}
            sites.append(str(body.get("status", "unreachable")))
            first = first or body
        return first | {"status": "ok", "role": "gateway", "edges": list(settings.edge_urls), "site_status": sites,
                        "windows": window.slots, "assigned": list(window.assigned), "window_ms": settings.window_ms}

    @app.post(f"{API_PREFIX}/generate")
    async def generate(meta: Annotated[str, Form()], condition: Annotated[UploadFile, File()]) -> Response:
        try:
            m, links, data = parse_upload_meta(meta, len(settings.edge_urls))
        except ValueError as exc:
            return _error(422, "invalid_request", str(exc))
        body = await condition.read()
        if not body:
            return _error(422, "invalid_request", "field 'condition': empty")
        edge = await window.join(m, len(body), links)
        link = links[edge] if links is not None else None
        spec = settings.scenario.edges[edge]  # type: ignore[union-attr]
        data["uplink_mbps"] = link.uplink_mbps if link else m.uplink_mbps * spec.uplink_scale
        data["downlink_mbps"] = link.downlink_mbps if link else m.downlink_mbps * spec.downlink_scale
        files = {"meta": (None, json.dumps(data), "application/json"),
                 "condition": (condition.filename or "condition", body, condition.content_type or "image/jpeg")}
        url = settings.edge_urls[edge]
        try:
            r = await client.post(f"{url}{API_PREFIX}/generate", files=files)
        except httpx.HTTPError as exc:
            log.warning("gateway: edge %d (%s) unreachable: %s", edge, url, exc)
            return _error(502, "edge_unreachable", f"edge site {edge} ({url}) could not be reached: "
                                                   f"{type(exc).__name__}")
        rid = r.headers.get("x-mobigen-request-id")
        if rid:
            owner[rid] = edge
        headers = {h: r.headers[h] for h in _PASS_HEADERS if h in r.headers} | {EDGE_HEADER: str(edge)}
        headers.pop("content-type", None)
        return Response(r.content, status_code=r.status_code, media_type=r.headers.get("content-type"),
                        headers=headers)

    @app.api_route(f"{API_PREFIX}/requests/{{request_id}}", methods=["GET"])
    @app.api_route(f"{API_PREFIX}/requests/{{request_id}}/{{action}}", methods=["GET", "POST"])
    async def request_proxy(request: Request, request_id: str, action: str | None = None) -> Response:
        edge = owner.get(request_id)
        if edge is None:
            return _error(404, "not_found", f"no request '{request_id}' went through this gateway")
        path = f"{API_PREFIX}/requests/{request_id}" + (f"/{action}" if action else "")
        try:
            r = await client.request(request.method, f"{settings.edge_urls[edge]}{path}", content=await request.body(),
                                     headers={"content-type": request.headers.get("content-type", "application/json")})
        except httpx.HTTPError as exc:
            return _error(502, "edge_unreachable", f"edge site {edge} could not be reached: {type(exc).__name__}")
        return Response(r.content, status_code=r.status_code, media_type=r.headers.get("content-type"),
                        headers={EDGE_HEADER: str(edge)})

    return app

"""The console's routes under ``/ui``: the page, its static files, a JSON/SSE API and "Try it".

| method | path | what |
|---|---|---|
| GET  | ``/ui`` | the page (``static/index.html``) |
| GET  | ``/ui/static/{name}`` | the page's script and style sheet |
| GET  | ``/ui/api/info`` | what the edge runs and the scenario's device types (for the form) |
| GET  | ``/ui/api/slots?limit=N`` | the last N slots, each user's measurements merged in (JSON) |
| GET  | ``/ui/api/events`` | server-sent events: ``slot``, ``request``, ``device``, ``heartbeat`` |
| POST | ``/ui/api/try`` | multipart form: run one request with the simulated device |

The event stream reads from the service's ``EventBus`` through a bounded queue per browser (a slow
browser loses its oldest events, counted in the heartbeat's ``dropped``; the edge never waits) and
ends when the service begins to shut down.
"""

from __future__ import annotations

import asyncio
import logging
import time
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, StreamingResponse

from mobigen.serving.console.device import NOISE_NOTE, SimulatedDevice, TryRequest
from mobigen.serving.console.views import json_safe, recent_slots, sse_frame
from mobigen.conditions.base import WeightsMissingError
from mobigen.serving.errors import error_response
from mobigen.serving.events import DeviceEvent, event_dict

logger = logging.getLogger(__name__)

UI_PREFIX = "/ui"
"""Where the console lives on the edge server."""

STATIC_FILES = {"console.js": "text/javascript", "console.css": "text/css"}
"""The static files served under ``/ui/static/`` (nothing else is)."""

MAX_WAITING = 4
"""Try-it requests that may wait for the simulated device before new ones get 429."""


def static_dir() -> Any:
    """The package folder holding the page (ships with the wheel as package data)."""
    return resources.files("mobigen.serving.console") / "static"


def _url_host(host: str | None) -> str:
    """``host`` as it goes into a URL: a wildcard bind becomes loopback, an IPv6 address gets brackets."""
    host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", None: "127.0.0.1", "::": "::1"}.get(host, host)
    return f"[{host}]" if ":" in str(host) else str(host)


def loopback_url(request: Request) -> str:
    """The URL of this very server as seen from inside it (the socket it accepted the request on)."""
    host, port = (request.scope.get("server") or ("127.0.0.1", 80))[:2]
    return f"http://{_url_host(host)}:{port}"


def console_url(host: str, port: int) -> str:
    """The console's address for people: ``http://host:port/ui/`` (a wildcard bind shown as 127.0.0.1)."""
    return f"http://{_url_host(host)}:{port}{UI_PREFIX}/"


class _Console:
    """State shared by the console's routes for one service."""

    def __init__(self, service: Any, settings: Any, device_url: str | None, heartbeat_s: float,
                 queue_size: int) -> None:
        self.svc = service
        self.settings = settings
        self.device_url = device_url
        self.heartbeat_s = heartbeat_s
        self.queue_size = queue_size
        self.device = SimulatedDevice(service.scenario, service.spec if service.runner is not None else None)
        self.waiting = 0
        """Try-it requests admitted and not yet answered (running or waiting for the device)."""
        self._lock: tuple[Any, asyncio.Lock] | None = None

    def device_lock(self) -> asyncio.Lock:
        """One simulated device at a time; waiting requests wait here, on the loop, not in a thread."""
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock[0] is not loop:  # an app may be served by several loops in turn
            self._lock = (loop, asyncio.Lock())
        return self._lock[1]

    def info(self) -> dict:
        sc, s, svc = self.svc.scenario, self.settings, self.svc
        types = [{"index": i, "f_flops": r * sc.f_edge, "budget_flops": b * sc.edge_budget_flops,
                  "compute_ratio": r, "budget_ratio": b}
                 for i, (r, b) in enumerate(zip(sc.device_compute_ratios, sc.device_budget_ratios, strict=True))]
        return {
            "scenario": sc.name, "controller": svc.controller_name, "max_users": s.max_users, "slot_ms": s.slot_ms,
            "components_label": svc.components_label, "image_size": s.image_size,
            "quality_backend": str(getattr(svc.quality, "backend", "unknown")), "device_types": types,
            "uplink_mbps_range": list(sc.uplink_mbps_range), "downlink_mbps_range": list(sc.downlink_mbps_range),
            "steps": [svc.params.steps_min, svc.params.steps_max], "latency_threshold_s": svc.params.latency_threshold_s,
            "max_body_bytes": s.max_body_bytes, "max_prompt_chars": s.max_prompt_chars,
            "generates": svc.runner is not None, "noise_note": NOISE_NOTE,
        }

    def heartbeat(self, dropped: int) -> dict:
        w = self.svc.worker
        return {"t_wall": time.time(), "worker_queue": int(w.queued), "worker_busy": bool(getattr(w, "busy", False)),
                "in_flight": int(self.svc.records.n_active), "dropped": dropped, "closing": bool(self.svc.closing),
                "try_waiting": self.waiting}

    async def stream(self, request: Request):  # noqa: ANN201 - an async generator of SSE frames
        sub = self.svc.events.subscribe(maxsize=self.queue_size)
        try:
            yield "retry: 2000\n\n"
            yield sse_frame(None, "heartbeat", self.heartbeat(0))
            last = time.monotonic()
            while not self.svc.closing:
                item = await sub.get(min(0.5, self.heartbeat_s))
                if item is not None:
                    seq, ev = item
                    yield sse_frame(seq, ev.kind, event_dict(ev))
                if time.monotonic() - last >= self.heartbeat_s:
                    last = time.monotonic()
                    yield sse_frame(None, "heartbeat", self.heartbeat(sub.dropped))
                    if await request.is_disconnected():
                        break
        finally:
            sub.close()

    async def try_request(self, request: Request, image: UploadFile, prompt: str, omega_I: float,
                          qoe_threshold: float, device_type: int, seed: int, uplink_mbps: float | None,
                          downlink_mbps: float | None) -> JSONResponse:
        """One try-it request: check the fields and the image, wait for the simulated device, run it."""
        import httpx

        from mobigen.serving.client import ServerError

        # 1. the fields the form types cannot check, then the image
        if len(prompt) > self.settings.max_prompt_chars:
            return error_response(422, "invalid_request", f"field 'prompt': {len(prompt)} characters exceeds the "
                                  f"limit of {self.settings.max_prompt_chars}")
        n_types = len(self.svc.scenario.device_compute_ratios)
        if device_type >= n_types:
            return error_response(422, "invalid_request",
                                  f"field 'device_type' must lie in 0..{n_types - 1}, got {device_type}")
        try:
            rgb = await _read_source_image(image)
        except ValueError as exc:
            return error_response(422, "invalid_image", str(exc))
        # 2. a bounded number waiting for the device
        if self.waiting >= MAX_WAITING:
            return error_response(429, "busy", f"{self.waiting} try-it requests are already running or waiting for "
                                  "the simulated device; retry in a moment")
        req = TryRequest(rgb, prompt, omega_I, qoe_threshold, device_type, seed, uplink_mbps, downlink_mbps)
        url = self.device_url or loopback_url(request)
        # 3. the simulated device against the edge's own API, one at a time
        self.waiting += 1
        try:
            async with self.device_lock():
                report = await asyncio.to_thread(self.device.run, url, req)
        except ServerError as exc:  # the edge refused the simulated device's request: pass its answer on
            return error_response(exc.status_code, exc.error,
                                  f"the edge refused the simulated device's request: {exc.detail}")
        except httpx.TransportError as exc:
            return error_response(503, "loopback_unreachable",
                                  f"the simulated device could not reach the edge at {url}: {type(exc).__name__}: {exc}")
        except WeightsMissingError as exc:  # the edge machine lacks an extractor's model: a setup problem, said so
            return error_response(503, "device_models_missing",
                                  f"the simulated device cannot extract this condition on this machine: {exc}")
        except ValueError as exc:  # a field the client code refused
            return error_response(422, "invalid_request", str(exc))
        finally:
            self.waiting -= 1
        # 4. the device's own measurements join the live view
        self.svc.events.publish(DeviceEvent(report["request_id"], report["measured"], simulated=True))
        return JSONResponse(json_safe(report))


async def _read_source_image(image: UploadFile) -> Any:
    """The uploaded photo as 512x512 RGB; ``ValueError`` naming field 'image' if it is not a usable image."""
    from mobigen.conditions.images import load_image, to_512

    data = await image.read()
    if not data:
        raise ValueError("field 'image': empty file (choose an image to upload)")

    def decode() -> Any:
        try:
            return to_512(load_image(data, convert=True))
        except ValueError as exc:  # ImageError: not an image, corrupt, truncated, too many pixels
            raise ValueError(f"field 'image': {exc}") from None

    return await asyncio.to_thread(decode)


def console_router(service: Any, settings: Any, *, device_url: str | None = None, heartbeat_s: float = 5.0,
                   queue_size: int = 256) -> APIRouter:
    """The ``/ui`` routes for ``service`` (an ``EdgeService``). ``device_url`` is where the simulated device
    reaches the edge (default: the socket the try-it request came in on, i.e. loopback)."""
    if not heartbeat_s > 0:
        raise ValueError(f"field 'heartbeat_s' must be > 0, got {heartbeat_s}")
    con = _Console(service, settings, device_url, heartbeat_s, queue_size)
    router = APIRouter(prefix=UI_PREFIX, include_in_schema=False)
    root = static_dir()

    @router.get("")
    async def page_redirect() -> RedirectResponse:
        return RedirectResponse(f"{UI_PREFIX}/")

    @router.get("/")
    async def page() -> FileResponse:
        return FileResponse(str(root / "index.html"), media_type="text/html", headers={"cache-control": "no-cache"})

    @router.get("/static/{name}")
    async def static(name: str) -> Any:
        if name not in STATIC_FILES:
            return error_response(404, "not_found", f"no console file {name!r}")
        return FileResponse(str(root / name), media_type=STATIC_FILES[name], headers={"cache-control": "no-cache"})

    @router.get("/api/info")
    async def info() -> JSONResponse:
        return JSONResponse(json_safe(con.info()))

    @router.get("/api/slots")
    async def slots(limit: Annotated[int, Query(ge=1, le=500)] = 50) -> JSONResponse:
        return JSONResponse({"slots": recent_slots(service.events, limit), **con.heartbeat(0)})

    @router.get("/api/events")
    async def events(request: Request) -> StreamingResponse:
        return StreamingResponse(con.stream(request), media_type="text/event-stream",
                                 headers={"cache-control": "no-cache", "x-accel-buffering": "no"})

    @router.post("/api/try")
    async def try_it(
        request: Request,
        image: Annotated[UploadFile, File(description="The source photo (JPEG, PNG, WebP, …).")],
        prompt: Annotated[str, Form(min_length=1)],
        omega_I: Annotated[float, Form(ge=0.0, le=1.0)],
        qoe_threshold: Annotated[float, Form(ge=0.0, le=1.0)],
        device_type: Annotated[int, Form(ge=0)] = 0,
        seed: Annotated[int, Form(ge=0, lt=2**63)] = 0,
        uplink_mbps: Annotated[float | None, Form(gt=0, le=100_000)] = None,
        downlink_mbps: Annotated[float | None, Form(gt=0, le=100_000)] = None,
    ) -> JSONResponse:
        return await con.try_request(request, image, prompt, omega_I, qoe_threshold, device_type, seed,
                                     uplink_mbps, downlink_mbps)

    return router


__all__ = ["MAX_WAITING", "STATIC_FILES", "UI_PREFIX", "console_router", "console_url", "loopback_url", "static_dir"]

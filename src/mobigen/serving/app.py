"""The edge server's ASGI app (FastAPI): ``create_app(settings)``.

Endpoints (routers in ``serving.routes``, one per resource; bodies in ``serving.schemas``; reply
framing in ``serving.protocol``; the schema at ``/v1/openapi.json``):

| method | path | what |
|---|---|---|
| GET  | ``/health`` | liveness + what the server runs (controller, components, image size, …) |
| GET  | ``/metrics`` | Prometheus text: requests, slot sizes, decision latency, bytes up/down, errors, disconnects |
| POST | ``/v1/generate`` | multipart upload (``meta`` JSON + ``condition`` file) → framed reply |
| GET  | ``/v1/requests/{id}`` | status of a request (``RequestState``) |
| POST | ``/v1/requests/{id}/complete`` | the device confirms it finished (or reports it could not) |
| GET  | ``/v1/requests/{id}/image`` | the final image, when the edge holds it (take-over, undelivered o_k = 1) |

Every error is JSON ``{"error": kind, "detail": message naming the field}`` with a 4xx/5xx status
(``serving.errors``); every field is checked before a request joins a slot (``serving.admission``)
and a request that still breaks its slot's decision fails alone (``EdgeService``): a bad request
never affects the other users of its slot.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from fastapi import FastAPI

from mobigen.serving.console import console_router
from mobigen.serving.edge import EdgeService
from mobigen.serving.errors import install_error_handlers, validation_message
from mobigen.serving.limits import BodySizeLimitMiddleware
from mobigen.serving.openapi import install_openapi
from mobigen.serving.routes import generate, ops, requests
from mobigen.serving.schemas import API_PREFIX
from mobigen.serving.settings import ServerSettings

logger = logging.getLogger(__name__)


def _lifespan(svc: EdgeService, settings: ServerSettings) -> Any:
    """Start the service (batcher, weights) before the first request; finish its work at shutdown."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):  # noqa: ANN202
        await svc.start()
        logger.info("edge server ready: controller=%s K=%d slot=%gms components=%s", svc.controller_name,
                    settings.max_users, settings.slot_ms, svc.components_label)
        yield
        await svc.aclose(finish=True)

    return lifespan


def create_app(settings: ServerSettings | None = None, *, service: EdgeService | None = None, **service_kwargs: Any) -> FastAPI:
    """Build the app. ``service`` (or ``service_kwargs`` for ``EdgeService``: controller, quality_model,
    runner, guard_fn) lets tests inject parts; by default everything comes from ``settings``."""
    settings = settings or ServerSettings()
    svc = service if service is not None else EdgeService(settings, **service_kwargs)
    app = FastAPI(title="mobigen edge server", version="1", lifespan=_lifespan(svc, settings),
                  docs_url=None, redoc_url=None, openapi_url=f"{API_PREFIX}/openapi.json")
    app.state.service = svc
    app.state.settings = settings
    metrics = svc.metrics
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes,
                       on_reject=lambda: metrics.errors.labels(kind="body_too_large").inc())
    install_error_handlers(app, metrics)
    app.include_router(ops.router)
    app.include_router(generate.router)
    app.include_router(requests.router)
    app.include_router(console_router(svc, settings))  # the web console at /ui (serving/console)
    install_openapi(app)
    return app


__all__ = ["create_app", "validation_message"]

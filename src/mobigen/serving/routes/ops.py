"""Operations: ``GET /health`` (liveness + what the server runs) and ``GET /metrics`` (Prometheus text)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from mobigen.serving.metrics import METRICS_CONTENT_TYPE
from mobigen.serving.routes.deps import Service, Settings
from mobigen.serving.schemas import API_PREFIX

router = APIRouter(tags=["operations"])


class PrometheusResponse(Response):
    """The Prometheus text exposition format, not JSON. Documented as ``text/plain``; sent with the
    full ``METRICS_CONTENT_TYPE`` (``text/plain; version=...; charset=utf-8``)."""

    media_type = "text/plain"


@router.get("/health", summary="Liveness and what the server runs")
async def health(svc: Service, settings: Settings) -> dict[str, Any]:
    """``status`` is 'ok', or 'shutting_down' once shutdown has begun; the rest describes the server."""
    return {
        "status": "shutting_down" if svc.closing else "ok",
        "api": API_PREFIX,
        "scenario": svc.scenario.name,
        "controller": svc.controller_name,
        "max_users": settings.max_users,
        "slot_ms": settings.slot_ms,
        "denoise": settings.denoise,
        "components": settings.components if svc.runner is not None else None,
        "components_label": svc.components_label,
        "components_seed": settings.components_seed,
        "image_size": settings.image_size,
        "wire_mode": settings.wire_mode,
        "quality_backend": str(getattr(svc.quality, "backend", "unknown")),
        "completion_deadline_s": svc.deadline_s,
        "in_flight": svc.records.n_active,
        "worker_queue": svc.worker.queued,
        "engine": settings.engine,
        "workers": svc.pool.describe(),
    }


@router.get("/metrics", response_class=PrometheusResponse, summary="Prometheus metrics (text exposition format)",
            responses={200: {"description": "Requests, slot sizes, decision latency, bytes up/down, errors, "
                                            "disconnects, in the Prometheus text format.",
                             "content": {"text/plain": {"schema": {"type": "string"}}}}})
async def prometheus(svc: Service) -> PrometheusResponse:
    """Every metric of ``serving.metrics.ServerMetrics``."""
    svc.metrics.queue_depth.set(svc.worker.queued)
    return PrometheusResponse(svc.metrics.render(), media_type=METRICS_CONTENT_TYPE)


__all__ = ["PrometheusResponse", "router"]

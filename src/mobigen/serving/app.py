"""The edge server's ASGI app (FastAPI): ``create_app(settings)``.

Endpoints (request/response bodies in ``serving.schemas``; reply framing in ``serving.protocol``):

| method | path | what |
|---|---|---|
| GET  | ``/health`` | liveness + what the server runs (controller, components, image size, …) |
| GET  | ``/metrics`` | Prometheus text: requests, slot sizes, decision latency, bytes up/down, errors |
| POST | ``/v1/generate`` | multipart upload (``meta`` JSON + ``condition`` file) → framed reply |
| GET  | ``/v1/requests/{id}`` | status of a request (``RequestState``) |
| POST | ``/v1/requests/{id}/complete`` | the device confirms it finished (or reports it could not) |
| GET  | ``/v1/requests/{id}/image`` | the final image, when the edge holds it (take-over, undelivered o_k = 1) |

Every error is JSON ``{"error": kind, "detail": message naming the field}`` with a 4xx/5xx status;
a bad request never affects the other users of its slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import ValidationError

from mobigen.serving.edge import EdgeService, ServiceError
from mobigen.serving.limits import BodySizeLimitMiddleware, BodyTooLarge
from mobigen.serving.metrics import METRICS_CONTENT_TYPE
from mobigen.serving.multipart import MultipartError, parse_form
from mobigen.serving.protocol import RESULT_MEDIA_TYPE
from mobigen.serving.schemas import API_PREFIX, CompleteBody, GenerateMeta
from mobigen.serving.settings import ServerSettings
from mobigen.serving.shaping import bits_per_second, shaped_chunks

logger = logging.getLogger(__name__)


def _error(status: int, error: str, detail: str) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail}, status_code=status)


def validation_message(exc: ValidationError | RequestValidationError, prefix: str = "") -> str:
    """One line naming every offending field, e.g. ``field 'meta.omega_I': Input should be ≤ 1``."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err.get("loc", ()) if x != "body")
        name = f"{prefix}.{loc}" if prefix and loc else (prefix or loc or "body")
        parts.append(f"field '{name}': {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def create_app(settings: ServerSettings | None = None, *, service: EdgeService | None = None, **service_kwargs: Any) -> FastAPI:
    """Build the app. ``service`` (or ``service_kwargs`` for ``EdgeService``: controller, quality_model,
    runner, guard_fn) lets tests inject parts; by default everything comes from ``settings``."""
    settings = settings or ServerSettings()
    svc = service if service is not None else EdgeService(settings, **service_kwargs)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):  # noqa: ANN202
        await svc.start()
        logger.info("edge server ready: controller=%s K=%d slot=%gms components=%s", svc.controller_name,
                    settings.max_users, settings.slot_ms, svc.components_label)
        yield
        await svc.aclose(finish=True)

    app = FastAPI(title="mobigen edge server", version="1", lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url=f"{API_PREFIX}/openapi.json")
    app.state.service = svc
    app.state.settings = settings
    metrics = svc.metrics
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes,
                       on_reject=lambda: metrics.errors.labels(kind="body_too_large").inc())

    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
        metrics.errors.labels(kind=exc.error).inc()
        if request.url.path.endswith("/generate"):
            metrics.requests.labels(outcome=str(exc.status_code)).inc()
        return _error(exc.status_code, exc.error, exc.detail)

    @app.exception_handler(BodyTooLarge)
    async def _too_large(request: Request, exc: BodyTooLarge) -> JSONResponse:
        metrics.errors.labels(kind="body_too_large").inc()
        return _error(413, "body_too_large", str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        metrics.errors.labels(kind="invalid_request").inc()
        return _error(422, "invalid_request", validation_message(exc))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unexpected error on %s", request.url.path)
        metrics.errors.labels(kind="internal").inc()
        return _error(500, "internal", f"unexpected server error: {type(exc).__name__}: {exc}")

    @app.get("/health")
    async def health() -> dict[str, Any]:
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
        }

    @app.get("/metrics")
    async def prometheus() -> Response:
        metrics.queue_depth.set(svc.worker.queued)
        return Response(metrics.render(), media_type=METRICS_CONTENT_TYPE)

    def fail(status: int, error: str, detail: str) -> JSONResponse:
        metrics.errors.labels(kind=error).inc()
        metrics.requests.labels(outcome=str(status)).inc()
        return _error(status, error, detail)

    @app.post(f"{API_PREFIX}/generate")
    async def generate(request: Request) -> Response:
        from mobigen.conditions import codec

        ctype = request.headers.get("content-type", "")
        if not ctype.lower().startswith("multipart/form-data"):
            return fail(415, "unsupported_media_type",
                        f"body must be multipart/form-data with a JSON part 'meta' and a file part 'condition' "
                        f"(got content-type {ctype or 'none'!r})")
        body_bytes = await request.body()  # the whole upload (size-limited by the middleware); the clock starts after it
        t0 = time.perf_counter()
        c0 = time.thread_time()
        try:
            parts = parse_form(body_bytes, ctype)
        except MultipartError as exc:
            return fail(400, "malformed_multipart", f"body is not valid multipart/form-data: {exc}")
        meta_part, cond_part = parts.get("meta"), parts.get("condition")
        if meta_part is None:
            return fail(422, "invalid_request", "field 'meta': missing (a JSON part named 'meta')")
        if meta_part.filename is not None:
            return fail(422, "invalid_request", "field 'meta': must be a text part holding JSON, not a file")
        if cond_part is None:
            return fail(422, "invalid_request", "field 'condition': missing (a file part named 'condition')")
        if cond_part.filename is None:
            return fail(422, "invalid_request", "field 'condition': must be a file part with the encoded condition bytes")
        data = cond_part.data
        try:
            meta = GenerateMeta.model_validate_json(meta_part.data)
        except ValidationError as exc:
            return fail(422, "invalid_request", validation_message(exc, "meta"))
        if len(data) > settings.max_condition_bytes:
            return fail(413, "condition_too_large",
                        f"field 'condition': {len(data)} bytes exceeds the limit of {settings.max_condition_bytes} bytes")
        try:
            actual = codec.sniff(data)
        except ValueError as exc:
            return fail(422, "invalid_condition", f"field 'condition': {exc}")
        if actual != meta.codec:
            return fail(422, "invalid_condition",
                        f"field 'condition': the bytes are {actual} but field 'meta.codec' says {meta.codec!r}")
        sync_s = time.perf_counter() - t0

        def timed_decode() -> tuple:
            t = time.perf_counter()
            # validates: corrupt, truncated or larger than 512x512 -> ValueError
            return codec.decode(data), time.perf_counter() - t

        try:
            if settings.decode_in_thread:  # OpenCV releases the GIL: the event loop serves other users meanwhile
                rgb, decode_s = await asyncio.to_thread(timed_decode)
            else:
                rgb, decode_s = timed_decode()
            ingest_cpu = time.thread_time() - c0  # the decode thread's CPU is not counted when decode_in_thread
        except ValueError as exc:
            return fail(422, "invalid_condition", f"field 'condition': {exc}")
        metrics.bytes_up.inc(len(data))
        del rgb  # decoded only to validate; the worker decodes the bytes again when it generates
        result, payload, frame = await svc.submit(meta, len(data), data if svc.runner is not None else None, t0,
                                                  ingest_processing_s=sync_s + decode_s, ingest_cpu_s=ingest_cpu)
        metrics.requests.labels(outcome="200").inc()
        metrics.bytes_down.inc(len(frame))
        headers = {"content-length": str(len(frame)), "x-mobigen-request-id": result.request_id}
        if not settings.shape_downlink:
            return Response(frame, media_type=RESULT_MEDIA_TYPE, headers=headers)
        rate = bits_per_second(meta.downlink_mbps)
        rid, kind = result.request_id, result.payload_kind

        async def body():  # noqa: ANN202 - the downlink paced at B↓ (eqs. 6/7's transfer term)
            sent = 0
            try:
                async for chunk in shaped_chunks(frame, rate):
                    yield chunk
                    sent += len(chunk)
            finally:
                if sent < len(frame):
                    svc.note_undelivered(rid, kind, payload)

        return StreamingResponse(body(), media_type=RESULT_MEDIA_TYPE, headers=headers)

    @app.get(f"{API_PREFIX}/requests/{{request_id}}")
    async def request_state(request_id: str) -> dict[str, Any]:
        return svc.state(request_id).model_dump()

    @app.post(f"{API_PREFIX}/requests/{{request_id}}/complete")
    async def complete(request_id: str, request: Request) -> dict[str, Any]:
        raw = await request.body()
        try:
            body = CompleteBody.model_validate_json(raw or b"{}")
        except ValidationError as exc:
            raise ServiceError(422, "invalid_request", validation_message(exc)) from None
        return svc.complete(request_id, body).model_dump()

    @app.get(f"{API_PREFIX}/requests/{{request_id}}/image")
    async def image(request_id: str) -> Response:
        return Response(svc.image(request_id), media_type="application/vnd.mobigen.wire")

    return app


__all__ = ["create_app", "validation_message"]

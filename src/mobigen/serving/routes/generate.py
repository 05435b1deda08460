"""``POST /v1/generate``: one user's upload (``meta`` JSON part + ``condition`` file part) → framed reply.

The form is parsed by FastAPI/Starlette with python-multipart (``Form``/``File``), so the OpenAPI
schema describes the body. ``UploadRoute`` runs the steps that must come before any parsing:

1. the content type is exactly ``multipart/form-data`` with a boundary (415 / 400);
2. the whole body is received (the size limit of ``serving.limits`` applies while it streams; a
   client that goes away here is a disconnect, see ``serving.errors``); the request's clock starts;
3. the form is parsed (400 for malformed multipart) and its parts checked (422).

The endpoint then admits the request (``serving.admission``), submits it to the ``EdgeService`` and
sends the reply paced at the declared B↓ (eqs. 6/7's transfer term).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response, StreamingResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from mobigen.serving import admission
from mobigen.serving.edge import EdgeService, ServiceError
from mobigen.serving.errors import error_responses
from mobigen.serving.protocol import RESULT_MEDIA_TYPE
from mobigen.serving.routes.deps import Service, Settings
from mobigen.serving.schemas import API_PREFIX, GenerateMeta
from mobigen.serving.settings import ServerSettings
from mobigen.serving.shaping import bits_per_second, shaped_chunks

RECEIVED_AT = "mobigen_received_at"
"""``request.state`` attribute: perf_counter time the whole body had been received (s)."""


class UploadRoute(APIRoute):
    """An ``APIRoute`` that checks the content type, receives the body and parses the form itself
    before FastAPI binds the ``Form``/``File`` parameters (module docstring, steps 1-3)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            settings: ServerSettings = request.app.state.settings
            admission.check_content_type(request.headers.get("content-type"))  # 1
            await request.body()  # 2: cached; Starlette's form parser reads it from the cache
            setattr(request.state, RECEIVED_AT, time.perf_counter())
            try:  # 3
                form = await request.form(max_files=2, max_fields=2, max_part_size=settings.max_body_bytes)
            except HTTPException as exc:
                raise ServiceError(400, "malformed_multipart",
                                   f"body is not valid multipart/form-data: {exc.detail}") from None
            admission.check_parts(list(form.multi_items()))
            return await handler(request)

        return route


router = APIRouter(prefix=API_PREFIX, tags=["generation"], route_class=UploadRoute)

_REPLY = {200: {"description": "The framed reply (serving.protocol): b'MGR1' | uint32 n | n bytes of ResultMeta "
                               "JSON | the generation.wire payload (latent for o_k < 1, image for o_k = 1).",
                "content": {RESULT_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}}}}


@router.post("/generate", response_class=Response, summary="Submit one user's request to the open slot",
             responses={**_REPLY, **error_responses(400, 409, 413, 415, 422, 500, 503)},
             openapi_extra={"requestBody": {"content": {"multipart/form-data": {"encoding": {
                 "meta": {"contentType": "application/json"}}}}}})
async def generate(
    svc: Service,
    settings: Settings,
    request: Request,
    meta: Annotated[str, Form(description="JSON of schemas.GenerateMeta (prompt, ν = (λ, α, β, codec), ω, Q̃, "
                                          "device profile, bandwidths, seed).")],
    condition: Annotated[UploadFile, File(description="The engineered condition I_k(ν_k): the bytes "
                                                      "conditions.codec.encode produced (JPEG, PNG or WebP).")],
) -> Response:
    """Admit the request (every field checked before it joins a slot), serve it with its slot, reply."""
    t0 = getattr(request.state, RECEIVED_AT)
    c0 = time.thread_time()
    m = admission.parse_meta(meta, settings)
    data = await condition.read()
    admission.check_condition(data, m, settings)
    sync_s = time.perf_counter() - t0
    t_dec = time.perf_counter()
    if settings.decode_in_thread:  # OpenCV releases the GIL: the event loop serves other users meanwhile
        await asyncio.to_thread(admission.decode_condition, data)
    else:
        admission.decode_condition(data)  # decoded only to validate; the worker decodes the bytes again
    decode_s = time.perf_counter() - t_dec
    ingest_cpu = time.thread_time() - c0  # the decode thread's CPU is not counted when decode_in_thread
    svc.metrics.bytes_up.inc(len(data))
    result, payload, frame = await svc.submit(m, len(data), data if svc.runner is not None else None, t0,
                                              ingest_processing_s=sync_s + decode_s, ingest_cpu_s=ingest_cpu)
    svc.metrics.requests.labels(outcome="200").inc()
    svc.metrics.bytes_down.inc(len(frame))
    return _reply(svc, settings, m, result.request_id, result.payload_kind, payload, frame)


def _reply(svc: EdgeService, settings: ServerSettings, meta: GenerateMeta, rid: str, kind: str, payload: bytes,
           frame: bytes) -> Response:
    """The reply, paced at B↓ when ``shape_downlink`` (an undelivered reply is noted for the record)."""
    headers = {"content-length": str(len(frame)), "x-mobigen-request-id": rid}
    if not settings.shape_downlink:
        return Response(frame, media_type=RESULT_MEDIA_TYPE, headers=headers)
    rate = bits_per_second(meta.downlink_mbps)

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


__all__ = ["RECEIVED_AT", "UploadRoute", "router"]

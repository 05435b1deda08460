"""A request after its reply: ``GET /v1/requests/{id}`` (status), ``POST .../complete`` (the device's
confirmation), ``GET .../image`` (the final image, when the edge holds it)."""

from __future__ import annotations

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from pydantic import ValidationError

from mobigen.serving.service_error import ServiceError
from mobigen.serving.errors import error_responses, validation_message
from mobigen.serving.routes.deps import Service
from mobigen.serving.schemas import API_PREFIX, CompleteBody, RequestState

router = APIRouter(prefix=f"{API_PREFIX}/requests", tags=["requests"])

RequestId = Path(min_length=1, max_length=64, description="The request id (client-chosen or assigned).")
WIRE_MEDIA_TYPE = "application/vnd.mobigen.wire"
"""Media type of a ``generation.wire`` payload (the image the edge holds)."""


@router.get("/{request_id}", response_model=RequestState, responses=error_responses(404, 422),
            summary="Where a request stands")
async def request_state(svc: Service, request_id: str = RequestId) -> RequestState:
    return svc.state(request_id)


@router.post("/{request_id}/complete", response_model=RequestState, responses=error_responses(404, 409, 413, 422),
             summary="The device confirms it finished (or reports it could not)",
             openapi_extra={"requestBody": {"required": False, "content": {"application/json": {
                 "schema": CompleteBody.model_json_schema()}}}})
async def complete(svc: Service, request: Request, request_id: str = RequestId) -> RequestState:
    """Body: ``schemas.CompleteBody`` as JSON (an empty body means ``{"ok": true}``)."""
    raw = await request.body()
    try:
        body = CompleteBody.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        raise ServiceError(422, "invalid_request", validation_message(exc)) from None
    return svc.complete(request_id, body)


@router.get("/{request_id}/image", response_class=Response, responses={
    200: {"description": "The final image as a generation.wire payload.",
          "content": {WIRE_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}}},
    **error_responses(404, 422)}, summary="The final image, when the edge holds it")
async def image(svc: Service, request_id: str = RequestId) -> Response:
    return Response(svc.image(request_id), media_type=WIRE_MEDIA_TYPE)


__all__ = ["WIRE_MEDIA_TYPE", "router"]

"""One error shape for every 4xx/5xx the edge server sends: ``{"error": kind, "detail": message}``.

``install_error_handlers(app, metrics)`` routes every failure through it: the service's own
``ServiceError``, FastAPI's request validation, Starlette's HTTP errors (404 unknown path, 405 wrong
method, 400 unparsable form), the body-size limit, a client that went away mid-upload (logged at
INFO and counted as a disconnect, not as an error of the server) and, last, anything unexpected
(500, logged with its traceback). ``error_responses(...)`` documents the same shape in the OpenAPI
schema for the status codes an endpoint can answer.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from mobigen.serving.service_error import ServiceError
from mobigen.serving.limits import BodyTooLarge
from mobigen.serving.metrics import ServerMetrics
from mobigen.serving.schemas import API_PREFIX, ErrorBody

logger = logging.getLogger(__name__)

GENERATE_PATH = f"{API_PREFIX}/generate"
"""The upload endpoint: its outcomes are also counted in ``mobigen_requests_total{outcome}``."""

_KIND_BY_STATUS = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "body_too_large",
                   415: "unsupported_media_type", 422: "invalid_request", 503: "unavailable"}

_WHEN = {
    400: "The body is not well-formed multipart/form-data (or another malformed request).",
    404: "Unknown path, or no request with this id (or it expired).",
    405: "The path exists but not for this method.",
    409: "A duplicate request id, or the request is not in a state that allows this call.",
    413: "The body (Content-Length or streamed length) or the condition part exceeds the server's limit.",
    415: "The body is not multipart/form-data.",
    422: "A field is invalid (missing, wrong type, out of bounds); the message names it.",
    500: "The server failed while serving this request (never for malformed input).",
    503: "The server is shutting down or overloaded; retry later.",
}


def error_response(status: int, error: str, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The one error body (``schemas.ErrorBody``) with ``status``."""
    return JSONResponse({"error": error, "detail": detail}, status_code=status, headers=headers)


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: each status code in ``codes`` documented with ``ErrorBody``."""
    return {code: {"model": ErrorBody, "description": _WHEN.get(code, HTTPStatus(code).phrase)} for code in codes}


def validation_message(exc: ValidationError | RequestValidationError, prefix: str = "") -> str:
    """One line naming every offending field, e.g. ``field 'meta.omega_I': Input should be ≤ 1``."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err.get("loc", ()) if x != "body")
        name = f"{prefix}.{loc}" if prefix and loc else (prefix or loc or "body")
        msg = "missing" if err.get("type") == "missing" else err.get("msg", "invalid")
        parts.append(f"field '{name}': {msg}")
    return "; ".join(parts) or "invalid request"


def _count(metrics: ServerMetrics, request: Request, status: int, kind: str) -> None:
    metrics.errors.labels(kind=kind).inc()
    if request.url.path == GENERATE_PATH:
        metrics.requests.labels(outcome=str(status)).inc()


def install_error_handlers(app: FastAPI, metrics: ServerMetrics) -> None:
    """Register the handlers that give every failure the one error shape (module docstring)."""

    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
        _count(metrics, request, exc.status_code, exc.error)
        return error_response(exc.status_code, exc.error, exc.detail, headers=exc.headers or None)

    @app.exception_handler(BodyTooLarge)
    async def _too_large(request: Request, exc: BodyTooLarge) -> JSONResponse:
        _count(metrics, request, 413, "body_too_large")
        return error_response(413, "body_too_large", str(exc), headers={"connection": "close"})

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        _count(metrics, request, 422, "invalid_request")
        return error_response(422, "invalid_request", validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = _KIND_BY_STATUS.get(exc.status_code, "http_error")
        _count(metrics, request, exc.status_code, kind)
        detail = str(exc.detail)
        if exc.status_code == 404:
            detail = f"no such endpoint: {request.method} {request.url.path} (see {API_PREFIX}/openapi.json)"
        elif exc.status_code == 405:
            detail = f"method {request.method} is not allowed on {request.url.path}"
        return error_response(exc.status_code, kind, detail, headers=getattr(exc, "headers", None))

    @app.exception_handler(ClientDisconnect)
    async def _disconnected(request: Request, exc: ClientDisconnect) -> JSONResponse:
        metrics.disconnects.labels(stage="upload").inc()
        logger.info("client disconnected during the upload of %s %s", request.method, request.url.path)
        return error_response(400, "client_disconnected", "the client went away before the body was complete")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unexpected error on %s", request.url.path)
        _count(metrics, request, 500, "internal")
        return error_response(500, "internal", f"unexpected server error: {type(exc).__name__}: {exc}")


__all__ = ["GENERATE_PATH", "error_response", "error_responses", "install_error_handlers", "validation_message"]

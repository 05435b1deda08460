"""ASGI middleware that enforces a request-body size limit before anything parses the body.

It refuses with 413 when ``Content-Length`` announces more than the limit, and, for chunked or
lying uploads, counts the streamed bytes and fails the request as soon as they pass the limit.
"""

from __future__ import annotations

import json
from typing import Any


class BodyTooLarge(Exception):
    """Raised inside the app when a streamed body passes the limit."""


class BodySizeLimitMiddleware:
    """Wraps an ASGI app; bodies over ``max_bytes`` get ``413`` and never reach a parser."""

    def __init__(self, app: Any, max_bytes: int, on_reject=None) -> None:  # noqa: ANN001
        self.app = app
        self.max_bytes = int(max_bytes)
        self.on_reject = on_reject

    async def _reject(self, send, detail: str) -> None:  # noqa: ANN001
        if self.on_reject is not None:
            self.on_reject()
        body = json.dumps({"error": "body_too_large", "detail": detail}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    n = int(value)
                except ValueError:
                    await self._reject(send, "header 'content-length' is not an integer")
                    return
                if n > self.max_bytes:
                    await self._reject(send, f"request body of {n} bytes exceeds the limit of {self.max_bytes} bytes")
                    return
        received = 0
        started = False

        async def guarded_send(message) -> None:  # noqa: ANN001
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        async def limited_receive():  # noqa: ANN202
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(f"request body exceeds the limit of {self.max_bytes} bytes")
            return message

        try:
            await self.app(scope, limited_receive, guarded_send)
        except BodyTooLarge as exc:
            if not started:
                await self._reject(send, str(exc))


__all__ = ["BodySizeLimitMiddleware", "BodyTooLarge"]

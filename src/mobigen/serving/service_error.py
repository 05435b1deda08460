"""``ServiceError``: a request the edge service answers with an HTTP error status and a clear message.

Raised anywhere in the service (admission, capacity, decision, completion tracking) and turned into
the one error body ``{"error": kind, "detail": message}`` by ``serving.errors``; ``headers`` (e.g.
``Retry-After`` on a 503) go with the reply.
"""

from __future__ import annotations


class ServiceError(Exception):
    """A request the service answers with an HTTP error status and a clear message."""

    def __init__(self, status_code: int, error: str, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status_code = status_code
        """HTTP status (4xx/5xx)."""
        self.error = error
        """Machine-readable kind, e.g. 'overloaded'."""
        self.detail = detail
        """The message, naming the field or the limit."""
        self.headers = dict(headers or {})
        """Extra reply headers (``Retry-After`` for 503/429)."""


__all__ = ["ServiceError"]

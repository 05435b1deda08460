"""FastAPI dependencies: the app's ``EdgeService`` and ``ServerSettings`` (set by ``create_app``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from mobigen.serving.edge import EdgeService
from mobigen.serving.settings import ServerSettings


async def get_service(request: Request) -> EdgeService:
    """The app's ``EdgeService`` (``app.state.service``). ``async`` so that FastAPI calls it on the event loop:
    a plain ``def`` dependency is run in the thread pool, two thread hops per request for a field read."""
    return request.app.state.service


async def get_settings(request: Request) -> ServerSettings:
    """The app's ``ServerSettings`` (``app.state.settings``)."""
    return request.app.state.settings


Service = Annotated[EdgeService, Depends(get_service)]
"""Parameter annotation that injects the ``EdgeService``."""

Settings = Annotated[ServerSettings, Depends(get_settings)]
"""Parameter annotation that injects the ``ServerSettings``."""

__all__ = ["Service", "Settings", "get_service", "get_settings"]

"""Run an app with uvicorn in a background thread (tests, demo, load test) or in the foreground (CLI).

``ServerThread`` binds a free loopback port by default, waits until the server accepts
connections, and on ``stop()`` first tells the ``EdgeService`` to stop accepting and close its open
slot, then lets uvicorn finish in-flight requests (graceful shutdown).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from typing import Any

import uvicorn

logger = logging.getLogger(__name__)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class GracefulServer(uvicorn.Server):
    """uvicorn server that, on a shutdown signal, first closes the edge service's intake."""

    def handle_exit(self, sig: int, frame: Any) -> None:  # noqa: ANN401
        service = getattr(getattr(self.config.app, "state", None), "service", None)
        loop = getattr(service, "_loop", None)
        if loop is not None and not self.should_exit:
            try:  # run on the event loop, not inside the signal handler
                loop.call_soon_threadsafe(service.begin_shutdown)
            except RuntimeError:  # the loop is already closed
                pass
        super().handle_exit(sig, frame)


class ServerThread:
    """uvicorn in a daemon thread; use as a context manager."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int | None = None, *,
                 graceful_timeout_s: float = 30.0, log_level: str = "warning") -> None:
        self.app = app
        self.host = host
        self.port = port or free_port(host)
        config = uvicorn.Config(app, host=host, port=self.port, log_level=log_level, lifespan="on",
                                timeout_graceful_shutdown=graceful_timeout_s, access_log=False)
        self.server = GracefulServer(config)
        self.thread = threading.Thread(target=self.server.run, name="mobigen-uvicorn", daemon=True)
        self.loop: asyncio.AbstractEventLoop | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_s: float = 30.0) -> "ServerThread":
        self.thread.start()
        t_end = time.monotonic() + timeout_s
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("the server thread exited during startup (see the log)")
            if time.monotonic() > t_end:
                raise TimeoutError(f"server did not start within {timeout_s} s")
            time.sleep(0.01)
        return self

    def stop(self, timeout_s: float = 60.0) -> None:
        """Graceful stop: close intake, finish in-flight requests, run the app's shutdown."""
        service = getattr(getattr(self.app, "state", None), "service", None)
        loop = getattr(service, "_loop", None)
        if service is not None and loop is not None:
            loop.call_soon_threadsafe(service.begin_shutdown)
        self.server.should_exit = True
        self.thread.join(timeout_s)
        if self.thread.is_alive():
            self.server.force_exit = True
            self.thread.join(5.0)

    def __enter__(self) -> "ServerThread":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


__all__ = ["GracefulServer", "ServerThread", "free_port"]

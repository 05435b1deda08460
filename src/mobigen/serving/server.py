"""Run an app with uvicorn in a background thread (tests, demo, load test) or in the foreground (CLI).

``ServerThread`` binds a free loopback port by default, waits until the server accepts
connections, and on ``stop()`` first tells the ``EdgeService`` to stop accepting and close its open
slot, then lets uvicorn finish in-flight requests (graceful shutdown).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any

import uvicorn

from mobigen.serving.connection_guard import ConnectionLimits, GuardStats, uvicorn_config

logger = logging.getLogger(__name__)


def quiet_multipart_parser() -> None:
    """Log python-multipart's parser at ERROR, not WARNING: it warns once per malformed body ("Expected
    boundary character ...") although the server already answers each one with 400
    ``malformed_multipart`` and counts it (``mobigen_requests_total``), so a hostile client could
    otherwise flood the server's log. Called by the process that owns the server (``mobigen serve``,
    the Ray ingress replica), never at import."""
    logging.getLogger("python_multipart").setLevel(logging.ERROR)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def app_connection_limits(app: Any) -> ConnectionLimits:
    """The connection limits in the app's ``ServerSettings`` (``app.state.settings``), else the defaults."""
    settings = getattr(getattr(app, "state", None), "settings", None)
    return ConnectionLimits.from_settings(settings) if settings is not None else ConnectionLimits()


def _close_intake(app: Any) -> None:
    """Tell the app's ``EdgeService`` (if any) to stop accepting and close its open slot, from any thread."""
    service = getattr(getattr(app, "state", None), "service", None)
    if service is not None:
        service.begin_shutdown_threadsafe()


class GracefulServer(uvicorn.Server):
    """uvicorn server that, on a shutdown signal, first closes the edge service's intake."""

    def handle_exit(self, sig: int, frame: Any) -> None:  # noqa: ANN401
        if not self.should_exit:
            _close_intake(self.config.app)
        super().handle_exit(sig, frame)


class ServerThread:
    """uvicorn in a daemon thread; use as a context manager.

    With ``port=None`` uvicorn binds port 0 and ``port`` is read back from the bound socket once the
    server has started, so no other process can take the port between choosing and binding it."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int | None = None, *,
                 graceful_timeout_s: float = 30.0, log_level: str = "warning",
                 limits: ConnectionLimits | None = None) -> None:
        self.app = app
        self.host = host
        self.port = int(port or 0)
        self.limits = limits or app_connection_limits(app)
        self.guard_stats = GuardStats()
        config = uvicorn_config(app, host, self.port, limits=self.limits, stats=self.guard_stats,
                                log_level=log_level, timeout_graceful_shutdown=graceful_timeout_s)
        self.server = GracefulServer(config)
        self.thread = threading.Thread(target=self.server.run, name="mobigen-uvicorn", daemon=True)

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
                self.stop(timeout_s=5.0)
                raise TimeoutError(f"server did not start within {timeout_s} s")
            time.sleep(0.01)
        if self.port == 0:
            self.port = int(self.server.servers[0].sockets[0].getsockname()[1])
        return self

    def stop(self, timeout_s: float = 60.0) -> None:
        """Graceful stop: close intake, finish in-flight requests, run the app's shutdown."""
        _close_intake(self.app)
        self.server.should_exit = True
        self.thread.join(timeout_s)
        if self.thread.is_alive():
            self.server.force_exit = True
            self.thread.join(5.0)
        if self.thread.is_alive():
            logger.warning("the server thread did not stop within %.0f s", timeout_s + 5.0)

    def __enter__(self) -> "ServerThread":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


__all__ = ["GracefulServer", "ServerThread", "app_connection_limits", "free_port", "quiet_multipart_parser"]

"""Connection-level limits for the edge server: header, body and idle timeouts on top of uvicorn's h11.

uvicorn closes an idle *kept-alive* connection after ``timeout_keep_alive``, but it has no deadline for
a client that opens a connection and sends nothing, sends half a request head, or declares a body and
then stalls (slowloris). Each of those holds a socket and, for a stalled body, an application task
forever. ``guarded_protocol(limits)`` returns an ``H11Protocol`` subclass that adds, per connection:

1. a **header deadline**: the request head must be complete within ``header_timeout_s`` of the
   connection opening (or of the previous response finishing on a kept-alive connection);
2. a **body idle timeout**: while a request body is being received, at most ``body_idle_timeout_s``
   may pass without a byte (unless uvicorn itself paused reading because the app is busy);
3. a **send stall timeout**: once the reply fills the socket (the transport paused writing because
   the client does not read), it must take bytes again within ``send_stall_timeout_s``, else the
   connection is aborted (its buffered bytes dropped: a client that never reads would otherwise hold
   its connection, its task and its reply forever, and enough of them would exhaust
   ``max_connections``: a slow-read attack). The app's send then returns as for any disconnect, and
   the edge notes the reply as undelivered (``EdgeService.note_undelivered``);
4. a cap on the request head's size (h11's ``max_incomplete_event_size``) and on open connections
   (uvicorn's ``limit_concurrency``: beyond it, 503).

A timed-out connection is closed; an application waiting on its body then sees ``http.disconnect``,
so the app counts it as a disconnect, never as an internal error. Other connections are unaffected.
Why not a reverse proxy: the edge must be safe to expose as it is started by ``mobigen serve``; the
timeouts mirror nginx's ``client_header_timeout`` / ``client_body_timeout`` / ``send_timeout``.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from dataclasses import dataclass
from typing import Any

try:  # POSIX: the kernel's send queue of a socket (see _kernel_unsent)
    import fcntl
    import termios

    _SIOCOUTQ: int | None = termios.TIOCOUTQ
except (ImportError, AttributeError):  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]
    _SIOCOUTQ = None

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConnectionLimits:
    """Per-connection limits of the edge server's HTTP layer."""

    header_timeout_s: float = 10.0
    """Time a client has to send a complete request head, from connect or from the previous response (s)."""
    body_idle_timeout_s: float = 10.0
    """Longest pause between two received bytes of a request body (s)."""
    keep_alive_s: float = 5.0
    """An idle kept-alive connection is closed after this long (uvicorn's timeout_keep_alive) (s)."""
    send_stall_timeout_s: float = 60.0
    """Longest time a reply may wait for a client that stopped reading (writing paused) (s)."""
    max_header_bytes: int = 32_768
    """Largest request head (request line + headers) accepted; larger gets 400 (bytes)."""
    max_connections: int = 1000
    """Open connections (and tasks) beyond which new requests get 503 (uvicorn's limit_concurrency)."""

    def __post_init__(self) -> None:
        for name in ("header_timeout_s", "body_idle_timeout_s", "keep_alive_s", "send_stall_timeout_s"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and v > 0 and v < 86_400):
                raise ValueError(f"connection limit '{name}' must be a positive number of seconds below one day, got {v!r}")
        for name in ("max_header_bytes", "max_connections"):
            v = getattr(self, name)
            if not (isinstance(v, int) and v >= 1):
                raise ValueError(f"connection limit '{name}' must be a positive integer, got {v!r}")

    @classmethod
    def from_settings(cls, settings: Any) -> "ConnectionLimits":
        """The limits held by a ``ServerSettings`` (fields of the same names), defaults where absent."""
        names = ("header_timeout_s", "body_idle_timeout_s", "keep_alive_s", "send_stall_timeout_s", "max_header_bytes",
                 "max_connections")
        return cls(**{n: getattr(settings, n) for n in names if getattr(settings, n, None) is not None})


class GuardStats:
    """Counts of connections closed by the guard (read by tests and by the app's metrics)."""

    def __init__(self) -> None:
        self.header_timeouts = 0
        self.body_timeouts = 0
        self.send_timeouts = 0
        """Connections aborted because the client stopped reading its reply (point 3)."""


def _kernel_unsent(transport: asyncio.BaseTransport) -> int:
    """Bytes in the socket's kernel send queue not yet acknowledged by the peer (Linux's SIOCOUTQ,
    the same request number as TIOCOUTQ); 0 where that is unavailable."""
    sock = transport.get_extra_info("socket")
    if sock is None or _SIOCOUTQ is None:
        return 0
    try:
        return struct.unpack("i", fcntl.ioctl(sock.fileno(), _SIOCOUTQ, b"\0\0\0\0"))[0]
    except OSError:
        return 0


def guarded_protocol(limits: ConnectionLimits, stats: GuardStats | None = None) -> type[H11Protocol]:
    """An ``H11Protocol`` subclass enforcing ``limits`` (see the module docstring)."""
    counts = stats if stats is not None else GuardStats()

    class GuardedH11Protocol(H11Protocol):
        guard_limits = limits
        guard_stats = counts

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._guard_timer: asyncio.TimerHandle | None = None
            self._send_timer: asyncio.TimerHandle | None = None

        # --- timers -------------------------------------------------------------------------------
        def _guard_cancel(self) -> None:
            if self._guard_timer is not None:
                self._guard_timer.cancel()
                self._guard_timer = None

        def _guard_arm(self, delay_s: float, phase: str) -> None:
            self._guard_cancel()
            self._guard_timer = self.loop.call_later(delay_s, self._guard_expired, phase)

        def _guard_expired(self, phase: str) -> None:
            self._guard_timer = None
            if self.transport is None or self.transport.is_closing():
                return
            if phase == "body" and self.flow is not None and self.flow.read_paused:
                # uvicorn stopped reading because the app has not consumed the body yet: not the client's fault.
                self._guard_arm(limits.body_idle_timeout_s, "body")
                return
            if phase == "header":
                counts.header_timeouts += 1
                what = f"no complete request head within {limits.header_timeout_s:g} s"
            else:
                counts.body_timeouts += 1
                what = f"request body stalled for {limits.body_idle_timeout_s:g} s"
            client = "%s:%d" % self.client if self.client else "client"
            logger.info("closing connection from %s: %s", client, what)
            self.transport.close()

        def _guard_update(self) -> None:
            """Arm the timer that fits the connection's state after the bytes just handled."""
            state = self.conn.their_state
            if state is h11.SEND_BODY:
                self._guard_arm(limits.body_idle_timeout_s, "body")
            elif state is h11.IDLE and self.cycle is None:
                if self._guard_timer is None:
                    self._guard_arm(limits.header_timeout_s, "header")
            elif state is h11.IDLE:
                pass  # a head is being received after a kept-alive response: armed in on_response_complete
            else:
                self._guard_cancel()  # request fully received (or connection closing): the app has it

        # --- uvicorn protocol hooks ---------------------------------------------------------------
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._guard_arm(limits.header_timeout_s, "header")

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if not self.transport.is_closing():
                self._guard_update()

        def on_response_complete(self) -> None:
            super().on_response_complete()  # may start a pipelined request's cycle
            if self.transport.is_closing():
                return
            if self.conn.their_state is h11.IDLE:
                self._guard_arm(limits.header_timeout_s, "header")  # the next head has a fresh deadline
            else:
                self._guard_update()

        def pause_writing(self) -> None:  # the socket is full: is the client still reading? (point 3)
            super().pause_writing()
            if self._send_timer is None:
                self._send_arm()

        def resume_writing(self) -> None:
            self._send_cancel()
            super().resume_writing()

        def _send_arm(self) -> None:
            self._send_timer = self.loop.call_later(limits.send_stall_timeout_s, self._send_check, self._unsent())

        def _unsent(self) -> int:
            """Reply bytes the client has not taken yet: the transport's buffer plus the kernel's send
            queue (SIOCOUTQ, where the platform has it). The transport's buffer alone moves in coarse
            steps: the kernel reports a socket writable only once a third of its (often megabytes
            large) send buffer is free, so a client that reads steadily can leave it unchanged for a
            while."""
            return self.transport.get_write_buffer_size() + _kernel_unsent(self.transport)

        def _send_cancel(self) -> None:
            if self._send_timer is not None:
                self._send_timer.cancel()
                self._send_timer = None

        def _send_check(self, buffered_then: int) -> None:
            """The stall timer: abort unless the client took some bytes since it was armed (like nginx's
            ``send_timeout``, a limit on the time between two successful writes, not on the whole reply)."""
            self._send_timer = None
            if self.transport is None or self.flow is None or not self.flow.write_paused:
                return  # gone, or writing resumed in the meantime
            if self._unsent() < buffered_then:
                self._send_arm()  # slow but moving: a fresh period
                return
            counts.send_timeouts += 1
            client = "%s:%d" % self.client if self.client else "client"
            logger.info("aborting connection from %s: it has not read its reply for %g s", client,
                        limits.send_stall_timeout_s)
            self.transport.abort()  # close() would wait to flush bytes the client never reads

        def connection_lost(self, exc: Exception | None) -> None:
            self._guard_cancel()
            self._send_cancel()
            super().connection_lost(exc)

    return GuardedH11Protocol


def uvicorn_config(app: Any, host: str, port: int, *, limits: ConnectionLimits | None = None,
                   stats: GuardStats | None = None, **kwargs: Any) -> uvicorn.Config:
    """The one ``uvicorn.Config`` of the edge server (foreground CLI and ``ServerThread`` alike)."""
    lim = limits or ConnectionLimits()
    kwargs.setdefault("access_log", False)
    kwargs.setdefault("lifespan", "on")
    return uvicorn.Config(
        app, host=host, port=port, http=guarded_protocol(lim, stats),
        timeout_keep_alive=lim.keep_alive_s, h11_max_incomplete_event_size=lim.max_header_bytes,
        limit_concurrency=lim.max_connections, **kwargs,
    )


__all__ = ["ConnectionLimits", "GuardStats", "guarded_protocol", "uvicorn_config"]

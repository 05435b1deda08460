"""Per-client bandwidth shaping: a token bucket that paces a byte stream at B bits per second.

The system model charges D / B seconds to move D bytes (eq. 2's uplink term, eqs. 6/7's downlink
term). ``TokenBucket`` enforces exactly that: it starts empty (burst = one chunk at most) and
schedules each chunk at ``t0 + 8·sent / B``, computing the schedule from the start rather than
sleeping a fixed amount per chunk, so sleep overshoot does not accumulate. The uplink is paced by
the client (``shaped_chunks`` feeds the request body), the downlink by the server (the reply is a
paced stream), so both sides of a loopback connection see the scenario's rates.

This in-app pacing is the fallback: where the kernel shapes the link (``serving.netns``: ``tc tbf``
on a veth pair between two network namespaces), the client runs with ``shape_uplink=False`` and the
server with ``shape_downlink=False`` so that nothing is paced twice. The clock and the sleep are
injectable (``clock=``, ``sleep=``) so the schedule can be tested without wall-clock timing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

DEFAULT_CHUNK = 4096
"""Bytes per paced chunk (a 4 KB chunk takes 1.6 ms at 20 Mbps)."""


def bits_per_second(mbps: float) -> float:
    """Mbps (10^6 bit/s, scenario units) to bit/s."""
    return float(mbps) * 1e6


class TokenBucket:
    """Paces ``consume(n)`` calls so that bytes flow at ``rate_bps`` bits/s on average."""

    def __init__(self, rate_bps: float, *, burst_bytes: int = 0, clock: Callable[[], float] | None = None,
                 sleep: Callable[[float], None] | None = None,
                 async_sleep: Callable[[float], Awaitable[None]] | None = None) -> None:
        if not rate_bps > 0:
            raise ValueError(f"field 'rate_bps' must be > 0, got {rate_bps}")
        if burst_bytes < 0:
            raise ValueError(f"field 'burst_bytes' must be >= 0, got {burst_bytes}")
        self.rate_bps = float(rate_bps)
        self.burst_bytes = int(burst_bytes)
        self._clock = clock or time.perf_counter
        self._sleep = sleep or time.sleep
        self._async_sleep = async_sleep or asyncio.sleep
        self._t0: float | None = None
        self._sent = 0

    def delay_for(self, nbytes: int) -> float:
        """Seconds to wait before ``nbytes`` more may go (and account for them)."""
        now = self._clock()
        if self._t0 is None:
            self._t0 = now
        self._sent += nbytes
        due = self._t0 + 8.0 * max(0, self._sent - self.burst_bytes) / self.rate_bps
        return max(0.0, due - now)

    async def consume(self, nbytes: int) -> None:
        """Wait (asyncio) until ``nbytes`` more may be sent."""
        d = self.delay_for(nbytes)
        if d > 0:
            await self._async_sleep(d)

    def consume_sync(self, nbytes: int) -> None:
        """Wait (blocking) until ``nbytes`` more may be sent."""
        d = self.delay_for(nbytes)
        if d > 0:
            self._sleep(d)


def _chunks(data: bytes, chunk: int) -> Iterator[bytes]:
    if chunk < 1:
        raise ValueError(f"field 'chunk' must be >= 1, got {chunk}")
    view = memoryview(data)
    for i in range(0, len(data), chunk):
        yield bytes(view[i : i + chunk])


async def shaped_chunks(data: bytes, rate_bps: float | None, *, chunk: int = DEFAULT_CHUNK,
                        clock: Callable[[], float] | None = None,
                        sleep: Callable[[float], Awaitable[None]] | None = None) -> AsyncIterator[bytes]:
    """Yield ``data`` in chunks, each released when the bucket allows (no pacing if ``rate_bps`` is None);
    ``clock`` and the coroutine ``sleep`` default to time.perf_counter and asyncio.sleep."""
    bucket = TokenBucket(rate_bps, clock=clock, async_sleep=sleep) if rate_bps else None
    for piece in _chunks(data, chunk):
        if bucket is not None:
            await bucket.consume(len(piece))
        yield piece


def shaped_chunks_sync(data: bytes, rate_bps: float | None, *, chunk: int = DEFAULT_CHUNK,
                       clock: Callable[[], float] | None = None,
                       sleep: Callable[[float], None] | None = None) -> Iterator[bytes]:
    """Blocking twin of ``shaped_chunks`` for synchronous HTTP clients (``clock``/``sleep``: see TokenBucket)."""
    bucket = TokenBucket(rate_bps, clock=clock, sleep=sleep) if rate_bps else None
    for piece in _chunks(data, chunk):
        if bucket is not None:
            bucket.consume_sync(len(piece))
        yield piece


__all__ = ["DEFAULT_CHUNK", "TokenBucket", "bits_per_second", "shaped_chunks", "shaped_chunks_sync"]

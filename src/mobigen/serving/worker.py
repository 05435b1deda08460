"""The edge's one denoising worker: a single thread fed by a FIFO queue, off the event loop.

All edge denoising (the first ⌊o_k T_k⌋ steps, and take-overs of a device's remaining steps after
a missed deadline) runs here, one job at a time, so the GPU/CPU sees one stream of work as in the
paper's single edge server. ``submit(fn)`` returns an ``asyncio.Future`` resolved on the event
loop with ``JobResult(value, wait_s, run_s)``. At shutdown, ``close(finish=...)`` either finishes
the queued jobs or refuses them with ``WorkerClosed``, so every job ends with a clear outcome.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)


class WorkerClosed(RuntimeError):
    """The worker refused a job because the server is shutting down."""


@dataclass(frozen=True)
class JobResult:
    """What a finished job returns."""

    value: Any
    """The function's return value."""
    wait_s: float
    """Time the job waited in the queue behind other jobs (s)."""
    run_s: float
    """Time the job ran (s)."""


@dataclass
class _Job:
    fn: Callable[[], Any]
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop
    t_enqueue: float


_STOP = object()


class DenoiseWorker:
    """One background thread running submitted callables in FIFO order."""

    def __init__(self, name: str = "mobigen-edge-worker") -> None:
        self._queue: queue.Queue = queue.Queue()
        self._closed = False
        self._refusing = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        self.busy = False

    @property
    def closed(self) -> bool:
        """True once ``close`` was called (new jobs are refused)."""
        return self._closed

    @property
    def queued(self) -> int:
        """Jobs waiting (not counting the running one)."""
        return self._queue.qsize()

    def submit(self, fn: Callable[[], Any]) -> asyncio.Future:
        """Queue ``fn``; the returned future (on the running loop) resolves to a ``JobResult``."""
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        with self._lock:
            if self._closed:
                fut.set_exception(WorkerClosed("refused: the edge worker is shutting down"))
                return fut
            self._queue.put(_Job(fn, fut, loop, time.perf_counter()))
        return fut

    @staticmethod
    def _resolve(job: _Job, result: Any = None, exc: BaseException | None = None) -> None:
        def done() -> None:
            if job.future.done():
                return
            if exc is not None:
                job.future.set_exception(exc)
            else:
                job.future.set_result(result)

        try:
            job.loop.call_soon_threadsafe(done)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            pass

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is _STOP:
                return
            if self._refusing:
                self._resolve(job, exc=WorkerClosed("refused: the server shut down before this job ran"))
                continue
            t0 = time.perf_counter()
            self.busy = True
            try:
                value = job.fn()
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting request
                logger.exception("edge job failed")
                self._resolve(job, exc=exc)
            else:
                t1 = time.perf_counter()
                self._resolve(job, JobResult(value=value, wait_s=t0 - job.t_enqueue, run_s=t1 - t0))
            finally:
                self.busy = False

    def close(self, *, finish: bool = True, timeout_s: float | None = None) -> None:
        """Stop accepting jobs; finish the queued ones (``finish``) or refuse them; join the thread.

        If ``timeout_s`` passes before the queue drains, the remaining jobs are refused.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if not finish:
                self._refusing = True
            self._queue.put(_STOP)
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            self._refusing = True  # whatever is still queued is refused once the running job ends
            self._thread.join()


__all__ = ["DenoiseWorker", "JobResult", "WorkerClosed"]

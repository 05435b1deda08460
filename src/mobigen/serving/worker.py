"""The edge's one denoising worker: a single thread fed by a FIFO queue, off the event loop.

All edge denoising (the first ⌊o_k T_k⌋ steps, and take-overs of a device's remaining steps after
a missed deadline) runs here, one job at a time, so the GPU/CPU sees one stream of work as in the
paper's single edge server. With ``max_batch > 1`` the edge shares that ``EdgeService`` submits as
``batched_worker.EdgeStepJob`` s run in continuous batches instead (one denoiser forward per step for
up to ``max_batch`` users, issue 14); everything else still runs one job at a time, in queue order,
between two batched steps. ``submit(fn)`` returns an ``asyncio.Future`` resolved on the event
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


class WorkerDied(RuntimeError):
    """A worker replica died (or lost its device) while it held a job: the job may be run again on
    another replica (``serving.pool``). A job raising it stops its ``DenoiseWorker``: the jobs still
    queued there are refused (``WorkerClosed``), as a dead replica runs nothing more."""


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

    def __init__(self, name: str = "mobigen-edge-worker", *, max_batch: int = 1) -> None:
        from mobigen.serving.batched_worker import BatchedEdgeRunner

        self._batch = BatchedEdgeRunner(max_batch) if max_batch > 1 else None
        """Continuous batching of edge shares (``batched_worker``), or None: one job after another."""
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
    def batch_runner(self) -> Any:
        """The ``batched_worker.BatchedEdgeRunner`` of this worker (its counters), or None when it
        runs one job after another (``max_batch`` = 1)."""
        return self._batch

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
        while not self._run_item(self._queue.get(), batch=True):
            pass

    def _run_item(self, job: Any, *, batch: bool = False) -> bool:
        """Run one queued item (an edge share starts a continuous batch when ``batch`` and batching is
        on, see ``batched_worker``); True once the stop sentinel is seen."""
        if job is _STOP:
            return True
        if self._refusing:
            self._resolve(job, exc=WorkerClosed("refused: the server shut down before this job ran"))
            return False
        if batch and self._batch is not None and self._batch.accepts(job):
            self.busy = True
            try:
                return self._batch.run(job, self._poll, self._run_item, self._resolve_timed)
            finally:
                self.busy = False
        self._run_one(job)
        return False

    def _poll(self) -> Any:
        """The next queued item without waiting (None when the queue is empty); refused while refusing."""
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return None
            if job is not _STOP and self._refusing:
                self._resolve(job, exc=WorkerClosed("refused: the server shut down before this job ran"))
                continue
            return job

    def _resolve_timed(self, job: _Job, value: Any, exc: BaseException | None, t_start: float, t_end: float) -> None:
        if exc is not None:
            self._resolve(job, exc=exc)
        else:
            self._resolve(job, JobResult(value=value, wait_s=t_start - job.t_enqueue, run_s=t_end - t_start))

    def _run_one(self, job: _Job) -> None:
        """Run one job alone (between two batched steps, too)."""
        t0 = time.perf_counter()
        was_busy, self.busy = self.busy, True
        try:
            value = job.fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting request
            logger.exception("edge job failed")
            if isinstance(exc, WorkerDied):  # this replica is gone: it runs nothing more
                self._refusing = True
            self._resolve(job, exc=exc)
        else:
            t1 = time.perf_counter()
            self._resolve(job, JobResult(value=value, wait_s=t0 - job.t_enqueue, run_s=t1 - t0))
        finally:
            self.busy = was_busy

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


__all__ = ["DenoiseWorker", "JobResult", "WorkerClosed", "WorkerDied"]

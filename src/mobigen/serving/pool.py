"""The edge's denoise-worker replicas, behind one interface: ``WorkerPool``.

``EdgeService`` hands every job (``serving.jobs``) to a pool and awaits a ``JobResult``. What a pool
does is the same for every engine and lives here, in ``WorkerPool``:

1. accounting: jobs and denoising steps outstanding, and a running mean of the seconds one step
   takes (for backpressure: ``serving.capacity`` turns them into a wait estimate and Retry-After);
2. faults (issue 14 point 5): a replica that dies while it holds a job (``WorkerDied``) is taken out
   of the pool and the job is run again on another replica, up to ``max_attempts`` in all; a job is
   idempotent (``serving.jobs``), and its one future is resolved once, so no reply is lost or sent
   twice. When no replica is left, the job fails with ``NoLiveWorker`` (a clear 503 for its user).
   A job that raises an ordinary exception is NOT re-run (the same inputs would fail again): its
   request alone fails with the message;
3. shutdown: ``aclose(finish=...)`` finishes the outstanding jobs or refuses them (``WorkerClosed``).

Only the transport differs: ``EmbeddedWorkerPool`` (this module) runs N ``DenoiseWorker`` threads in
this process; ``serving.ray.pool.RayWorkerPool`` calls N Ray Serve replicas through a deployment handle.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import threading
import time
from typing import Any

from mobigen.serving.jobs import Job, WarmUpJob, to_callable
from mobigen.serving.worker import DenoiseWorker, JobResult, WorkerClosed, WorkerDied

logger = logging.getLogger(__name__)


class NoLiveWorker(RuntimeError):
    """Every worker replica died (or the job was re-run ``max_attempts`` times): the job fails."""


class WorkerPool(abc.ABC):
    """Accounting, re-runs after a replica's death and shutdown, common to every transport."""

    def __init__(self, n_workers: int, *, per_replica: int = 1, max_attempts: int | None = None,
                 step_time_s: float | None = None) -> None:
        if n_workers < 1:
            raise ValueError(f"field 'workers' must be >= 1, got {n_workers}")
        if per_replica < 1:
            raise ValueError(f"field 'per_replica' must be >= 1, got {per_replica}")
        self.n_workers = int(n_workers)
        self.per_replica = int(per_replica)
        """Most jobs one replica runs at once (its batch: ``edge_max_batch``) (jobs)."""
        self.max_attempts = int(max_attempts) if max_attempts is not None else self.n_workers + 1
        """Most runs of one job (the first one included) before it fails with ``NoLiveWorker``."""
        if self.max_attempts < 1:
            raise ValueError(f"field 'max_attempts' must be >= 1, got {self.max_attempts}")
        self._outstanding = 0
        self._outstanding_steps = 0
        self._sec_per_step = step_time_s
        self._closed = False
        self._refusing = False
        self._tasks: set[asyncio.Task] = set()
        self.reruns = 0
        """Jobs run again after their replica died (a counter)."""

    # ---- what a transport provides ---------------------------------------------------------------
    @abc.abstractmethod
    async def _run_once(self, job: Job, attempt: int) -> JobResult:
        """Run ``job`` once on one live replica; raise ``WorkerDied`` if that replica died."""

    @property
    @abc.abstractmethod
    def n_live(self) -> int:
        """Replicas that can take jobs now."""

    @property
    @abc.abstractmethod
    def running(self) -> int:
        """Jobs running on a replica right now."""

    async def warm_up(self) -> None:
        """Make every replica ready (weights loaded, first step run) before the first slot."""

    async def _close_transport(self, finish: bool, timeout_s: float | None) -> None:
        """Release the transport's resources (threads, handles)."""

    # ---- shared ------------------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        """True once ``aclose`` began (new jobs are refused)."""
        return self._closed

    @property
    def outstanding(self) -> int:
        """Jobs submitted and not yet finished (waiting or running)."""
        return self._outstanding

    @property
    def queued(self) -> int:
        """Jobs waiting for a replica (not counting the running ones)."""
        return max(0, self._outstanding - self.running)

    @property
    def busy(self) -> bool:
        """A replica is running a job."""
        return self.running > 0

    @property
    def backlog_steps(self) -> int:
        """Denoising steps of the outstanding jobs (steps)."""
        return self._outstanding_steps

    @property
    def seconds_per_step(self) -> float | None:
        """Running mean of one denoising step's time on one replica (s); None before the first job."""
        return self._sec_per_step

    def estimated_wait_s(self, extra_steps: int = 0) -> float | None:
        """Time until the backlog and ``extra_steps`` more steps would be done (s): the steps spread
        over the live replicas, each running as many jobs at once as it holds (up to ``per_replica``)
        at the measured seconds per step of one job (which, batched, is one batched step's time)."""
        if self._sec_per_step is None:
            return None
        live = max(1, self.n_live)
        together = min(float(self.per_replica), max(1.0, self._outstanding / live))
        return (self._outstanding_steps + extra_steps) * self._sec_per_step / (live * together)

    def submit(self, job: Job) -> asyncio.Future:
        """Start ``job``; the returned future (a task on the running loop) resolves to its ``JobResult``."""
        loop = asyncio.get_running_loop()
        if self._closed:
            fut = loop.create_future()
            fut.set_exception(WorkerClosed("refused: the edge workers are shutting down"))
            return fut
        steps = int(getattr(job, "steps", 0))
        self._outstanding += 1
        self._outstanding_steps += steps
        task = loop.create_task(self._run(job, steps))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _run(self, job: Job, steps: int) -> JobResult:
        """Steps 1 and 2 of the module docstring: run, re-run after a replica's death, account."""
        t_submit = time.perf_counter()
        try:
            for attempt in range(1, self.max_attempts + 1):
                if self._refusing:
                    raise WorkerClosed("refused: the server shut down before this job ran")
                if self.n_live == 0:
                    raise NoLiveWorker(f"no live edge worker replica is left (of {self.n_workers}); "
                                       "the job could not be run")
                try:
                    res = await self._run_once(job, attempt)
                except WorkerDied as exc:
                    logger.warning("edge worker replica died running a job of request %s (attempt %d of %d): %s",
                                   getattr(job, "request_id", "?"), attempt, self.max_attempts, exc)
                    if attempt == self.max_attempts:
                        raise NoLiveWorker(f"the job's edge worker replica died {attempt} time(s) "
                                           f"(last: {exc}); giving up") from None
                    self.reruns += 1
                    continue
                self._observe(res, steps)
                return JobResult(value=res.value, wait_s=time.perf_counter() - t_submit - res.run_s, run_s=res.run_s)
            raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises
        finally:
            self._outstanding -= 1
            self._outstanding_steps -= steps

    def _observe(self, res: JobResult, steps: int) -> None:
        if steps <= 0 or res.run_s <= 0:
            return
        s = res.run_s / steps
        self._sec_per_step = s if self._sec_per_step is None else 0.8 * self._sec_per_step + 0.2 * s

    async def aclose(self, *, finish: bool = True, timeout_s: float | None = None) -> None:
        """Stop accepting; finish outstanding jobs (``finish``, within ``timeout_s``) or refuse them."""
        if self._closed:
            return
        self._closed = True
        if not finish:
            self._refusing = True
        await self._close_transport(finish, timeout_s)  # every transport call has now ended or been refused
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=30.0)

    def describe(self) -> dict[str, Any]:
        """What /health shows of the pool."""
        return {"engine": self.engine, "workers": self.n_workers, "live": self.n_live, "outstanding": self.outstanding,
                "backlog_steps": self.backlog_steps, "seconds_per_step": self.seconds_per_step, "reruns": self.reruns}

    engine = "abstract"


class EmbeddedWorkerPool(WorkerPool):
    """N ``DenoiseWorker`` threads in this process, sharing one ``SplitRunner`` (one copy of the weights);
    each batches the edge shares it holds (``max_batch``, ``serving.batched_worker``).

    A job goes to the live worker with the fewest outstanding jobs. A job that raises ``WorkerDied``
    takes its worker out of the pool (the worker is closed; the jobs it still held are re-run on the
    others)."""

    engine = "embedded"

    def __init__(self, runner: Any, n_workers: int = 1, *, max_batch: int = 1, max_attempts: int | None = None) -> None:
        super().__init__(n_workers, per_replica=max_batch, max_attempts=max_attempts)
        self.runner = runner
        self.workers = [DenoiseWorker(name=f"mobigen-edge-worker-{i}", max_batch=max_batch)
                        for i in range(self.n_workers)]
        self._load = [0] * self.n_workers
        self._dead: set[int] = set()

    @property
    def n_live(self) -> int:
        return self.n_workers - len(self._dead)

    @property
    def queued(self) -> int:
        """Jobs waiting in the live workers' queues (a job in a running batch is not waiting)."""
        return sum(w.queued for i, w in enumerate(self.workers) if i not in self._dead)

    @property
    def running(self) -> int:
        return max(0, self.outstanding - self.queued)

    @property
    def busy(self) -> bool:
        return any(w.busy for i, w in enumerate(self.workers) if i not in self._dead)

    def _pick(self) -> int:
        live = [i for i in range(self.n_workers) if i not in self._dead]
        return min(live, key=lambda i: (self._load[i], i))

    def kill(self, index: int, why: str = "killed") -> None:
        """Take worker ``index`` out of the pool (its queued jobs are re-run elsewhere)."""
        if index in self._dead:
            return
        self._dead.add(index)
        logger.warning("edge worker %d taken out of the pool: %s", index, why)
        # its queued jobs are refused (WorkerClosed -> re-run elsewhere); close joins the thread: not on the loop
        threading.Thread(target=self.workers[index].close, kwargs={"finish": False}, daemon=True).start()

    async def _run_once(self, job: Job, attempt: int) -> JobResult:
        i = self._pick()
        w = self.workers[i]
        runner = self.runner
        self._load[i] += 1
        try:
            return await w.submit(to_callable(job, runner))
        except WorkerDied as exc:
            self.kill(i, str(exc))
            raise
        except WorkerClosed as exc:
            if i in self._dead and not self._refusing:  # its worker died while the job was queued there
                raise WorkerDied(f"edge worker {i} died before running the job") from exc
            raise
        finally:
            self._load[i] -= 1

    async def warm_up(self) -> None:
        """Load the weights and run one step once (the runner is shared), before the first slot."""
        if self.runner is not None:
            await self.submit(WarmUpJob())

    def close(self, *, finish: bool = True, timeout_s: float | None = None) -> None:
        """``aclose`` without an event loop (a service that never started): close the threads."""
        self._closed = True
        if not finish:
            self._refusing = True
        for w in self.workers:
            w.close(finish=finish, timeout_s=timeout_s)

    async def _close_transport(self, finish: bool, timeout_s: float | None) -> None:
        await asyncio.gather(*(asyncio.to_thread(w.close, finish=finish, timeout_s=timeout_s) for w in self.workers))


__all__ = ["EmbeddedWorkerPool", "NoLiveWorker", "WorkerDied", "WorkerPool"]

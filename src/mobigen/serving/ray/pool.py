"""``RayWorkerPool``: the edge's denoise workers as Ray Serve replicas, reached through a deployment handle.

Everything but the transport is ``serving.pool.WorkerPool``'s (accounting, re-runs, shutdown). A call
that fails because its replica died or became unreachable (``RayActorError``, ``ActorUnavailableError``,
Serve's ``ReplicaUnavailableError`` / ``DeploymentUnavailableError``) is reported as ``WorkerDied``, so
the job is run again: Serve's router sends it to a live replica (and Serve's controller starts a new
replica in place of the dead one). A job that raised inside its replica arrives as that exception
(a ``RayTaskError`` that is also an instance of the original class) and is not re-run.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from mobigen.serving.jobs import Job
from mobigen.serving.pool import WorkerDied, WorkerPool
from mobigen.serving.worker import JobResult, WorkerClosed

logger = logging.getLogger(__name__)


def _replica_lost_errors() -> tuple[type[BaseException], ...]:
    import ray.exceptions as rex
    import ray.serve.exceptions as sex

    return (rex.RayActorError, rex.ActorUnavailableError, sex.ReplicaUnavailableError,
            sex.DeploymentUnavailableError)


class RayWorkerPool(WorkerPool):
    """N ``DenoiseReplica`` replicas behind one ``DeploymentHandle`` (``handle.run.remote(job)``)."""

    engine = "ray"

    def __init__(self, handle: Any, n_workers: int, *, per_replica: int = 1, max_attempts: int | None = None) -> None:
        super().__init__(n_workers, per_replica=per_replica, max_attempts=max_attempts)
        self.handle = handle
        self._lost = _replica_lost_errors()
        self._calls: set[Any] = set()

    @property
    def n_live(self) -> int:
        """Serve keeps ``n_workers`` replicas running (it replaces a dead one), so this is the target."""
        return self.n_workers

    @property
    def running(self) -> int:
        return min(self.outstanding, self.n_workers * self.per_replica)

    async def warm_up(self) -> None:
        """Nothing: each replica loads its weights and runs one step in its constructor."""

    async def _run_once(self, job: Job, attempt: int) -> JobResult:
        t0 = time.perf_counter()
        resp = self.handle.run.remote(job)
        self._calls.add(resp)
        try:
            value, run_s = await resp
        except self._lost as exc:
            raise WorkerDied(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
        except asyncio.CancelledError:
            resp.cancel()
            raise
        except Exception:
            if self._refusing:  # aclose cancelled the call (RequestCancelledError)
                raise WorkerClosed("refused: the server shut down before this job finished") from None
            raise
        finally:
            self._calls.discard(resp)
        return JobResult(value=value, wait_s=max(0.0, time.perf_counter() - t0 - run_s), run_s=float(run_s))

    async def _close_transport(self, finish: bool, timeout_s: float | None) -> None:
        if finish and self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout_s)
        self._refusing = True
        for resp in list(self._calls):
            resp.cancel()


__all__ = ["RayWorkerPool"]

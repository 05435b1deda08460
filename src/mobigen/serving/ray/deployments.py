"""The two Ray Serve deployments of one edge: ``EdgeIngress`` and ``DenoiseReplica``.

- ``DenoiseReplica`` (``num_replicas = N``): one denoise worker. It builds its own ``SplitRunner``
  from the ``GenerationSpec`` (tiny components from their seed, or a local weights directory that every
  node holds), loads the weights and runs one step in its constructor (so Serve reports it healthy
  only once it is ready), and runs the jobs it holds (``max_ongoing_requests`` = the edge's
  ``edge_max_batch``) on its own ``DenoiseWorker``: edge shares in continuous batches, one denoiser
  forward per step (``serving.batched_worker``), like the embedded engine's worker. Each replica asks for one GPU when the cluster has GPUs, else
  ``cpus_per_worker`` CPUs (and sets torch's threads to match).
- ``EdgeIngress`` (one replica per edge): the FastAPI app of ``serving.app.create_app`` via
  ``serve.ingress``, built inside the replica. Its ``EdgeService`` is this edge's slot scheduler: the
  open slot, the decisions, the request records, budget ledgers and deadlines are the edge's one state,
  so the ingress is not replicated; its worker pool is a ``RayWorkerPool`` over the handle to the
  ``DenoiseReplica`` deployment. In control-plane mode (``denoise='none'``) there is no worker
  deployment.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from ray import serve

from mobigen.serving.jobs import Job, to_callable

logger = logging.getLogger(__name__)


@serve.deployment(max_ongoing_requests=1, ray_actor_options={"num_cpus": 1}, health_check_period_s=2.0,
                  health_check_timeout_s=30.0, graceful_shutdown_timeout_s=30.0)
class DenoiseReplica:
    """One denoise worker replica (module docstring)."""

    def __init__(self, spec: dict[str, Any], torch_threads: int = 1, max_batch: int = 1) -> None:
        import torch

        from mobigen.serving.splitrun import GenerationSpec, SplitRunner
        from mobigen.serving.worker import DenoiseWorker

        if torch_threads > 0:
            torch.set_num_threads(int(torch_threads))
        self.runner = SplitRunner(GenerationSpec(**spec))
        self.worker = DenoiseWorker(name="mobigen-replica-worker", max_batch=int(max_batch))
        """The replica's own worker thread: the jobs it holds at once (up to ``max_batch``, its
        ``max_ongoing_requests``) run in continuous batches (``serving.batched_worker``)."""
        t0 = time.perf_counter()
        self.runner.ensure_ready()
        logger.info("denoise replica %d ready (%s, %.2f s)", os.getpid(), self.runner.spec.label,
                    time.perf_counter() - t0)

    async def run(self, job: Job) -> tuple[Any, float]:
        """Run one job on the replica's worker; returns (its value, run time in s)."""
        res = await self.worker.submit(to_callable(job, self.runner))
        return res.value, res.run_s

    def pid(self) -> int:
        """The replica's process id (tests and operators tell replicas apart by it)."""
        return os.getpid()


@serve.deployment(num_replicas=1, ray_actor_options={"num_cpus": 0}, max_ongoing_requests=2000,
                  max_queued_requests=100, graceful_shutdown_timeout_s=30.0)
@serve.ingress()
class EdgeIngress:
    """The FastAPI ingress of one edge and its slot scheduler (module docstring)."""

    def __init__(self, settings: dict[str, Any], workers: Any = None, n_workers: int = 1,
                 service_kwargs: dict[str, Any] | None = None) -> None:
        from mobigen.serving.settings import ServerSettings

        self.settings = ServerSettings(**settings)
        self.workers = workers
        self.n_workers = int(n_workers)
        self.service_kwargs = dict(service_kwargs or {})

    def __serve_build_asgi_app__(self) -> Any:  # noqa: N807 - Serve's hook name
        from mobigen.serving.app import create_app
        from mobigen.serving.edge import EdgeService
        from mobigen.serving.ray.pool import RayWorkerPool
        from mobigen.serving.server import quiet_multipart_parser

        quiet_multipart_parser()  # this replica's process serves the edge: see its docstring

        pool = (RayWorkerPool(self.workers, self.n_workers, per_replica=self.settings.edge_max_batch)
                if self.workers is not None else None)
        svc = EdgeService(self.settings, pool=pool, **self.service_kwargs)
        return create_app(self.settings, service=svc)


__all__ = ["DenoiseReplica", "EdgeIngress"]

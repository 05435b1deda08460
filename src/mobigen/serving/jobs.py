"""The edge's denoising work as plain data: what a worker replica is asked to run.

A job is a frozen dataclass holding only bytes, strings and integers, so the same job runs in a
thread of this process (``serving.pool.EmbeddedWorkerPool``) or is sent to a Ray Serve replica on
another machine (``serving.ray``): the transport differs, the work does not. ``to_callable(job, runner)``
turns a job into what a ``DenoiseWorker`` runs on a ``SplitRunner`` (``run_job`` runs it at once):

- ``EdgeJob``: the first ⌊o_k T_k⌋ steps of one request (eq. 4), or all T_k steps and the image when
  e_k = T_k (eq. 7); returns ``(kind, wire bytes)``;
- ``TakeOverJob``: the device missed its deadline (or reported it could not finish): the edge runs
  the remaining T_k − e_k steps from the latent it sent (eq. 5 on the edge) and returns the image's
  wire bytes;
- ``WarmUpJob``: load the weights and run one step once, before the first slot.

A job is idempotent (the seed and the inputs fix its result), so a job whose replica died can be run
again on another replica without changing the reply (``serving.pool``, issue 14 point 5).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class EdgeJob:
    """The edge's share of one request (steps [0, e) of T)."""

    request_id: str
    """The request this job serves (logs and fault reports)."""
    prompt: str
    """The text prompt."""
    condition_data: bytes
    """The uploaded condition bytes (decoded by the worker, exactly as the device decodes its own)."""
    condition_type: str
    """λ: the condition type ('canny', 'depth', ...)."""
    seed: int
    """Generation seed (the device uses the same one)."""
    total_steps: int
    """T_k (steps)."""
    edge_steps: int
    """e_k = ⌊o_k T_k⌋ run on the edge (steps)."""

    @property
    def steps(self) -> int:
        """Denoising steps this job runs (steps)."""
        return self.edge_steps


@dataclass(frozen=True)
class TakeOverJob:
    """The remaining T_k − e_k steps of a request whose device did not finish, run on the edge."""

    request_id: str
    """The request this job serves."""
    prompt: str
    """The text prompt."""
    condition_data: bytes
    """The uploaded condition bytes."""
    seed: int
    """Generation seed."""
    total_steps: int
    """T_k (steps)."""
    edge_steps: int
    """e_k already run on the edge (steps)."""
    latent_payload: bytes
    """The wire latent the edge sent to the device after its e_k steps."""

    @property
    def steps(self) -> int:
        """Denoising steps this job runs (steps)."""
        return self.total_steps - self.edge_steps


@dataclass(frozen=True)
class WarmUpJob:
    """Load the weights and run one step + decode once (``SplitRunner.ensure_ready``)."""

    @property
    def steps(self) -> int:
        """Counted as 0 steps: its time (weights loading, kernel selection) says nothing of a step's (steps)."""
        return 0


Job = EdgeJob | TakeOverJob | WarmUpJob
"""Anything a worker replica runs."""


def to_callable(job: Job, runner: Any) -> Any:
    """``job`` as the zero-argument callable a ``DenoiseWorker`` runs on ``runner`` (a ``SplitRunner``).

    An ``EdgeJob`` becomes a ``batched_worker.EdgeStepJob``, so a worker with ``max_batch > 1`` runs
    the edge shares of several users in one batched denoiser forward per step."""
    import functools

    from mobigen.serving.batched_worker import EdgeStepJob

    if isinstance(job, WarmUpJob):
        return runner.ensure_ready
    if isinstance(job, EdgeJob):
        return EdgeStepJob(runner, job.prompt, job.condition_data, job.condition_type, job.seed, job.total_steps,
                           job.edge_steps)
    if isinstance(job, TakeOverJob):
        return functools.partial(_run_take_over, job, runner)
    raise TypeError(f"field 'job': unknown job type {type(job).__name__}")


def run_job(job: Job, runner: Any) -> Any:
    """Execute ``job`` on ``runner`` (a ``serving.splitrun.SplitRunner``) alone and return its value."""
    return to_callable(job, runner)()


def _run_take_over(job: TakeOverJob, runner: Any) -> bytes:
    from mobigen.conditions import codec
    from mobigen.generation import wire

    p = wire.decode_payload(job.latent_payload)
    digest = runner.request_digest(prompt=job.prompt, condition_bytes=job.condition_data, seed=job.seed,
                                   total_steps=job.total_steps, edge_steps=job.edge_steps)
    img = runner.finish(p, prompt=job.prompt, condition_rgb=codec.decode(job.condition_data), expected_digest=digest)
    return wire.encode_image(img, total_steps=p.total_steps, seed=p.seed, condition_type=p.condition_type,
                             scheduler_config=p.scheduler_config, fmt=runner.spec.image_format)


__all__ = ["EdgeJob", "Job", "TakeOverJob", "WarmUpJob", "run_job", "to_callable"]

"""The edge worker's batched path (issue 14, point 1): continuous batching of edge shares.

``EdgeService`` submits each request's edge share as an :class:`EdgeStepJob`. Called on its own, the
job runs exactly as before (``SplitRunner.run_edge``: one user's ⌊o_k T_k⌋ steps, then the wire
message). A worker with ``max_batch > 1`` instead hands its jobs to :class:`BatchedEdgeRunner`, which
keeps a :class:`mobigen.generation.batched.BatchedDenoiser`: every queued edge share joins the batch
between two steps (up to ``max_batch`` users; the rest wait in arrival order and join as others
leave), each batched step runs one denoiser forward for all of them, and a user's reply is built and
resolved the moment its own edge steps are done. Other jobs (warm-up, take-overs) run between two
batched steps, in their queue order. Only the transport of a job (this module and ``worker.py``)
knows about batching; the numbers are ``generation.batched``'s.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from mobigen.serving.splitrun import SplitRunner, condition_for_generation

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EdgeStepJob:
    """One request's edge share: steps [0, edge_steps) of its total_steps schedule, then its reply."""

    runner: SplitRunner
    """Whose components run it (one per server)."""
    prompt: str
    """The request's prompt."""
    condition_data: bytes
    """The uploaded condition bytes (decoded here, exactly as the device decodes its own copy)."""
    condition_type: str
    """Which ControlNet conditions it."""
    seed: int
    """Seed of z_T."""
    total_steps: int
    """T_k (steps)."""
    edge_steps: int
    """e_k = ⌊o_k T_k⌋ (steps)."""

    def __call__(self) -> tuple[str, bytes]:
        """The unbatched run: ``SplitRunner.run_edge`` (kind, wire bytes)."""
        from mobigen.conditions import codec

        rgb = codec.decode(self.condition_data)
        return self.runner.run_edge(prompt=self.prompt, condition_rgb=rgb, condition_type=self.condition_type,
                                    seed=self.seed, total_steps=self.total_steps, edge_steps=self.edge_steps,
                                    condition_bytes=self.condition_data)

    @property
    def batchable(self) -> bool:
        """Whether the batched path can run it: a UNet family and at least one edge step."""
        from mobigen.generation.components import FLOW_FAMILIES

        components = getattr(self.runner, "components", None)  # a runner without components runs serially
        return self.edge_steps > 0 and components is not None and components.family not in FLOW_FAMILIES

    def member(self) -> Any:
        """The job's slice for ``BatchedDenoiser.add``: the inputs ``generation.split.edge_run`` builds."""
        from mobigen.conditions import codec
        from mobigen.generation.batched import MemberSpec
        from mobigen.generation.denoise import encode_prompt, initial_latents, prepare_condition

        if not 0 <= self.edge_steps <= self.total_steps:
            raise ValueError(f"field 'edge_steps' must lie in 0..{self.total_steps}, got {self.edge_steps}")
        c = self.runner.components
        rgb = condition_for_generation(codec.decode(self.condition_data), self.runner.spec.image_size)
        cond = prepare_condition(c, np.asarray(rgb))
        return MemberSpec(latents=initial_latents(c, self.seed, cond.shape[2], cond.shape[3]), start=0,
                          end=self.edge_steps, total_steps=self.total_steps, embeddings=encode_prompt(c, self.prompt),
                          condition_image=cond, condition_type=self.condition_type)

    def reply(self, z: Any) -> tuple[str, bytes]:
        """(kind, wire bytes) after the edge steps: the latent (eq. 6) or, when e_k = T_k, the image (eq. 7)."""
        from mobigen.generation.split import edge_message

        digest = self.runner.request_digest(prompt=self.prompt, condition_bytes=self.condition_data, seed=self.seed,
                                            total_steps=self.total_steps, edge_steps=self.edge_steps)
        spec = self.runner.spec
        data = edge_message(self.runner.components, z, condition_type=self.condition_type, seed=self.seed,
                            total_steps=self.total_steps, edge_steps=self.edge_steps, latent_mode=spec.wire_mode,
                            image_fmt=spec.image_format, request_digest=digest)
        return ("image" if self.edge_steps == self.total_steps else "latent"), data


#: resolve(job, value, exc, t_join, t_done): hand a job's outcome to whoever awaits it.
Resolve = Callable[[Any, Any, BaseException | None, float, float], None]


class BatchedEdgeRunner:
    """Continuous batching of queued :class:`EdgeStepJob` s (module docstring) for one worker thread."""

    def __init__(self, max_batch: int) -> None:
        if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
            raise ValueError(f"max_batch must be a positive integer, got {max_batch!r}")
        self.max_batch = max_batch
        self.steps_run = 0
        """Batched steps run so far (one denoiser forward each)."""
        self.largest_batch = 0
        """The most users one batched step has carried."""

    @staticmethod
    def accepts(job: Any) -> bool:
        """Whether a queued job's callable is an edge share the batch can take."""
        fn = getattr(job, "fn", None)
        return isinstance(fn, EdgeStepJob) and fn.batchable

    def run(self, first: Any, poll: Callable[[], Any], run_other: Callable[[Any], bool], resolve: Resolve) -> bool:
        """Serve ``first`` and every batchable job ``poll()`` yields until the batch is empty.

        ``poll()`` returns the next queued item or None; an item this runner does not take goes to
        ``run_other(item)``, which returns True for the worker's stop sentinel (no more polling: the
        batch finishes and this returns True)."""
        from mobigen.generation.batched import BatchedDenoiser

        engine = BatchedDenoiser(first.fn.runner.components)
        waiting: deque[Any] = deque([first])
        members: dict[int, tuple[Any, float]] = {}  # engine key -> (job, t_join)
        stop = False
        while True:
            while not stop:  # 1. everything queued: edge shares wait for a place, the rest runs now
                item = poll()
                if item is None:
                    break
                if self.accepts(item) and item.fn.runner is first.fn.runner:
                    waiting.append(item)
                else:
                    stop = run_other(item)
            while waiting and len(members) < self.max_batch:  # 2. join between two steps
                job = waiting.popleft()
                t_join = time.perf_counter()
                try:
                    members[engine.add(job.fn.member())] = (job, t_join)
                except Exception as exc:  # noqa: BLE001 - this request alone fails
                    logger.exception("edge job could not join the batch")
                    resolve(job, None, exc, t_join, time.perf_counter())
            if not members:
                return stop
            if not self._step(engine, members, resolve):  # 3. one batched step; 4. finished users leave
                engine = BatchedDenoiser(first.fn.runner.components)  # its members have failed

    def _step(self, engine: Any, members: dict[int, tuple[Any, float]], resolve: Resolve) -> bool:
        """One batched step; the members it finished get their replies. A failing step fails every
        member (each request gets the error) and returns False: the caller starts a fresh batch."""
        self.largest_batch = max(self.largest_batch, len(members))
        try:
            engine.step()
            finished = engine.pop_finished()
        except Exception as exc:  # noqa: BLE001 - handed to every request of the batch
            logger.exception("batched edge step failed")
            now = time.perf_counter()
            for job, t_join in members.values():
                resolve(job, None, exc, t_join, now)
            members.clear()
            return False
        self.steps_run += 1
        for key, z in finished.items():
            job, t_join = members.pop(key)
            try:
                value = job.fn.reply(z)
            except Exception as exc:  # noqa: BLE001
                logger.exception("edge reply failed")
                resolve(job, None, exc, t_join, time.perf_counter())
            else:
                resolve(job, value, None, t_join, time.perf_counter())
        return True


__all__ = ["BatchedEdgeRunner", "EdgeStepJob"]

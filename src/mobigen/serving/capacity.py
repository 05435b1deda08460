"""Backpressure: bounded queues and the time-fit check, before a request joins a slot (issue 14 point 4).

``CapacityGate.check`` runs for every upload after its fields were validated (``serving.admission``)
and before it is recorded. It refuses, never queues without bound:

1. ``overloaded`` (503 + Retry-After): ``queue_limit`` requests are already in flight (waiting for a
   slot, a worker or the device's confirmation);
2. ``edge_queue_full`` (503 + Retry-After): the edge's denoising queue already holds
   ``max_edge_queue`` jobs (outstanding worker jobs + requests waiting in the open slot);
3. ``cannot_fit_budget`` (422): the device cannot run the scenario's fewest steps T_min within its
   own budget C_k (13), and the steps left for the edge exceed a whole slot's edge budget C_E/ε₀
   (12): no slot can ever serve it within its constraints;
4. ``edge_saturated`` (503 + Retry-After): the request needs edge steps (as in 3), the edge has a
   backlog, and that backlog plus its own steps, at the measured seconds per step over the live
   replicas, would keep it waiting longer than ``max_wait_s`` (default the scenario's latency
   threshold L̃, eq. 15): it cannot be served in time, so it is told now instead of being answered
   late. An idle edge never refuses on time alone: on hardware slower than the scenario's model
   (tiny components on a CPU) every request would exceed L̃, and refusing them all helps nobody.

Retry-After is the estimated time until the backlog has drained below the limit (whole seconds, ≥ 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from mobigen.serving.service_error import ServiceError


@dataclass(frozen=True)
class CapacityLimits:
    """The bounds ``CapacityGate`` enforces."""

    queue_limit: int
    """Most requests in flight before new ones get 503 (requests)."""
    max_edge_queue: int
    """Most edge jobs outstanding (worker queue + open slot) before new requests get 503 (jobs)."""
    max_wait_s: float
    """Longest estimated wait for the edge a request that needs edge steps may face (s)."""
    slot_window_s: float
    """The slot window (s): the Retry-After of a refusal when no step time has been measured yet."""
    steps_min: int
    """T_min, the fewest denoising steps of any decision (steps)."""
    eps0_flops: float
    """ε₀: FLOPs of one denoising step (FLOPs)."""
    edge_budget_steps: float
    """C_E/ε₀: a slot's edge budget (steps)."""


def retry_after(seconds: float | None, floor_s: float = 1.0) -> dict[str, str]:
    """The ``Retry-After`` header for a wait of ``seconds`` (whole seconds, at least ``floor_s``)."""
    s = floor_s if seconds is None or not math.isfinite(seconds) else max(floor_s, seconds)
    return {"Retry-After": str(int(math.ceil(s)))}


class CapacityGate:
    """Refuses a request the edge cannot take now (module docstring, checks 1-4)."""

    def __init__(self, limits: CapacityLimits) -> None:
        self.limits = limits

    def required_edge_steps(self, meta: Any) -> int:
        """Edge steps any feasible decision must give this request: T_min minus what the device's
        budget C_k allows it to run itself, eq. (13) (steps; 0 when the device can run T_min alone)."""
        lim = self.limits
        local_max = math.floor(float(meta.device.budget_flops) / lim.eps0_flops + 1e-9)
        return max(0, lim.steps_min - local_max)

    def check(self, meta: Any, *, in_flight: int, pool: Any, slot_pending: int) -> None:
        """Raise ``ServiceError`` (503 with Retry-After, or 422) if the request cannot be taken."""
        lim = self.limits
        wait = pool.estimated_wait_s() if pool is not None else None
        if in_flight >= lim.queue_limit:  # 1
            raise ServiceError(503, "overloaded", f"refused: {in_flight} requests in flight (queue_limit "
                               f"{lim.queue_limit}); retry later", headers=retry_after(wait or lim.slot_window_s))
        if pool is None:  # control plane only: no edge work, nothing more to bound
            return
        queued = pool.outstanding + slot_pending
        if queued >= lim.max_edge_queue:  # 2
            raise ServiceError(503, "edge_queue_full", f"refused: the edge's denoising queue holds {queued} jobs "
                               f"(max_edge_queue {lim.max_edge_queue}); retry later", headers=retry_after(wait))
        need = self.required_edge_steps(meta)
        if need == 0:
            return
        if need > lim.edge_budget_steps + 1e-9:  # 3
            raise ServiceError(422, "cannot_fit_budget",
                               f"field 'meta.device.budget_flops': the device's budget allows "
                               f"{lim.steps_min - need} of the {lim.steps_min} fewest steps (T_min), and the "
                               f"{need} left exceed a whole slot's edge budget C_E/ε₀ = {lim.edge_budget_steps:g} "
                               "steps (12): no slot can serve this request")
        if pool.backlog_steps <= 0:
            return  # 4 needs work ahead of it: an idle edge serves it at its own pace, however slow the hardware
        eta = pool.estimated_wait_s(extra_steps=need)
        if eta is not None and eta > lim.max_wait_s:  # 4
            raise ServiceError(503, "edge_saturated",
                               f"refused: this request needs at least {need} edge steps (its device budget covers "
                               f"{lim.steps_min - need} of T_min = {lim.steps_min}) and the edge's backlog of "
                               f"{pool.backlog_steps} steps on {pool.n_live} worker(s) would delay them "
                               f"~{eta:.2f} s, past the {lim.max_wait_s:g} s it may wait "
                               "(the latency threshold L̃ unless set); retry later",
                               headers=retry_after(eta - lim.max_wait_s))


__all__ = ["CapacityGate", "CapacityLimits", "retry_after"]

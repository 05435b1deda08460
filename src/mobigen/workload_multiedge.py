"""The M-edge workload: one slot of K users and their links to every edge site (issue 11).

``MultiEdgeSampler`` wraps ``workload.SlotSampler`` (the users' requests, ν_k, quality tables are
drawn exactly as there) and adds the links of ``system.multiedge``'s channel model:
B↑_km = s↑_m · U(uplink range), B↓_km = s↓_m · U(downlink range), independent per user, edge and slot.
Edge 0's links are the one-edge sampler's own draws; the other M − 1 edges' links are drawn first,
from the same generator, only when M > 1 — so with one edge (and s = 1) the slot stream is exactly
``SlotSampler``'s. VCE chooses ν_k with the user's best uplink max_m B↑_km (``system.multiedge``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from mobigen.scenario import Scenario, resolve
from mobigen.system.multiedge import MultiEdgeSlot, edge_params, edge_specs
from mobigen.workload import Request, SlotSampler


class MultiEdgeSampler:
    """Draws ``MultiEdgeSlot`` objects for a scenario with ``edges`` (or one edge)."""

    def __init__(self, scenario: Scenario | str, **sampler_kw: Any) -> None:
        sc = resolve(scenario)
        self.scenario = sc
        self.base = SlotSampler(sc, **sampler_kw)
        specs = edge_specs(sc)
        self.edges = edge_params(sc)
        self.up_scale = np.array([e.uplink_scale for e in specs])
        self.down_scale = np.array([e.downlink_scale for e in specs])
        self._inner = self.base.chooser
        self.base.chooser = self._choose  # sees the best uplink (module docstring)
        self._best_up: np.ndarray | None = None
        self._k = 0

    @property
    def M(self) -> int:
        """Number of edge sites."""
        return len(self.edges)

    def _choose(self, w: float, q: float, b: float, f: float, rng: np.random.Generator):  # noqa: ANN202
        best = self.up_scale[0] * b
        if self._best_up is not None:
            best = max(best, float(self._best_up[self._k]))
        self._k += 1
        return self._inner(w, q, best, f, rng)

    def _extra_links(self, rng: np.random.Generator, K: int) -> tuple[np.ndarray, np.ndarray]:
        """B↑/B↓ of edges 1..M−1 (bits/s), shape (K, M − 1)."""
        sc, n = self.scenario, self.M - 1
        up = rng.uniform(*sc.uplink_mbps_range, size=(K, n)) * 1e6 * self.up_scale[None, 1:]
        down = rng.uniform(*sc.downlink_mbps_range, size=(K, n)) * 1e6 * self.down_scale[None, 1:]
        return up, down

    def sample_with_requests(self, rng: np.random.Generator) -> tuple[MultiEdgeSlot, tuple[Request, ...]]:
        """One multi-edge slot and the K requests behind it."""
        K = self.scenario.num_users
        extra_up, extra_down = self._extra_links(rng, K) if self.M > 1 else (np.zeros((K, 0)), np.zeros((K, 0)))
        self._best_up = extra_up.max(axis=1) if self.M > 1 else None
        self._k = 0
        try:
            slot, reqs = self.base.sample_with_requests(rng)
        finally:
            self._best_up = None
        up = np.concatenate([self.up_scale[0] * slot.uplink_bps[:, None], extra_up], axis=1)
        down = np.concatenate([self.down_scale[0] * slot.downlink_bps[:, None], extra_down], axis=1)
        if self.M > 1 or self.up_scale[0] != 1.0 or self.down_scale[0] != 1.0:
            slot = dataclasses.replace(slot, uplink_bps=up.max(axis=1), downlink_bps=down.max(axis=1))
        return MultiEdgeSlot(base=slot, edges=self.edges, uplink_bps=up, downlink_bps=down), reqs

    def sample(self, rng: np.random.Generator) -> MultiEdgeSlot:
        """One multi-edge slot of the scenario's K users."""
        return self.sample_with_requests(rng)[0]


__all__ = ["MultiEdgeSampler"]

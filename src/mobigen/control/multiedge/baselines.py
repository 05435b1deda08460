"""Association baselines (issue 11), each followed by a one-edge controller per edge (default exact DP).

* best channel: each user joins the edge whose links cost it the least transfer time, its condition
  up plus one latent down, 8·D(I_k)/B↑_km + 8·D(z)/B↓_km (the channel terms of eqs. (2) and (6));
  edge speed and budget are ignored, as a signal-strength rule would;
* least loaded: users in index order, each joins the edge with the fewest users per budget step
  after joining, (n_m + 1) / (C_E^m/ε₀) (ties: the lower edge index);
* random: every user joins a uniformly drawn edge (seeded generator).
"""

from __future__ import annotations

import numpy as np

from mobigen.system.multiedge import MultiEdgeSlot


def best_channel(mslot: MultiEdgeSlot) -> np.ndarray:
    """The edge with the least up + down transfer time per user."""
    p = mslot.edges[0]
    t = 8.0 * mslot.base.condition_bytes[:, None] / mslot.uplink_bps + 8.0 * p.latent_bytes / mslot.downlink_bps
    return np.argmin(t, axis=1).astype(np.int64)


def least_loaded(mslot: MultiEdgeSlot) -> np.ndarray:
    """Greedy balance of users per budget step."""
    budget = np.array([p.edge_budget_steps for p in mslot.edges], dtype=float)
    n = np.zeros(mslot.M)
    edge = np.zeros(mslot.K, dtype=np.int64)
    for k in range(mslot.K):
        m = int(np.argmin((n + 1.0) / budget))
        edge[k] = m
        n[m] += 1
    return edge


class RandomAssociation:
    """Uniformly random association from a seeded generator (one stream across slots)."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)

    def __call__(self, mslot: MultiEdgeSlot) -> np.ndarray:
        return self.rng.integers(mslot.M, size=mslot.K).astype(np.int64)

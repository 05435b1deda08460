"""The batched-edge latency view (beyond the paper; issue 14, point 2).

Eq. (6) charges user k's edge part ε₀⌊o_kT_k⌋/f_E from its own L¹_k on, as if the edge ran every
user at full speed at once; a serial edge (``experiments.metrics.serial_edge_completion``) runs them
one after another. A real edge GPU does neither: it runs the active users' steps in one batched
forward whose time grows with the batch. This module models that edge with a *batch-time curve*
t(B), the seconds of one batched step with B users (``scenario.EdgeBatchCurve``: measured by
``mobigen bench edge --curve F`` or given in the scenario, labelled with its origin):

- step time with B users: τ(B) = (ε₀/f_E) · t(B)/t(1) — the curve's *shape*, scaled so that one user
  alone steps at eq. (6)'s speed ε₀/f_E (linear interpolation between measured sizes, linear
  extrapolation of the last segment beyond the largest, never decreasing there, and never below 1:
  a batched step does at least one user's work, so a noisy t(B) < t(1) counts as t(1));
- continuous batching of one slot: the slot closes at the last edge user's upload, t₀ = max_k L¹_k
  (as in the serial view); every edge user is in the batch from t₀ and leaves after its own e_k
  steps, so batched step s (s = 1, 2, ...) carries n_s = #{k : e_k ≥ s} users and lasts τ(n_s);
  user k's edge part ends at t₀ + Σ_{s ≤ e_k} τ(n_s), then its downlink and local steps follow as in
  eqs. (6)/(7). Users that never contact the edge finish at their eq. latency.

With t(B) = t(1) (a batch costs what one user costs) the view gives eq. (6) after t₀; with
t(B) = B·t(1) (no gain from batching) the last completion equals the serial edge's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from mobigen.scenario import EdgeBatchCurve, Scenario

SHIPPED_CURVE = "edge_batch_curve.json"
"""The batch-time curve in ``mobigen/data`` used when the scenario gives none (``mobigen bench edge``)."""


@lru_cache(maxsize=1)
def shipped_curve() -> EdgeBatchCurve:
    """The curve shipped with mobigen (its ``origin`` says where and how it was measured)."""
    text = (Path(__file__).resolve().parents[1] / "data" / SHIPPED_CURVE).read_text(encoding="utf-8")
    return EdgeBatchCurve(**json.loads(text))


@dataclass(frozen=True)
class BatchTimeModel:
    """τ(B): seconds per batched edge step with B users (module docstring)."""

    curve: EdgeBatchCurve
    """The measured or given batch-time curve (only its shape t(B)/t(1) is used)."""
    step_s: float
    """ε₀/f_E, one user's edge step alone, as eq. (6) charges it (s)."""

    def __post_init__(self) -> None:
        if not np.isfinite(self.step_s) or self.step_s <= 0:
            raise ValueError(f"step_s must be a positive number of seconds, got {self.step_s!r}")

    @classmethod
    def from_scenario(cls, scenario: Scenario) -> "BatchTimeModel":
        """The scenario's curve (or the shipped one) at the scenario's ε₀/f_E."""
        curve = scenario.edge_batch_curve if scenario.edge_batch_curve is not None else shipped_curve()
        return cls(curve=curve, step_s=float(scenario.edge_step_time_s))

    @property
    def origin(self) -> str:
        """Where the curve came from (for every printed number that uses it)."""
        return self.curve.origin

    def relative(self, batch: np.ndarray | int) -> np.ndarray:
        """t(B)/t(1) for batch sizes ``batch`` ≥ 1 (interpolated; the last segment extended beyond)."""
        b = np.asarray(batch, dtype=float)
        if np.any(b < 1) or not np.all(np.isfinite(b)):
            raise ValueError("batch sizes must be finite and >= 1")
        sizes = np.asarray(self.curve.batch_sizes, dtype=float)
        rel = np.asarray(self.curve.step_time_s, dtype=float) / self.curve.step_time_s[0]
        slope = max(0.0, (rel[-1] - rel[-2]) / (sizes[-1] - sizes[-2]))
        inside = np.interp(b, sizes, rel)
        out = np.where(b > sizes[-1], rel[-1] + slope * (b - sizes[-1]), inside)
        return np.maximum(out, 1.0)  # a batch does at least one user's work: never below t(1) (noise aside)

    def step_time_s(self, batch: np.ndarray | int) -> np.ndarray:
        """τ(B) = (ε₀/f_E) · t(B)/t(1) (s)."""
        return self.step_s * self.relative(batch)


def batched_edge_completion(
    vce_s: np.ndarray,
    edge_steps: np.ndarray,
    downlink_s: np.ndarray,
    local_s: np.ndarray,
    *,
    model: BatchTimeModel,
    uses_edge: np.ndarray | None = None,
) -> np.ndarray:
    """Per-user completion time of one slot on a continuously batching edge (module docstring) (s).

    ``vce_s`` is L¹_k (eq. 2), ``edge_steps`` e_k, ``downlink_s`` and ``local_s`` the eq. (6)/(7) parts;
    ``uses_edge`` marks the users that contact the edge (default: all)."""
    vce = np.asarray(vce_s, dtype=float)
    if vce.ndim != 1:
        raise ValueError(f"vce_s must be one-dimensional, got shape {vce.shape}")
    K = vce.shape[0]
    e = np.asarray(edge_steps)
    if e.shape != (K,) or not np.issubdtype(e.dtype, np.integer) or np.any(e < 0):
        raise ValueError(f"edge_steps must be {K} non-negative integers, got {e!r}")
    down, local = (np.asarray(a, dtype=float) for a in (downlink_s, local_s))
    for name, v in (("vce_s", vce), ("downlink_s", down), ("local_s", local)):
        if v.shape != (K,) or not np.all(np.isfinite(v)) or np.any(v < 0):
            raise ValueError(f"{name} must be {K} finite non-negative numbers")
    mask = np.ones(K, dtype=bool) if uses_edge is None else np.asarray(uses_edge, dtype=bool)
    if mask.shape != (K,):
        raise ValueError(f"uses_edge must have shape ({K},), got {mask.shape}")
    if np.any(e[~mask] > 0):
        raise ValueError("uses_edge: users that do not use the edge must run no edge steps")
    done = vce + model.step_s * e + down + local  # local-only users: their eq. latency (e = 0)
    users = np.flatnonzero(mask)
    if users.size == 0:
        return done
    t0 = vce[users].max()  # the slot closes at the last upload (max_k L¹_k)
    ek = e[users].astype(np.int64)
    top = int(ek.max())
    if top == 0:
        done[users] = t0 + down[users] + local[users]
        return done
    levels = np.arange(1, top + 1)
    active = (ek[None, :] >= levels[:, None]).sum(axis=1)  # n_s, users in batched step s
    elapsed = np.concatenate([[0.0], np.cumsum(model.step_time_s(active))])  # after s steps
    done[users] = t0 + elapsed[ek] + down[users] + local[users]  # eq. (6)/(7) after the batch
    return done


__all__ = ["BatchTimeModel", "SHIPPED_CURVE", "batched_edge_completion", "shipped_curve"]

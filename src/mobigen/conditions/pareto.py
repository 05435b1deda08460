"""Pareto frontiers of Section V-A: eq. (18), per condition type, for DS–latency and IR–latency.

For a given user L¹ = L⁰(f_k) + D(I(ν))/B↑ (eq. 2) is an increasing affine function of the bytes
D(I(ν)), so the Score–Latency frontier equals the Score–Data-size frontier (Fig. 6 caption): the
x-axis here is the configuration's *mean* bytes over the profile, which makes one frontier serve
every user. The score axis is q^I (DS) or q^T (IR) of the quality model at a reference step count
T_ref (default 20, the step count of Fig. 4 and the middle of the steps range) for an average
request (difficulty 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from mobigen.conditions.config_table import ConfigTable
from mobigen.scenario import CONDITIONS
from mobigen.system.quality import QualityModel

METRICS: tuple[str, ...] = ("I", "T")
"""Frontier metrics: "I" = DS (q^I, perceptual similarity), "T" = IR (q^T, prompt alignment)."""


def pareto_front(quality: ArrayLike, latency: ArrayLike) -> np.ndarray:
    """Boolean mask of the Pareto-optimal set P* of eq. (18).

    ν ∈ P*  ⇔  no ν̃ has Q(ν̃) > Q(ν) and L(ν̃) < L(ν) (both strict, exactly as eq. (18) writes it; so a
    configuration tied on latency with a better one stays in P*).
    """
    q = np.asarray(quality, dtype=float).ravel()
    lat = np.asarray(latency, dtype=float).ravel()
    if q.shape != lat.shape:
        raise ValueError(f"quality and latency must have the same length, got {q.size} and {lat.size}")
    if not (np.all(np.isfinite(q)) and np.all(np.isfinite(lat))):
        raise ValueError("quality/latency: must be finite")
    dominated = (q[None, :] > q[:, None]) & (lat[None, :] < lat[:, None])  # eq. (18): row i dominated by col j
    return ~dominated.any(axis=1)


@dataclass(frozen=True, eq=False)
class Frontier:
    """P*_λ for one condition type and one metric, sorted by α then β ascending (Alg. 2 line 2)."""

    condition: str
    """λ."""
    metric: str
    """"I" (DS–latency) or "T" (IR–latency)."""
    alpha_idx: np.ndarray
    """Indices into the ConfigTable's α axis, in Alg. 2's order."""
    beta_idx: np.ndarray
    """Indices into the ConfigTable's β axis, in Alg. 2's order."""
    alpha: np.ndarray
    """α of each frontier point."""
    beta: np.ndarray
    """β of each frontier point."""
    score: np.ndarray
    """The metric's score at T_ref (quality backend named in Frontiers.quality_backend)."""
    mean_bytes: np.ndarray
    """Mean bytes over the profile (bytes)."""

    def __len__(self) -> int:
        return len(self.alpha)


@dataclass(frozen=True, eq=False)
class Frontiers:
    """All frontiers P^I_λ and P^T_λ, plus the full (λ, α, β) grids they were cut from."""

    table: ConfigTable
    """The profile view the frontiers come from."""
    reference_steps: int
    """T_ref at which the scores are taken (steps)."""
    quality_backend: str
    """Backend that produced the scores."""
    q_I: np.ndarray
    """(n_λ, n_α, n_β) q^I at T_ref, difficulty 0."""
    q_T: np.ndarray
    """(n_λ, n_α, n_β) q^T at T_ref, difficulty 0."""
    fronts: dict[tuple[str, str], Frontier]
    """(λ, metric) -> Frontier."""

    def get(self, condition: str, metric: str) -> Frontier:
        """P^metric_λ."""
        try:
            return self.fronts[(condition, metric)]
        except KeyError:
            raise ValueError(f"no frontier for condition '{condition}' metric '{metric}'") from None


def build_frontiers(table: ConfigTable, quality: QualityModel, reference_steps: int = 20,
                    allowed: np.ndarray | None = None) -> Frontiers:
    """Profile every (λ, α, β) at T_ref and cut P^I_λ and P^T_λ with eq. (18).

    ``allowed`` (n_λ, n_α, n_β) bool restricts 𝒱 (constraint (10) of a scenario, or an ablation);
    excluded configurations take part in no frontier."""
    if reference_steps < 1:
        raise ValueError(f"reference_steps: must be >= 1, got {reference_steps}")
    n_c, n_a, n_b = table.mean_bytes.shape
    ci = np.array([CONDITIONS.index(c) for c in table.conditions])[:, None, None]
    A = np.asarray(table.alphas)[None, :, None]
    B = np.asarray(table.betas)[None, None, :]
    q_I, q_T = quality.scores(np.broadcast_to(ci, (n_c, n_a, n_b)), np.broadcast_to(A, (n_c, n_a, n_b)),
                              np.broadcast_to(B, (n_c, n_a, n_b)), reference_steps, None)
    q_I = np.broadcast_to(q_I, (n_c, n_a, n_b)).astype(float)
    q_T = np.broadcast_to(q_T, (n_c, n_a, n_b)).astype(float)
    aa, bb = np.meshgrid(np.arange(n_a), np.arange(n_b), indexing="ij")
    aa, bb = aa.ravel(), bb.ravel()
    fronts: dict[tuple[str, str], Frontier] = {}
    ok_all = np.ones((n_c, n_a, n_b), dtype=bool) if allowed is None else np.asarray(allowed, dtype=bool)
    if ok_all.shape != (n_c, n_a, n_b):
        raise ValueError(f"allowed: must have shape {(n_c, n_a, n_b)}, got {ok_all.shape}")
    for c, name in enumerate(table.conditions):
        byt = table.mean_bytes[c].ravel()
        ok = np.flatnonzero(ok_all[c].ravel())
        for metric, grid in (("I", q_I), ("T", q_T)):
            score = grid[c].ravel()
            mask = pareto_front(score[ok], byt[ok])  # eq. (18) over 𝒱, latency ∝ bytes
            sel = ok[mask]
            order = np.lexsort((bb[sel], aa[sel]))  # Alg. 2 line 2: by α, then β, ascending
            sel = sel[order]
            fronts[(name, metric)] = Frontier(
                condition=name, metric=metric, alpha_idx=aa[sel], beta_idx=bb[sel],
                alpha=np.asarray(table.alphas)[aa[sel]], beta=np.asarray(table.betas)[bb[sel]],
                score=score[sel], mean_bytes=byt[sel],
            )
    return Frontiers(table=table, reference_steps=int(reference_steps), quality_backend=getattr(quality, "backend", "unknown"),
                     q_I=q_I, q_T=q_T, fronts=fronts)

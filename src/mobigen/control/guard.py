"""Feasibility guard for serving: repair any decision to satisfy (11)-(13) losing the least quality.

A decision is (T_k, e_k) in integer steps, so (11) holds by construction (``system.offload``).
Repair order (each step changes a decision only where it must):

1. The T range: T_k is clipped to steps_min..steps_max (and e_k to the new T_k).
2. (13): a user whose local steps d_k = T_k − e_k exceed D_k = ⌊C_k/ε₀⌋ gets e_k = T_k − D_k
   (steps move to the edge; quality unchanged).
3. (12): while Σ e_k > ⌊C_E/ε₀⌋, steps move from the edge back to devices with spare budget,
   fastest device first (quality unchanged, least added latency first).
4. (12) still violated: every user's T_k must shrink. The new T'_k ≤ T_k are chosen by an exact
   knapsack DP that maximises Σ Q_k(T'_k) (eq. 1) subject to Σ max(0, T'_k − D_k) ≤ ⌊C_E/ε₀⌋ —
   the least total QoE lost — and then step 3 runs again.

When even T_k = steps_min for all users cannot fit (Σ max(0, steps_min − D_k) > ⌊C_E/ε₀⌋) no
feasible decision exists; the guard returns the least-violating one with ``feasible=False``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mobigen.control.base import Controller
from mobigen.system.slot import Decision, Slot

_EPS = 1e-9


@dataclass(frozen=True, eq=False)
class GuardResult:
    """A repaired decision and what it took."""

    decision: Decision
    """The decision to execute (satisfies (11)-(13) whenever ``feasible``)."""
    repaired: bool
    """Whether anything changed."""
    n_repairs: int
    """How many users' (T_k, e_k) changed."""
    feasible: bool
    """False only when no decision can satisfy (12)-(13) in this slot."""
    quality_lost: float
    """Σ_k Q_k(T_k) − Q_k(T'_k) caused by step 4 (QoE units)."""


def _max_quality_under_cap(Q: np.ndarray, T_hi_idx: np.ndarray, cost: np.ndarray, cap: int) -> np.ndarray:
    """Exact DP: choose one T index per user (≤ T_hi_idx) maximising Σ Q under Σ cost ≤ cap."""
    K, n_T = Q.shape
    NEG = -np.inf
    f = np.full(cap + 1, NEG)
    f[0] = 0.0
    back = np.zeros((K, cap + 1), dtype=np.int64)
    for k in range(K):
        g = np.full(cap + 1, NEG)
        bk = np.zeros(cap + 1, dtype=np.int64)
        for j in range(T_hi_idx[k] + 1):
            c = int(cost[k, j])
            if c > cap:
                continue
            cand = np.full(cap + 1, NEG)
            cand[c:] = f[: cap + 1 - c] + Q[k, j]
            better = cand > g
            g = np.where(better, cand, g)
            bk = np.where(better, j, bk)
        f, back[k] = g, bk
    c_best = int(np.argmax(f))
    choice = np.zeros(K, dtype=np.int64)
    for k in range(K - 1, -1, -1):
        j = int(back[k, c_best])
        choice[k] = j
        c_best -= int(cost[k, j])
    return choice


def guard(slot: Slot, decision: Decision) -> GuardResult:
    """Repair ``decision`` to satisfy (11)-(13) on ``slot`` with the least quality lost."""
    p = slot.params
    K = slot.K
    if decision.T.shape != (K,):
        raise ValueError(f"decision has {decision.T.shape[0]} users, slot has {K}")
    T0, e0 = decision.T, decision.e
    T = np.clip(T0, p.steps_min, p.steps_max)  # step 1
    e = np.minimum(e0, T)
    D = np.floor(slot.device_budget / p.eps0 + _EPS).astype(np.int64)  # (13) local-step allowance
    cap = int(np.floor(p.edge_budget_steps + _EPS))  # (12) edge allowance
    e = np.maximum(e, T - D)  # step 2
    e = _shed_edge_steps(T, e, D, cap, slot.f_device)  # step 3
    quality_lost = 0.0
    feasible = True
    if e.sum() > cap:  # step 4
        Qt = slot.Q_table
        Tg = p.steps_values
        cost = np.maximum(0, Tg[None, :] - D[:, None])
        if int(cost[:, 0].sum()) > cap:
            feasible = False
            T_new = np.full(K, p.steps_min, dtype=np.int64)
        else:
            idx = _max_quality_under_cap(Qt, T - p.steps_min, cost, cap)
            T_new = Tg[idx].astype(np.int64)
        rows = np.arange(K)
        quality_lost = float(np.sum(Qt[rows, T - p.steps_min] - Qt[rows, T_new - p.steps_min]))
        T = T_new
        e = np.maximum(np.minimum(e, T), T - D)
        e = _shed_edge_steps(T, e, D, cap, slot.f_device)
    n = int(np.sum((T != T0) | (e != e0)))
    return GuardResult(decision=Decision(T=T, e=e), repaired=n > 0, n_repairs=n, feasible=feasible,
                       quality_lost=quality_lost)


def _shed_edge_steps(T: np.ndarray, e: np.ndarray, D: np.ndarray, cap: int, f_device: np.ndarray) -> np.ndarray:
    """Move edge steps to devices with spare local budget, fastest device first, until Σe ≤ cap."""
    e = e.copy()
    excess = int(e.sum()) - cap
    if excess <= 0:
        return e
    for k in np.argsort(-f_device, kind="stable"):
        if excess <= 0:
            break
        lo = max(0, int(T[k] - D[k]))
        take = min(excess, int(e[k]) - lo)
        if take > 0:
            e[k] -= take
            excess -= take
    return e


class Guarded:
    """A controller whose every decision passes through ``guard``; counts the repairs."""

    def __init__(self, controller: Controller) -> None:
        self.inner = controller
        self.name = f"{controller.name}+guard"
        self.n_decisions = 0
        self.n_repaired = 0
        """Decisions that needed any repair."""
        self.n_repairs = 0
        """User decisions changed, summed over all decisions."""
        self.n_infeasible = 0
        """Slots where no feasible decision existed."""

    def decide(self, slot: Slot) -> Decision:
        res = guard(slot, self.inner.decide(slot))
        self.n_decisions += 1
        self.n_repaired += int(res.repaired)
        self.n_repairs += res.n_repairs
        self.n_infeasible += int(not res.feasible)
        return res.decision

"""The exact per-slot optimum of problem P2 (eq. 19) under the reward of eq. (26).

The reward is Σ_k v_k(T_k, e_k) − δ₁·max(0, E − C_E/ε₀) with e_k = ⌊o_k T_k⌋ (eq. 4) and
E = Σ_k e_k: every term but the edge-budget penalty (12) belongs to one user, and only
(T_k, e_k) enter eqs. (6), (7), (12), (13). So a user's options are the pairs (T, e),
e ∈ 0..T (a ``Decision(T, e)``; o is derived, ``system.offload``), and the slot's
optimum is a multiple-choice knapsack over E:

    w_k(e) = max_T v_k(T, e);  f_k(E) = max_e f_{k-1}(E − e) + w_k(e);  best = max_E f_K(E) − δ₁(E − B)⁺

with B = C_E/ε₀, solved exactly by dynamic programming, vectorised with numpy (no approximation).

Bounding the E axis (issue 14, point 7). Past B = C_E/ε₀ every edge step costs δ₁, so a large E
pays only while users gain more than δ₁ per step. Let I be the reward of some real decision (an
incumbent, :func:`edge_cap`). If every choice with E > E_cap is *strictly* worse than I, the DP
truncated at E_cap returns the same optimum: f(E) for E ≤ E_cap is unchanged (partial sums of
e_k ≥ 0 never exceed the final E), hence the same arg-max and the same tie-breaking as the
untruncated DP. Two exact caps, the smaller wins:
(a) per user: for E ≥ B the reward is Σ_k (w_k(e_k) − δ₁e_k) + δ₁B ≤ UB := Σ_k m_k + δ₁B with
    m_k = max_e (w_k(e) − δ₁e); a choice reaching I has Σ_k D_k(e_k) ≤ UB − I with
    D_k(e) = m_k − (w_k(e) − δ₁e) ≥ 0, so e_k ≤ a_k := max{e : D_k(e) ≤ UB − I} and E ≤ Σ_k a_k;
(b) dual: for any price μ < δ₁, f(E) ≤ G(μ) + μE with G(μ) = Σ_k max_e (w_k(e) − μe) (weak
    duality of Σ_k e_k = E), so the reward at E ≥ B is below I once E > (G(μ) + δ₁B − I)/(δ₁ − μ).
The cost falls from O(K²·T_max²) to O(K·E_cap·T_max); on paper-like slots E_cap is B plus a few
steps. ``solve(..., bound=False)`` runs the untruncated DP (kept for the tests and the benchmark).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from mobigen.control.validate import validate_slot
from mobigen.system.slot import Decision, Slot


@dataclass(frozen=True, eq=False)
class ExactSolution:
    """The optimum of one slot."""

    decision: Decision
    """The optimal (T_k, e_k)."""
    reward: float
    """Its reward, eq. (26), as the DP computed it."""
    edge_steps: int
    """E = Σ e_k of the optimum (steps)."""
    e_cap: int
    """The largest E the DP tracked (steps): E_cap of the module docstring, or K·T_max unbounded."""


def user_values(slot: Slot) -> tuple[np.ndarray, np.ndarray]:
    """v_k(T, e): each user's part of eq. (26) for every T (axis 1) and e = 0..T_max (axis 2);
    -inf where e > T. Returns (values (K, n_T, T_max+1), T grid (n_T,)).

    The arithmetic of ``system.evaluate_decision`` (eqs. 1, 2, 5-8, 13-15) on the (K, n_T, n_e)
    grid, with the terms that depend on (k, T) alone folded first and the rest done in place:
    L = L¹ + D↓/B↓ + ε₀e/f_E + ε₀(T−e)/f_k, v = Q − ηL − δ₂(d − C_k/ε₀)⁺ − δ₃(Q̃ − Q)⁺ − δ₄(L − L̃)⁺."""
    p = slot.params
    Tg = p.steps_values  # (n_T,)
    n_e = p.steps_max + 1
    T = Tg[:, None].astype(np.int64)
    e = np.arange(n_e, dtype=np.int64)[None, :]
    full = e == T  # eq. (7): the image comes down
    d = np.maximum(T - e, 0).astype(float)  # eq. (5), the e > T cells masked out below
    _, d2, d3, d4 = p.delta
    Q = slot.Q_table  # eq. (1), (K, n_T)
    latent_s = 8.0 * float(p.latent_bytes) / slot.downlink_bps
    image_s = 8.0 * float(p.image_bytes) / slot.downlink_bps
    L = np.multiply((p.eps0 / slot.f_device)[:, None, None], d[None])  # eq. (6), third term
    L += (slot.vce_latency_s + latent_s)[:, None, None] + (p.eps0 * np.minimum(e, T) / p.f_edge)[None]  # (2), (6)
    L += full[None] * (image_s - latent_s)[:, None, None]  # eq. (7): the image instead of the latent
    kT = Q - d3 * np.maximum(0.0, slot.qoe_threshold[:, None] - Q)  # (14)
    v = kT[:, :, None] - p.eta * L  # eq. (8)
    over = np.subtract(d[None], (slot.device_budget / p.eps0)[:, None, None])
    np.maximum(over, 0.0, out=over)
    over *= d2
    v -= over  # (13) in steps
    L -= p.latency_threshold_s
    np.maximum(L, 0.0, out=L)
    L *= d4
    v -= L  # (15)
    v[:, ~(e <= T)] = -np.inf
    return v, Tg


def _knapsack(w: np.ndarray, e_cap: int) -> tuple[np.ndarray, np.ndarray]:
    """f_K(E) for E = 0..E_top (E_top = min(e_cap, K·(n_e−1))) and each user's best e at every E
    (choices (K, E_top+1)): the max-plus recursion of the module docstring, the first maximum
    winning as in ``np.argmax``. One buffer holds f_{k−1} between (n_e−1) −inf cells on each side,
    and a fixed sliding-window view of it gives f_{k−1}(E − e) for every (E, e) without copying."""
    K, n_e = w.shape
    top = min(int(e_cap), K * (n_e - 1))
    buf = np.full(top + 1 + 2 * (n_e - 1), -np.inf)
    lo = n_e - 1
    buf[lo] = 0.0  # f_0: nothing chosen, E = 0
    win = sliding_window_view(buf, n_e)  # win[E, i] = buf[E + i] = f(E + i − (n_e−1)) = f(E − e), e = n_e−1−i
    w_rev = w[:, ::-1]
    choices = np.zeros((K, top + 1), dtype=np.int64)
    rows = np.arange(top + 1)
    reach = 0
    for k in range(K):
        reach = min(reach + n_e - 1, top)
        cand = win[: reach + 1] + w_rev[k]
        i_best = cand.argmax(axis=1)
        buf[lo: lo + reach + 1] = cand[rows[: reach + 1], i_best]
        choices[k, : reach + 1] = (n_e - 1) - i_best
    return buf[lo: lo + top + 1].copy(), choices


def _penalised(f: np.ndarray, d1: float, budget: float) -> np.ndarray:
    """f(E) − δ₁ max(0, E − B): the slot reward of eq. (26) at each E (penalty (12) in steps)."""
    return f - d1 * np.maximum(0.0, np.arange(len(f)) - budget)


#: Prices μ (reward per edge step, as fractions of δ₁) tried for the incumbent and the dual cap.
_PRICE_FRACTIONS = np.concatenate([-np.geomspace(4.0, 1 / 64, 9), [0.0], 1.0 - np.geomspace(1.0, 1 / 256, 17)[1:]])


def edge_cap(w: np.ndarray, d1: float, budget: float) -> int:
    """E_cap: an E beyond which no choice reaches the incumbent reward I (module docstring).

    Two exact bounds, the smaller wins. (a) Per user: e_k ≤ a_k (module docstring). (b) Dual: for
    any price μ < δ₁ and E ≥ B, f(E) ≤ G(μ) + μE with G(μ) = Σ_k max_e (w_k(e) − μe) (weak duality
    of Σ e_k = E), so the reward at E is at most G(μ) + μE − δ₁(E − B), below I once
    E > (G(μ) + δ₁B − I)/(δ₁ − μ). I is the best reward of the price-μ choices e_k(μ) = argmax_e
    (w_k(e) − μe) over the same prices (each one a real decision, so I ≤ the optimum)."""
    K, n_e = w.shape
    full_cap = K * (n_e - 1)
    b = int(min(full_cap, math.floor(budget + 1e-9)))
    if d1 <= 0.0 or full_cap <= 3 * max(b, 1):
        return full_cap  # no penalty past B, or too little to cut for the bound's own cost (small K)
    steps = np.arange(n_e, dtype=float)
    mu = d1 * _PRICE_FRACTIONS  # (M,), all < δ₁; the last is δ₁(1 − 1/256)
    mu = np.append(mu, d1)  # δ₁ itself: only for the incumbent and bound (a)
    priced = w[:, :, None] - steps[None, :, None] * mu[None, None, :]  # (K, n_e, M)
    e_mu = priced.argmax(axis=1)  # (K, M): each user's best e at price μ
    w_at = w[np.arange(K)[:, None], e_mu]  # w_k(e_k(μ))
    E_mu = e_mu.sum(axis=0)
    incumbent = float(np.max(w_at.sum(axis=0) - d1 * np.maximum(0.0, E_mu - budget)))  # I
    G = priced.max(axis=1).sum(axis=0)  # (M,)
    margin = 1e-9 * (1.0 + abs(incumbent))  # rounding: a cap may only grow
    lin, m = priced[:, :, -1], G[-1]  # price δ₁: w_k(e) − δ₁e, and Σ_k m_k
    slack = max(float(m + d1 * budget - incumbent), 0.0) + margin
    a = np.where(lin.max(axis=1)[:, None] - lin <= slack, np.arange(n_e)[None, :], 0).max(axis=1)
    caps = [int(a.sum())]  # bound (a)
    gap = G[:-1] + d1 * budget - incumbent + margin
    caps.append(int(np.min(np.floor(np.maximum(gap, 0.0) / (d1 - mu[:-1])))))  # bound (b)
    return int(min(full_cap, max(b, min(caps))))


def solve(slot: Slot, *, bound: bool = True) -> ExactSolution:
    """The exact optimum of one slot (module docstring); ``bound=False`` tracks every E."""
    p = slot.params
    v, Tg = user_values(slot)
    K = slot.K
    n_e = p.steps_max + 1
    best_T_idx = np.argmax(v, axis=1)  # (K, n_e): best T for each e
    w = np.take_along_axis(v, best_T_idx[:, None, :], axis=1)[:, 0, :]  # w_k(e), (K, n_e)
    d1, budget = float(p.delta[0]), float(p.edge_budget_steps)
    cap = edge_cap(w, d1, budget) if bound else K * (n_e - 1)
    f, choices = _knapsack(w, cap)
    total = _penalised(f, d1, budget)  # (12) penalty, eq. (26)
    E_best = int(np.argmax(total))
    e_sel = np.zeros(K, dtype=np.int64)
    rem = E_best
    for k in range(K - 1, -1, -1):
        e_k = int(choices[k, rem])
        e_sel[k] = e_k
        rem -= e_k
    T_sel = Tg[best_T_idx[np.arange(K), e_sel]].astype(np.int64)
    decision = Decision(T=T_sel, e=e_sel)
    return ExactSolution(decision=decision, reward=float(total[E_best]), edge_steps=E_best, e_cap=cap)


class ExactController:
    """The per-slot optimum as a controller (the oracle for every other controller)."""

    name = "exact"

    def decide(self, slot: Slot) -> Decision:
        validate_slot(slot)
        return solve(slot).decision

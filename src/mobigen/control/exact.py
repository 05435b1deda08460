"""The exact per-slot optimum of problem P2 (eq. 19) under the reward of eq. (26).

The reward is Σ_k v_k(T_k, e_k) − δ₁·max(0, E − C_E/ε₀) with e_k = ⌊o_k T_k⌋ (eq. 4) and
E = Σ_k e_k: every term but the edge-budget penalty (12) belongs to one user, and only
(T_k, e_k) enter eqs. (6), (7), (12), (13). So a user's options are the pairs (T, e),
e ∈ 0..T, realised by the canonical o of ``action_map.offload_for_edge_steps``, and the slot's
optimum is a multiple-choice knapsack over E:

    w_k(e) = max_T v_k(T, e);  f_k(E) = max_e f_{k-1}(E − e) + w_k(e);  best = max_E f_K(E) − δ₁(E − C_E/ε₀)⁺

solved exactly by dynamic programming, vectorised with numpy (no approximation anywhere).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from mobigen.control.action_map import offload_for_edge_steps
from mobigen.control.validate import validate_slot
from mobigen.system.latency import transfer_time_s
from mobigen.system.slot import Decision, Slot
from mobigen.system.utility import utility


@dataclass(frozen=True, eq=False)
class ExactSolution:
    """The optimum of one slot."""

    decision: Decision
    """The optimal (T_k, o_k)."""
    reward: float
    """Its reward, eq. (26), as the DP computed it."""
    edge_steps: int
    """E = Σ ⌊o_k T_k⌋ of the optimum (steps)."""


def user_values(slot: Slot) -> tuple[np.ndarray, np.ndarray]:
    """v_k(T, e): each user's part of eq. (26) for every T (axis 1) and e = 0..T_max (axis 2);
    -inf where e > T. Returns (values (K, n_T, T_max+1), T grid (n_T,))."""
    p = slot.params
    Tg = p.steps_values  # (n_T,)
    n_e = p.steps_max + 1
    T = Tg[None, :, None].astype(float)
    e = np.arange(n_e)[None, None, :].astype(float)
    valid = e <= T
    full = e == T  # o = 1: the edge returns the image, eq. (7)
    Q = slot.Q_table[:, :, None]  # eq. (1)
    f_k = slot.f_device[:, None, None]
    B_down = slot.downlink_bps[:, None, None]
    edge_s = p.eps0 * e / p.f_edge
    down_s = np.where(full, transfer_time_s(p.image_bytes, B_down), transfer_time_s(p.latent_bytes, B_down))
    d = np.where(full, 0.0, T - e)  # local steps (eq. 5; see system.latency.local_steps)
    local_s = p.eps0 * d / f_k
    L = slot.vce_latency_s[:, None, None] + edge_s + down_s + local_s  # eqs. (2), (6), (7)
    U = utility(Q, L, p.eta)  # eq. (8)
    _, d2, d3, d4 = p.delta
    pen = (d2 * np.maximum(0.0, d - slot.device_budget[:, None, None] / p.eps0)  # (13) in steps
           + d3 * np.maximum(0.0, slot.qoe_threshold[:, None, None] - Q)  # (14)
           + d4 * np.maximum(0.0, L - p.latency_threshold_s))  # (15)
    v = np.where(valid, U - pen, -np.inf)
    return v, Tg


def solve(slot: Slot) -> ExactSolution:
    """The exact optimum of one slot (module docstring)."""
    p = slot.params
    v, Tg = user_values(slot)
    K = slot.K
    n_e = p.steps_max + 1
    best_T_idx = np.argmax(v, axis=1)  # (K, n_e): best T for each e
    w = np.take_along_axis(v, best_T_idx[:, None, :], axis=1)[:, 0, :]  # w_k(e), (K, n_e)
    f = np.zeros(1)
    choices: list[np.ndarray] = []
    pad = np.full(n_e - 1, -np.inf)
    for k in range(K):
        fpad = np.concatenate([pad, f, pad])
        win = sliding_window_view(fpad, n_e)  # win[E, i] = f[E + i - (n_e-1)] = f[E - e] with e = n_e-1-i
        w_rev = w[k, ::-1]
        cand = win + w_rev[None, :]
        i_best = np.argmax(cand, axis=1)
        f = cand[np.arange(cand.shape[0]), i_best]
        choices.append(n_e - 1 - i_best)
    E = np.arange(len(f))
    total = f - p.delta[0] * np.maximum(0.0, E - p.edge_budget_steps)  # (12) penalty, eq. (26)
    E_best = int(np.argmax(total))
    e_sel = np.zeros(K, dtype=np.int64)
    rem = E_best
    for k in range(K - 1, -1, -1):
        e_k = int(choices[k][rem])
        e_sel[k] = e_k
        rem -= e_k
    T_sel = Tg[best_T_idx[np.arange(K), e_sel]].astype(np.int64)
    decision = Decision(T=T_sel, o=offload_for_edge_steps(T_sel, e_sel))
    return ExactSolution(decision=decision, reward=float(total[E_best]), edge_steps=E_best)


class ExactController:
    """The per-slot optimum as a controller (the oracle for every other controller)."""

    name = "exact"

    def decide(self, slot: Slot) -> Decision:
        validate_slot(slot)
        return solve(slot).decision

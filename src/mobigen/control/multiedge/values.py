"""Per (user, edge) option values: w_km(e) = max_T v_km(T, e), the user's part of eq. (26) on edge m.

Only the per-edge budget penalty (12) couples users, and only through Σ e_k on the same edge, so for a
fixed (k, m, e) the best T is the user's own arg-max (as in ``control.exact``). ``v_km`` is
``control.exact.user_values`` on edge m's slot (its f_E^m and the links k→m).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from numpy.lib.stride_tricks import sliding_window_view

from mobigen.control.exact import edge_cap, user_values
from mobigen.system.multiedge import MultiEdgeSlot


@dataclass(frozen=True, eq=False)
class EdgeValues:
    """The option values of one multi-edge slot."""

    w: np.ndarray
    """w_km(e), shape (K, M, T_max + 1)."""
    T_best: np.ndarray
    """The T realising w_km(e), shape (K, M, T_max + 1) (steps)."""
    budget: np.ndarray
    """B_m = C_E^m / ε₀ per edge, shape (M,) (steps)."""
    delta1: float
    """δ₁ of eq. (26), the price of one edge step over budget."""


def edge_values(mslot: MultiEdgeSlot) -> EdgeValues:
    """``EdgeValues`` of ``mslot`` (one ``user_values`` call per edge)."""
    ws, Ts = [], []
    for m in range(mslot.M):
        v, Tg = user_values(mslot.edge_slot(m))
        idx = np.argmax(v, axis=1)  # (K, n_e): the best T for each e
        ws.append(np.take_along_axis(v, idx[:, None, :], axis=1)[:, 0, :])
        Ts.append(Tg[idx])
    budget = np.array([p.edge_budget_steps for p in mslot.edges], dtype=float)
    return EdgeValues(w=np.stack(ws, axis=1), T_best=np.stack(Ts, axis=1).astype(np.int64), budget=budget,
                      delta1=float(mslot.edges[0].delta[0]))


def edge_rewards(ws: list[np.ndarray], budgets: np.ndarray, delta1: float) -> np.ndarray:
    """The optimal reward of each of several edges, edge i serving the users whose rows are ``ws[i]``
    (n_i, T_max + 1): max over e of Σ_k w_k(e_k) − δ₁ max(0, Σ e_k − B_i) — the value of
    ``control.exact.solve`` on that edge's slot (the same max-plus knapsack over E, value only,
    batched over the edges; 0 for an edge without users). E is tracked up to the largest of the edges'
    ``control.exact.edge_cap`` bounds, past which no choice can be optimal (the proof is there)."""
    n_b = len(ws)
    if n_b == 0:
        return np.zeros(0)
    n_e = ws[0].shape[1]
    n_max = max(w.shape[0] for w in ws)
    idle = np.full(n_e, -np.inf)
    idle[0] = 0.0  # a padding user: e = 0, value 0
    W = np.tile(idle, (n_b, max(n_max, 1), 1))
    for i, w in enumerate(ws):
        W[i, : w.shape[0]] = w
    W_rev = W[:, :, ::-1]
    cap = max(edge_cap(w, delta1, float(b)) if w.shape[0] else 0 for w, b in zip(ws, budgets))
    f = np.zeros((n_b, 1))
    pad = np.full((n_b, n_e - 1), -np.inf)
    for k in range(W.shape[1]):
        win = sliding_window_view(np.concatenate([pad, f[:, : cap + 1], pad], axis=1), n_e, axis=1)  # [b, E, i] = f[b, E-(n_e-1-i)]
        f = (win[:, : cap + 1] + W_rev[:, k][:, None, :]).max(axis=2)
    E = np.arange(f.shape[1])[None, :]
    pen = delta1 * np.maximum(0.0, E - np.asarray(budgets, dtype=float)[:, None])  # (12) penalty, eq. (26)
    return (f - pen).max(axis=1)


def edge_reward(w: np.ndarray, budget: float, delta1: float) -> float:
    """``edge_rewards`` for one edge."""
    return float(edge_rewards([w], np.array([budget]), delta1)[0])

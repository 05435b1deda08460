"""The exact joint optimum of a multi-edge slot: a MILP over (user, edge, e) options (scipy HiGHS).

    max Σ_{k,m,e} w_km(e) y_kme − δ₁ Σ_m s_m
    s.t. Σ_{m,e} y_kme = 1                      for every user k   (Σ_m x_km = 1)
         Σ_{k,e} e · y_kme − s_m ≤ C_E^m / ε₀   for every edge m   ((12), soft: s_m = its excess)
         y ∈ {0, 1}, s ≥ 0

with w_km(e) = max_T v_km(T, e) (``values``); the optimal s_m is max(0, Σ e − B_m), so the objective is
Σ_m eq. (26) exactly. Options dominated on their own (k, m) — more edge steps for no more value — are
dropped: swapping one for its dominator keeps feasibility and never lowers the objective, so the
optimum is unchanged. HiGHS runs with a zero relative gap; the result is checked against brute force
and, for M = 1, against ``control.exact`` in the tests. For small instances (it is the oracle).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import csr_array

from mobigen.control.multiedge.values import EdgeValues, edge_values
from mobigen.system.multiedge import MultiDecision, MultiEdgeSlot
from mobigen.system.slot import Decision


def _options(w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(user, edge, e) of every undominated option: w_km(e) > w_km(e') for every e' < e."""
    prev_best = np.maximum.accumulate(w, axis=2)
    keep = np.ones_like(w, dtype=bool)
    keep[:, :, 1:] = w[:, :, 1:] > prev_best[:, :, :-1] + 1e-12
    keep &= np.isfinite(w)
    return np.nonzero(keep)


def solve_milp(ev: EdgeValues, *, time_limit_s: float = 60.0) -> tuple[np.ndarray, np.ndarray, float]:
    """(edge per user, e per user, objective) of the MILP of the module docstring."""
    K, M, _ = ev.w.shape
    k_idx, m_idx, e_idx = _options(ev.w)
    n_y = len(k_idx)
    n = n_y + M
    c = np.concatenate([-ev.w[k_idx, m_idx, e_idx], np.full(M, ev.delta1)])
    rows_u = csr_array((np.ones(n_y), (k_idx, np.arange(n_y))), shape=(K, n))
    edge_rows = np.concatenate([m_idx, np.arange(M)])
    edge_cols = np.concatenate([np.arange(n_y), n_y + np.arange(M)])
    edge_vals = np.concatenate([e_idx.astype(float), -np.ones(M)])
    rows_e = csr_array((edge_vals, (edge_rows, edge_cols)), shape=(M, n))
    constraints = [LinearConstraint(rows_u, 1.0, 1.0), LinearConstraint(rows_e, -np.inf, ev.budget)]
    integrality = np.concatenate([np.ones(n_y), np.zeros(M)])
    bounds = Bounds(np.zeros(n), np.concatenate([np.ones(n_y), np.full(M, np.inf)]))
    res = milp(c, constraints=constraints, integrality=integrality, bounds=bounds,
               options={"mip_rel_gap": 0.0, "time_limit": time_limit_s, "presolve": True})
    if res.x is None or res.status != 0:
        raise RuntimeError(f"multi-edge oracle: HiGHS did not prove an optimum ({res.message})")
    chosen = res.x[:n_y] > 0.5
    edge = np.zeros(K, dtype=np.int64)
    e = np.zeros(K, dtype=np.int64)
    edge[k_idx[chosen]] = m_idx[chosen]
    e[k_idx[chosen]] = e_idx[chosen]
    return edge, e, float(-res.fun)


class OracleController:
    """The exact joint optimum (MILP) as a multi-edge controller: the reference for every other one."""

    name = "oracle"

    def __init__(self, *, time_limit_s: float = 60.0) -> None:
        self.time_limit_s = float(time_limit_s)

    def decide(self, mslot: MultiEdgeSlot) -> MultiDecision:
        ev = edge_values(mslot)
        edge, e, _ = solve_milp(ev, time_limit_s=self.time_limit_s)
        T = ev.T_best[np.arange(mslot.K), edge, e]
        return MultiDecision(edge=edge, decision=Decision(T=T, e=e))

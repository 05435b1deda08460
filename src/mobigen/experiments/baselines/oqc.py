"""*OQC+* (Sec. VI-A.3): OQC's successive convex approximation (SCA) for binary offloading and
denoising steps, on top of our VCE choices.

OQC's offloading is binary: user k denoises all T_k steps on the edge (o_k = 1, the image comes back,
eq. 7) or all of them on its own device, without contacting the edge (no uplink, no downlink). Per
slot it solves

    max Σ_k Q_k(T_k) − η L_k − δ₃ max(0, Q̃_k − Q_k) − δ₄ max(0, L_k − L̃)        (eqs. 8, 14, 15, 26)
    s.t. Σ_k x_k T_k ≤ C_E/ε₀ (12),  (1 − x_k) T_k ≤ C_k/ε₀ (13),  x_k ∈ {0, 1},  T_k ∈ [T_min, T_max]

with L_k = L⁰_k + x_k (D_k/B↑_k + D(x₀)/B↓_k) + ε₀/f_E·x_kT_k + ε₀/f_k·(1 − x_k)T_k.

The SCA: write y_k = x_k T_k (edge steps) and z_k = (1 − x_k) T_k (local steps) with the big-M links
y_k ≤ T_max x_k, z_k ≤ T_max (1 − x_k); replace Q_k(T) by its upper concave envelope (hypograph
constraints); relax x_k to [0, 1] and add the binarity penalty ρ Σ x_k (x_k − 1), which is convex in x,
so each iteration linearises it at the current point (x_k² ≥ 2x_k⁽ⁿ⁾x_k − x_k⁽ⁿ⁾², a minorant): every
subproblem is a linear programme (scipy HiGHS). ρ grows each iteration until x is binary. The result is
rounded (T_k to an integer) and repaired greedily to the budgets, as OQC rounds its relaxation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog

from mobigen.system import Decision, Slot, transfer_time_s


def upper_concave_envelope(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Slopes and intercepts (b_j, a_j) of the segments of the upper concave envelope of the points
    (x_i, y_i), x ascending: y ≤ a_j + b_j x for every j describes its hypograph."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    hull: list[int] = []
    for i in range(len(x)):  # Andrew's monotone chain, upper hull
        while len(hull) >= 2:
            i0, i1 = hull[-2], hull[-1]
            cross = (x[i1] - x[i0]) * (y[i] - y[i0]) - (y[i1] - y[i0]) * (x[i] - x[i0])
            if cross >= 0:
                hull.pop()
            else:
                break
        hull.append(i)
    if len(hull) == 1:
        return np.zeros(1), np.array([y[hull[0]]])
    h = np.array(hull)
    slopes = np.diff(y[h]) / np.diff(x[h])
    intercepts = y[h[:-1]] - slopes * x[h[:-1]]
    return slopes, intercepts


@dataclass(frozen=True)
class SCAResult:
    """The relaxed solution of the last SCA iteration and how it got there."""

    x: np.ndarray
    """Relaxed offloading indicator x_k ∈ [0, 1] (1 = edge)."""
    T: np.ndarray
    """Relaxed steps y_k + z_k (steps)."""
    iterations: int
    """SCA iterations run."""
    binary: bool
    """Whether x converged to {0, 1} within tolerance."""


class OQCController:
    """OQC's SCA for binary offloading and steps; ``last_local_only`` marks the on-device users."""

    name = "oqc"

    def __init__(self, *, rho0: float = 0.05, rho_growth: float = 2.0, max_iter: int = 25, tol: float = 1e-3) -> None:
        if rho0 <= 0 or rho_growth <= 1.0:
            raise ValueError("rho0 must be > 0 and rho_growth > 1")
        if max_iter < 1:
            raise ValueError("max_iter must be >= 1")
        self.rho0, self.rho_growth, self.max_iter, self.tol = rho0, rho_growth, max_iter, tol
        self.last_local_only: np.ndarray | None = None
        self.last_sca: SCAResult | None = None

    # ---- the SCA (relaxation) -------------------------------------------------------------------
    def solve_relaxed(self, slot: Slot) -> SCAResult:
        """Run the SCA iterations on the relaxed problem."""
        p = slot.params
        K = slot.K
        steps = p.steps_values.astype(float)
        t_min, t_max = float(p.steps_min), float(p.steps_max)
        t_edge = p.eps0 / p.f_edge  # s per edge step (eq. 6, first term)
        t_dev = p.eps0 / np.asarray(slot.f_device, dtype=float)  # s per device step (eq. 6, third term)
        c_dev = np.asarray(slot.device_budget, dtype=float) / p.eps0  # C_k in steps (13)
        c_edge = p.edge_budget / p.eps0  # C_E in steps (12)
        up = transfer_time_s(slot.condition_bytes, slot.uplink_bps)  # eq. (2)
        img = transfer_time_s(float(p.image_bytes), slot.downlink_bps)  # eq. (7)
        ext = np.asarray(slot.extraction_s, dtype=float)
        d3, d4 = p.delta[2], p.delta[3]
        Q_tab = slot.Q_table  # eq. (1) over steps
        # variable layout per user k: x, y, z, q, s (QoE slack), l (latency slack)
        nv = 6 * K
        ix = lambda k, j: 6 * k + j  # noqa: E731
        A: list[np.ndarray] = []
        b: list[float] = []

        def row() -> np.ndarray:
            return np.zeros(nv)

        for k in range(K):
            x, y, z, q, s, lat = (ix(k, j) for j in range(6))
            r = row(); r[y] = -1; r[z] = -1; A.append(r); b.append(-t_min)          # y + z ≥ T_min
            r = row(); r[y] = 1; r[z] = 1; A.append(r); b.append(t_max)             # y + z ≤ T_max
            r = row(); r[y] = 1; r[x] = -t_max; A.append(r); b.append(0.0)          # y ≤ T_max x
            r = row(); r[z] = 1; r[x] = t_max; A.append(r); b.append(t_max)         # z ≤ T_max (1 − x)
            slopes, intercepts = upper_concave_envelope(steps, Q_tab[k])
            for bj, aj in zip(slopes, intercepts):                                   # q ≤ a_j + b_j T
                r = row(); r[q] = 1; r[y] = -bj; r[z] = -bj; A.append(r); b.append(float(aj))
            r = row(); r[q] = -1; r[s] = -1; A.append(r); b.append(-float(slot.qoe_threshold[k]))  # s ≥ Q̃ − q (14)
            r = row(); r[x] = up[k] + img[k]; r[y] = t_edge; r[z] = t_dev[k]; r[lat] = -1      # l ≥ L − L̃ (15)
            A.append(r); b.append(p.latency_threshold_s - ext[k])
        r = row()
        for k in range(K):
            r[ix(k, 1)] = 1
        A.append(r); b.append(c_edge)                                                # Σ y ≤ C_E (12)
        bounds: list[tuple[float, float | None]] = []
        for k in range(K):
            # presolve: a device that cannot run T_min steps within C_k (13) can only offload (x_k = 1)
            x_lo = 1.0 if c_dev[k] < t_min else 0.0
            bounds += [(x_lo, 1.0), (0.0, t_max), (0.0, min(t_max, c_dev[k])), (None, None), (0.0, None), (0.0, None)]
        A_ub = np.array(A)
        b_ub = np.array(b)

        # objective (minimise): −[Σ q − η L − δ₃ s − δ₄ l + ρ Σ (2x⁽ⁿ⁾ − 1) x]  (constant terms dropped)
        base = np.zeros(nv)
        for k in range(K):
            x, y, z, q, s, lat = (ix(k, j) for j in range(6))
            base[q] = -1.0
            base[x] = p.eta * (up[k] + img[k])
            base[y] = p.eta * t_edge
            base[z] = p.eta * t_dev[k]
            base[s] = d3
            base[lat] = d4
        x_cur = np.where(c_dev < t_min, 1.0, 0.5)
        rho = self.rho0
        sol = None
        it = 0
        for it in range(1, self.max_iter + 1):
            c = base.copy()
            for k in range(K):
                c[ix(k, 0)] -= rho * (2.0 * x_cur[k] - 1.0)  # linearised binarity penalty (SCA step)
            res = linprog(c, A_ub=A_ub, b_ub=b_ub, bounds=bounds, method="highs")
            if res.status != 0:
                raise RuntimeError(f"OQC SCA subproblem failed: {res.message}")
            sol = res.x
            x_new = sol[[ix(k, 0) for k in range(K)]]
            converged = np.max(np.abs(x_new - np.round(x_new))) < self.tol and np.max(np.abs(x_new - x_cur)) < self.tol
            x_cur = x_new
            if converged:
                break
            rho *= self.rho_growth
        if sol is None:  # unreachable: max_iter >= 1
            raise RuntimeError("OQC SCA ran no iteration")
        T = sol[[ix(k, 1) for k in range(K)]] + sol[[ix(k, 2) for k in range(K)]]
        binary = bool(np.max(np.abs(x_cur - np.round(x_cur))) < self.tol)
        return SCAResult(x=x_cur, T=T, iterations=it, binary=binary)

    # ---- rounding and repair ----------------------------------------------------------------------
    def decide(self, slot: Slot) -> Decision:
        p = slot.params
        sca = self.solve_relaxed(slot)
        self.last_sca = sca
        edge = np.round(sca.x).astype(bool)
        T = np.clip(np.round(sca.T), p.steps_min, p.steps_max).astype(np.int64)
        c_dev = np.floor(np.asarray(slot.device_budget, dtype=float) / p.eps0 + 1e-9).astype(np.int64)
        c_edge = int(np.floor(p.edge_budget / p.eps0 + 1e-9))
        Q = slot.Q_table
        # local users: at most C_k steps (13); a device that cannot run T_min goes to the edge
        for k in np.flatnonzero(~edge):
            if c_dev[k] < p.steps_min:
                edge[k] = True
            else:
                T[k] = min(T[k], c_dev[k])
        # edge users: Σ T ≤ C_E (12) — drop one step at a time where it costs the least QoE
        while edge.any() and int(T[edge].sum()) > c_edge:
            cand = np.flatnonzero(edge & (T > p.steps_min))
            if cand.size == 0:
                break  # K·T_min exceeds C_E: leave the excess; the report counts the violation
            idx = T[cand] - p.steps_min
            loss = Q[cand, idx] - Q[cand, idx - 1]
            k = cand[int(np.argmin(loss))]
            T[k] -= 1
        o = np.where(edge, 1.0, 0.5 / T)  # x_k = 1 → o_k = 1; x_k = 0 → ⌊o_k T_k⌋ = 0 (all local)
        self.last_local_only = ~edge
        return Decision(T=T, o=o)

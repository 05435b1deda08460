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
subproblem is a linear programme (scipy HiGHS). ρ grows each iteration until x is binary; the loop stops
as soon as no later iteration can change the solution (``_settled``: same answers, fewer LPs). The result is
rounded (T_k to an integer) and repaired greedily to the budgets, as OQC rounds its relaxation.

Steps: ``build_lp`` (the slot's LP, once per slot), ``OQCController.solve_relaxed`` (the SCA iterations,
``_solve_penalised`` each), ``_round_and_repair`` (the integer decision).
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
    """SCA iterations run (linear programmes solved)."""
    binary: bool
    """Whether x converged to {0, 1} within tolerance."""
    stalled: bool = False
    """Whether the SCA stopped at a non-binary fixed point that further iterations cannot move (``_settled``: some
    x_k stuck at 1/2, where the linearised penalty has no pull); the remaining iterations are skipped."""


_NV = 6
"""LP variables per user: x (edge indicator), y (edge steps), z (local steps), q (QoE hypograph), s (QoE slack),
l (latency slack)."""
_X, _Y, _Z, _Q, _S, _L = range(_NV)


@dataclass(frozen=True)
class _SlotLP:
    """The slot's relaxed problem without the binarity penalty: ``min c·v  s.t.  A v ≤ b, bounds``."""

    A: np.ndarray
    """Inequality rows (dense, one row per constraint)."""
    b: np.ndarray
    """Right-hand sides of ``A``."""
    bounds: list[tuple[float, float | None]]
    """Per-variable (lower, upper) bounds."""
    c: np.ndarray
    """Objective without the penalty term (minimised)."""
    x_start: np.ndarray
    """Starting point of x for the SCA (1 where the device cannot run T_min, else 1/2)."""

    @property
    def K(self) -> int:
        return len(self.x_start)


def _slot_terms(slot: Slot) -> dict[str, np.ndarray | float]:
    """The per-user constants of the relaxed problem (eqs. 2, 6, 7, 12, 13)."""
    p = slot.params
    return dict(
        t_min=float(p.steps_min), t_max=float(p.steps_max),
        t_edge=p.eps0 / p.f_edge,  # s per edge step (eq. 6, first term)
        t_dev=p.eps0 / np.asarray(slot.f_device, dtype=float),  # s per device step (eq. 6, third term)
        c_dev=np.asarray(slot.device_budget, dtype=float) / p.eps0,  # C_k in steps (13)
        c_edge=p.edge_budget / p.eps0,  # C_E in steps (12)
        up=transfer_time_s(slot.condition_bytes, slot.uplink_bps),  # eq. (2)
        img=transfer_time_s(float(p.image_bytes), slot.downlink_bps),  # eq. (7)
        ext=np.asarray(slot.extraction_s, dtype=float),
    )


def _user_rows(k: int, nv: int, tm: dict, slot: Slot) -> tuple[list[np.ndarray], list[float]]:
    """User k's rows: step range, big-M links, the concave envelope of Q_k(T) (eq. 1), slacks (14), (15)."""
    p = slot.params
    o = _NV * k
    slopes, intercepts = upper_concave_envelope(p.steps_values.astype(float), slot.Q_table[k])
    n = 6 + len(slopes)
    A = np.zeros((n, nv))
    A[0, o + _Y] = A[0, o + _Z] = -1                                   # y + z ≥ T_min
    A[1, o + _Y] = A[1, o + _Z] = 1                                    # y + z ≤ T_max
    A[2, o + _Y], A[2, o + _X] = 1, -tm["t_max"]                       # y ≤ T_max x
    A[3, o + _Z], A[3, o + _X] = 1, tm["t_max"]                        # z ≤ T_max (1 − x)
    rows = slice(4, 4 + len(slopes))                                    # q ≤ a_j + b_j T
    A[rows, o + _Q] = 1
    A[rows, o + _Y] = A[rows, o + _Z] = -slopes
    A[n - 2, o + _Q] = A[n - 2, o + _S] = -1                           # s ≥ Q̃ − q (14)
    A[n - 1, [o + _X, o + _Y, o + _Z, o + _L]] = (tm["up"][k] + tm["img"][k], tm["t_edge"], tm["t_dev"][k], -1)  # (15)
    b = [-tm["t_min"], tm["t_max"], 0.0, tm["t_max"], *map(float, intercepts),
         -float(slot.qoe_threshold[k]), p.latency_threshold_s - tm["ext"][k]]
    return list(A), b


def build_lp(slot: Slot) -> _SlotLP:
    """Step 1: the relaxed problem of the module docstring as a linear programme (variables x, y, z, q, s, l
    per user), constraints (12)-(15) and the hypograph of Q_k's upper concave envelope."""
    p = slot.params
    K = slot.K
    nv = _NV * K
    tm = _slot_terms(slot)
    A: list[np.ndarray] = []
    b: list[float] = []
    for k in range(K):
        rk, bk = _user_rows(k, nv, tm, slot)
        A += rk
        b += bk
    r = np.zeros(nv)
    r[_Y::_NV] = 1
    A.append(r); b.append(tm["c_edge"])                                              # Σ y ≤ C_E (12)
    bounds: list[tuple[float, float | None]] = []
    for k in range(K):
        # presolve: a device that cannot run T_min steps within C_k (13) can only offload (x_k = 1)
        x_lo = 1.0 if tm["c_dev"][k] < tm["t_min"] else 0.0
        bounds += [(x_lo, 1.0), (0.0, tm["t_max"]), (0.0, min(tm["t_max"], tm["c_dev"][k])), (None, None), (0.0, None),
                   (0.0, None)]
    # objective (minimise): −[Σ q − η L − δ₃ s − δ₄ l]  (eqs. 8, 14, 15, 26; constant terms dropped)
    c = np.zeros(nv)
    c[_Q::_NV] = -1.0
    c[_X::_NV] = p.eta * (tm["up"] + tm["img"])
    c[_Y::_NV] = p.eta * tm["t_edge"]
    c[_Z::_NV] = p.eta * tm["t_dev"]
    c[_S::_NV] = p.delta[2]
    c[_L::_NV] = p.delta[3]
    x_start = np.where(tm["c_dev"] < tm["t_min"], 1.0, 0.5)
    return _SlotLP(A=np.array(A), b=np.array(b), bounds=bounds, c=c, x_start=x_start)


def _solve_penalised(lp: _SlotLP, x_cur: np.ndarray, rho: float) -> np.ndarray:
    """One SCA subproblem: the LP with the binarity penalty ρ Σ x(x − 1) linearised at ``x_cur`` (HiGHS)."""
    c = lp.c.copy()
    c[_X::_NV] -= rho * (2.0 * x_cur - 1.0)
    res = linprog(c, A_ub=lp.A, b_ub=lp.b, bounds=lp.bounds, method="highs")
    if res.status != 0:
        raise RuntimeError(f"OQC SCA subproblem failed: {res.message}")
    return res.x


def _settled(x_new: np.ndarray, x_cur: np.ndarray, lo: np.ndarray) -> bool:
    """Whether no later SCA iteration can move the solution: every x_k at one of its bounds, or at exactly 1/2 both
    now and at the linearisation point. Then the next subproblem differs only in x's costs, and only so that the
    current solution stays optimal: with ρ' = gρ > ρ, an x_k at 1 gets cost −ρ' ≤ −ρ(2x_k⁽ⁿ⁾ − 1) (pulled further
    into its bound), an x_k at its lower bound 0 gets +ρ' ≥ −ρ(2x_k⁽ⁿ⁾ − 1), and an x_k at 1/2 keeps cost 0. So the
    remaining iterations would return this solution again (binary x: converged one iteration later; x_k = 1/2:
    a fixed point that never becomes binary, where the old loop ran all ``max_iter`` iterations)."""
    at_bound = (x_new == lo) | (x_new == 1.0)
    neutral = (x_new == 0.5) & (x_cur == 0.5)
    return bool(np.all(at_bound | neutral))


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
        """Run the SCA iterations on the relaxed problem (step 1: build the LP; step 2: iterate)."""
        lp = build_lp(slot)
        lo = np.array([b[0] for b in lp.bounds[_X::_NV]])
        x_cur, rho = lp.x_start, self.rho0
        sol, settled, it = None, False, 0
        for it in range(1, self.max_iter + 1):
            sol = _solve_penalised(lp, x_cur, rho)
            x_new = sol[_X::_NV]
            converged = np.max(np.abs(x_new - np.round(x_new))) < self.tol and np.max(np.abs(x_new - x_cur)) < self.tol
            settled = not converged and _settled(x_new, x_cur, lo)
            x_cur = x_new
            if converged or settled:
                break
            rho *= self.rho_growth
        if sol is None:  # unreachable: max_iter >= 1
            raise RuntimeError("OQC SCA ran no iteration")
        T = sol[_Y::_NV] + sol[_Z::_NV]
        binary = bool(np.max(np.abs(x_cur - np.round(x_cur))) < self.tol)
        return SCAResult(x=x_cur, T=T, iterations=it, binary=binary, stalled=settled and not binary)

    # ---- rounding and repair ----------------------------------------------------------------------
    def decide(self, slot: Slot) -> Decision:
        sca = self.solve_relaxed(slot)
        self.last_sca = sca
        edge, T = _round_and_repair(slot, sca)
        self.last_local_only = ~edge
        return Decision(T=T, e=np.where(edge, T, 0))  # x_k = 1 → e_k = T_k (o_k = 1); x_k = 0 → e_k = 0 (all local)


def _round_and_repair(slot: Slot, sca: SCAResult) -> tuple[np.ndarray, np.ndarray]:
    """Step 3: round the relaxation (x_k to {0, 1}, T_k to an integer step count) and repair it greedily to the
    budgets (13) and (12), as OQC rounds its relaxation. Returns (edge mask, T)."""
    p = slot.params
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
    return edge, T

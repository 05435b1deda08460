"""Constraints (12)-(15) as a feasibility report: which constraint, which user, by how much.

(10) — ν_k in Table I's sets — is enforced where ν is chosen (the scenario and VCE validate it).
(11) — o_k ∈ (0, 1] — holds by construction: a ``Decision`` stores integer edge steps e_k ∈ 0..T_k
and its derived o_k lies in (0, 1] (``system.offload``). Compute budgets are reported in steps
(units of ε₀).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from mobigen.system.offload import local_steps
from mobigen.system.params import SystemParams

_BUDGET_TOL = 1e-6
"""Steps of budget excess below which (12)/(13) count as met: step counts are integers, budgets are
multiples of ε₀ computed in floating point."""


@dataclass(frozen=True)
class Violation:
    """One violated constraint."""

    constraint: str
    """Equation number, e.g. "(12)"."""
    user: int | None
    """User index, or None for the slot-wide edge budget."""
    amount: float
    """By how much it is violated, in ``unit``."""
    unit: str
    """Unit of ``amount``."""


@dataclass(frozen=True, eq=False)
class FeasibilityReport:
    """Non-negative excess per constraint; zero means satisfied."""

    edge_budget_steps: float
    """(12): max(0, Σ e_k - C_E/ε₀) (steps)."""
    device_budget_steps: np.ndarray
    """(13): max(0, d_k - C_k/ε₀) per user (steps)."""
    qoe: np.ndarray
    """(14): max(0, Q̃_k - Q_k) per user (QoE units)."""
    latency_s: np.ndarray
    """(15): max(0, L_k - L̃) per user (s)."""

    @property
    def hard_feasible(self) -> bool:
        """The compute budgets (12)-(13) hold ((11) always does): the decision can be executed."""
        return bool(self.edge_budget_steps <= 0 and np.all(self.device_budget_steps <= 0))

    @property
    def feasible(self) -> bool:
        """Every constraint (11)-(15) holds."""
        return self.hard_feasible and bool(np.all(self.qoe <= 0) and np.all(self.latency_s <= 0))

    def violations(self) -> list[Violation]:
        """Every violated constraint, user by user."""
        out: list[Violation] = []
        if self.edge_budget_steps > 0:
            out.append(Violation("(12)", None, float(self.edge_budget_steps), "steps"))
        for k in np.flatnonzero(self.device_budget_steps > 0):
            out.append(Violation("(13)", int(k), float(self.device_budget_steps[k]), "steps"))
        for k in np.flatnonzero(self.qoe > 0):
            out.append(Violation("(14)", int(k), float(self.qoe[k]), "QoE"))
        for k in np.flatnonzero(self.latency_s > 0):
            out.append(Violation("(15)", int(k), float(self.latency_s[k]), "s"))
        return out


def check_constraints(
    *,
    T: ArrayLike,
    e: ArrayLike,
    Q: ArrayLike,
    L: ArrayLike,
    qoe_threshold: ArrayLike,
    device_budget: ArrayLike,
    params: SystemParams,
) -> FeasibilityReport:
    """Evaluate (12)-(15) for one slot (1-D arrays over users; ``e`` the edge steps e_k ∈ 0..T_k)."""
    e = np.asarray(e, dtype=np.int64)
    d = local_steps(T, e)  # eq. (5); 0 on full offload
    eps0 = params.eps0
    # Budgets in steps; excess below _BUDGET_TOL steps is float round-off of C/ε₀ (e.g. 60 ε₀ · 2/15), not a violation.
    edge_excess = float(np.sum(e)) - params.edge_budget / eps0  # (12)
    edge_excess = edge_excess if edge_excess > _BUDGET_TOL else 0.0
    device_excess = d - np.asarray(device_budget, dtype=float) / eps0  # (13)
    device_excess = np.where(device_excess > _BUDGET_TOL, device_excess, 0.0)
    qoe_short = np.maximum(0.0, np.asarray(qoe_threshold, dtype=float) - np.asarray(Q, dtype=float))  # (14)
    lat_excess = np.maximum(0.0, np.asarray(L, dtype=float) - params.latency_threshold_s)  # (15)
    return FeasibilityReport(
        edge_budget_steps=edge_excess,
        device_budget_steps=device_excess,
        qoe=qoe_short,
        latency_s=lat_excess,
    )

"""The DRL reward, eq. (26)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from numpy.typing import ArrayLike

from mobigen.system.constraints import FeasibilityReport


def reward(U: ArrayLike, report: FeasibilityReport, delta: Sequence[float], eps0: float) -> float:
    """r = Σ U_k − δ₁ max(0, ε₀Σe_k − C_E) − δ₂ Σ max(0, ε₀d_k − C_k)
    − δ₃ Σ max(0, Q̃_k − Q_k) − δ₄ Σ max(0, L_k − L̃)  — eq. (26).

    The compute excesses are measured in units of ε₀ (steps): in raw FLOPs (~10¹² per step) the
    δ₁/δ₂ terms would swamp every other term; Table I states both budgets as multiples of ε₀.
    e_k = ⌊o_kT_k⌋ and d_k = T_k − e_k are the decision's edge and local steps (``system.offload``).
    ``eps0`` is accepted for callers that hold FLOPs; the report is already in steps.
    """
    del eps0
    d1, d2, d3, d4 = delta
    return float(
        np.sum(U)
        - d1 * report.edge_budget_steps
        - d2 * np.sum(report.device_budget_steps)
        - d3 * np.sum(report.qoe)
        - d4 * np.sum(report.latency_s)
    )

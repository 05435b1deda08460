"""Per-user utility, eq. (8)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def utility(Q: ArrayLike, L: ArrayLike, eta: float) -> np.ndarray:
    """U_k = Q_k - η L_k — eq. (8). Q in QoE units, L in seconds, η in 1/s."""
    return np.asarray(Q, dtype=float) - eta * np.asarray(L, dtype=float)

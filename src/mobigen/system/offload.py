"""The offloading split of eqs. (4), (5), (7), (11) in integer steps.

The integer edge steps e_k ∈ 0..T_k are the truth of a decision: the edge runs the first e_k
denoising steps, the device the remaining d_k = T_k − e_k (eq. 5), and the user is *fully
offloaded* — the edge returns the final image x₀ instead of the latent z (eq. 7) — exactly when
e_k = T_k (``is_full_offload``, the one definition used by the model, the constraints, the guard,
the simulator and the server).

The paper's ratio o_k (e_k = ⌊o_k T_k⌋, eq. 4; o_k ∈ (0, 1], eq. 11) is derived where its notation
needs it (``offload_ratio``), canonically: o = 1 iff e = T, o = e/T for 0 < e < T, and o = 0.5/T
for e = 0 (every o in (0, 1/T) floors to e = 0; the midpoint keeps o inside (11)'s open lower end).
Callers that hold ratios convert them once with ``edge_steps`` (``Decision.from_ratio``).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

RATIO_TOL_STEPS = 1e-9
"""o·T within this many steps below an integer counts as that integer (steps). A ratio stored as the
float e/T can land just below e/T (fl(0.3)·10 = 2.9999999999999996); the product is exact to
~1e-13 steps for T ≤ 1000, so 1e-9 is the margin, and o = 1 − 1e-12 means e = T (full offload)."""


def edge_steps(T: ArrayLike, o: ArrayLike) -> np.ndarray:
    """e_k = ⌊o_k T_k⌋ (eq. 4) for ratios o_k in [0, 1] — the one rounding of a ratio to edge steps."""
    T = np.asarray(T)
    o = np.asarray(o, dtype=float)
    if not np.all(np.isfinite(o)):
        raise ValueError("decision field 'o' holds NaN or Inf")
    bad = o[(o < 0.0) | (o > 1.0)]
    if bad.size:
        raise ValueError(f"decision field 'o' must lie in [0, 1] (eq. 11), got {bad[:5].tolist()}")
    e = np.floor(o * T + RATIO_TOL_STEPS).astype(np.int64)
    return np.minimum(e, np.asarray(T, dtype=np.int64))


def offload_ratio(T: ArrayLike, e: ArrayLike) -> np.ndarray:
    """The canonical o_k ∈ (0, 1] with ⌊o_k T_k⌋ = e_k (eq. 4, eq. 11); see the module docstring."""
    T = np.asarray(T, dtype=np.int64)
    e = np.asarray(e, dtype=np.int64)
    if np.any(T < 1):
        raise ValueError("decision field 'T' must be >= 1")
    if np.any(e < 0) or np.any(e > T):
        raise ValueError("decision field 'e' must lie in 0..T")
    Tf = T.astype(float)
    return np.where(is_full_offload(T, e), 1.0, np.where(e == 0, 0.5 / Tf, e / Tf))


def is_full_offload(T: ArrayLike, e: ArrayLike) -> np.ndarray:
    """e_k = T_k: the edge runs every step and returns the image (eq. 7, o_k = 1)."""
    return np.asarray(e) == np.asarray(T)


def local_steps(T: ArrayLike, e: ArrayLike) -> np.ndarray:
    """d_k = T_k − e_k, the steps the device runs after the edge (eq. 5); zero on full offload.

    The paper's eq. (6)/(13) write ⌊(1 − o_k) T_k⌋, which is one short when o_k T_k is fractional;
    the split denoiser really runs T_k − e_k steps on the device (see scenario.OPEN_CHOICES).
    """
    return np.asarray(T).astype(np.int64) - np.asarray(e).astype(np.int64)

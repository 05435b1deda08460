"""The hybrid action of eq. (25) as one flat box, shared by DDC, SAC and PPO.

An action is a float vector ``a`` in [-1, 1]^(2K):

* ``a[k]`` (k < K) picks T_k: u = (a+1)/2 is cut into n_T equal bins, bin i -> T = steps_min + i.
* ``a[K+k]`` picks the edge steps e_k = ⌊o_k T_k⌋ (eq. 4): u = (a+1)/2 is cut into T_k + 1 equal
  bins, bin j -> e_k = j. Giving e_k = T_k a bin of its own makes "return the image" (o_k = 1)
  reachable by a squashed-Gaussian policy, which never outputs exactly 1.
* The result is a ``Decision(T, e)``; its o_k is the canonical ratio of ``system.offload``
  (o = 1 iff e = T, o = e/T for 0 < e < T, o = 0.5/T for e = 0, so o ∈ (0, 1], eq. 11).

Only (T_k, e_k) matter to eqs. (6), (7), (12), (13), so this loses nothing of the action space.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from mobigen.system.slot import Decision, Slot


def action_to_decision(action: ArrayLike, slot: Slot) -> Decision:
    """Map a flat action in [-1, 1]^(2K) to a ``Decision`` (see the module docstring)."""
    a = np.asarray(action, dtype=float).reshape(-1)
    K = slot.K
    if a.shape != (2 * K,):
        raise ValueError(f"action must have 2K = {2 * K} entries, got {a.shape[0]}")
    if not np.all(np.isfinite(a)):
        raise ValueError("action holds NaN or Inf")
    a = np.clip(a, -1.0, 1.0)
    p = slot.params
    n_T = p.steps_max - p.steps_min + 1
    u_T = (a[:K] + 1.0) / 2.0
    T = p.steps_min + np.minimum(np.floor(u_T * n_T).astype(np.int64), n_T - 1)
    u_e = (a[K:] + 1.0) / 2.0
    e = np.minimum(np.floor(u_e * (T + 1)).astype(np.int64), T)
    return Decision(T=T, e=e)


def decision_to_action(decision: Decision, slot: Slot) -> np.ndarray:
    """The centre of the action bins that ``action_to_decision`` maps back to ``decision``."""
    p = slot.params
    n_T = p.steps_max - p.steps_min + 1
    T = np.clip(decision.T, p.steps_min, p.steps_max)
    e = np.minimum(decision.e, T)
    a_T = 2.0 * (T - p.steps_min + 0.5) / n_T - 1.0
    a_e = 2.0 * (e + 0.5) / (T + 1) - 1.0
    return np.concatenate([a_T, a_e]).astype(np.float32)

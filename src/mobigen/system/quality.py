"""The quality-model interface: Q_k(ω_k, ν_k, T_k) of eq. (1)/(8).

A quality model maps a condition configuration ν = (λ, α, β) and a step count T to the
two normalised scores q^I (perceptual similarity, DreamSim-based) and q^T (prompt
alignment, ImageReward-based), both in [0, 1]. Backends live in ``mobigen.conditions``
(``surrogate`` and ``measured``); this module only fixes the interface and eq. (1).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike

from mobigen.scenario import CONDITIONS


@runtime_checkable
class QualityModel(Protocol):
    """Anything that scores (λ, α, β, T) as (q^I, q^T)."""

    backend: str
    """Name printed beside every number this model produces ("surrogate" or "measured")."""

    def scores(
        self,
        condition: ArrayLike,
        alpha: ArrayLike,
        beta: ArrayLike,
        steps: ArrayLike,
        difficulty: ArrayLike | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(q^I, q^T) in [0, 1], broadcast over the inputs.

        ``condition`` holds indices into ``mobigen.scenario.CONDITIONS``; ``difficulty`` is a
        per-request offset (0 = an average request) that a backend may use to vary quality.
        """
        ...


def condition_index(condition: str | ArrayLike) -> np.ndarray:
    """Indices into CONDITIONS for names (or pass integer indices through)."""
    arr = np.asarray(condition)
    if arr.dtype.kind in "iu":
        if arr.size and (arr.min() < 0 or arr.max() >= len(CONDITIONS)):
            raise ValueError(f"condition index out of range 0..{len(CONDITIONS) - 1}")
        return arr.astype(np.int64)
    names = np.atleast_1d(arr).astype(str)
    lookup = {c: i for i, c in enumerate(CONDITIONS)}
    bad = [n for n in names.ravel() if n not in lookup]
    if bad:
        raise ValueError(f"condition: unknown type '{bad[0]}' (known: {', '.join(CONDITIONS)})")
    out = np.vectorize(lookup.__getitem__, otypes=[np.int64])(names)
    return out.reshape(arr.shape) if arr.ndim else out[0]


def qoe(omega_I: ArrayLike, q_I: ArrayLike, q_T: ArrayLike) -> np.ndarray:
    """Q_k = ω^I_k q^I_k + ω^T_k q^T_k with ω^T_k = 1 - ω^I_k — eq. (1)."""
    w = np.asarray(omega_I, dtype=float)
    return w * np.asarray(q_I, dtype=float) + (1.0 - w) * np.asarray(q_T, dtype=float)

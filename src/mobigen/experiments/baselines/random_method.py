"""*Random* (Sec. VI-A.3): the distributed framework with every configuration drawn at random —
ν_k = (λ, α, β) uniform over Table I's sets, T_k uniform over the allowed steps, o_k uniform on (0, 1]."""

from __future__ import annotations

import numpy as np

from mobigen.system import Decision, Slot


class RandomController:
    """T_k ~ U{steps_min..steps_max}, o_k ~ U(0, 1] (eq. 11), from its own seeded generator."""

    name = "random"

    def __init__(self, seed: int) -> None:
        self._rng = np.random.default_rng(seed)

    def reseed(self, seed: int | list[int]) -> None:
        """Restart the generator (the runner does this per slot so every slot is reproducible alone)."""
        self._rng = np.random.default_rng(seed)

    def decide(self, slot: Slot) -> Decision:
        p = slot.params
        T = self._rng.integers(p.steps_min, p.steps_max + 1, size=slot.K)
        o = 1.0 - self._rng.uniform(0.0, 1.0, size=slot.K)  # U(0, 1]: 1 - U[0, 1)
        return Decision.from_ratio(T, o)


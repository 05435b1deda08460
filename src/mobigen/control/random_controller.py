"""The random baseline: a uniform action in the shared action box (``action_map``)."""

from __future__ import annotations

import numpy as np

from mobigen.control.action_map import action_to_decision
from mobigen.control.validate import validate_slot
from mobigen.system.slot import Decision, Slot


class RandomController:
    """Uniform T_k and e_k through the shared action map; seeded, reproducible."""

    name = "random"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self._rng = np.random.default_rng(seed)

    def decide(self, slot: Slot) -> Decision:
        validate_slot(slot)
        return action_to_decision(self._rng.uniform(-1.0, 1.0, size=2 * slot.K), slot)

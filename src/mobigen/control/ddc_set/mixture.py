"""The training mixture of the set DDC: slots of K ∈ k_min..k_max users from several scenario
families (Table I, low-end devices, other bandwidth ranges, other device mixes and edge speeds),
with the edge budget C_E drawn per slot around Table I's.

Slot samplers are injected (``make_sampler(scenario) -> sampler``; ``control`` imports no workload):
one sampler per family at K = k_max; a slot of K users is K of its users — the first K (the
round-robin device types of the presets) or, with probability ``random_subset_prob``, K drawn at
random (other device mixes). Per-user draws are independent, so the first K users of a k_max-user
slot are distributed as a K-user slot of that family. C_E is log-uniform in ``edge_budget_range``
steps with probability ``vary_edge_budget_prob``; the device budgets C_k = ratio · C_E (Table I)
scale with it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from mobigen.scenario import Scenario, preset
from mobigen.system.slot import Slot


@dataclass(frozen=True)
class MixtureConfig:
    """What the training slots look like."""

    k_min: int = 2
    """Fewest users per slot."""
    k_max: int = 16
    """Most users per slot."""
    edge_budget_range: tuple[float, float] = (24.0, 150.0)
    """C_E/ε₀ is drawn log-uniformly from this range when varied (steps; Table I: 60)."""
    vary_edge_budget_prob: float = 0.6
    """Probability that a slot's C_E is redrawn (else the family's)."""
    random_subset_prob: float = 0.5
    """Probability that a slot's users are a random subset of the family's k_max (else the first K)."""

    def __post_init__(self) -> None:
        if not 1 <= self.k_min <= self.k_max:
            raise ValueError(f"mixture field 'k_min'/'k_max' must satisfy 1 <= k_min <= k_max, got "
                             f"{self.k_min}, {self.k_max}")
        lo, hi = self.edge_budget_range
        if not 0 < lo <= hi:
            raise ValueError(f"mixture field 'edge_budget_range' must satisfy 0 < low <= high, got {lo}, {hi}")
        for name in ("vary_edge_budget_prob", "random_subset_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"mixture field '{name}' must lie in [0, 1]")


def training_families(k_max: int = 16) -> list[Scenario]:
    """The scenario families of the mixture, each at K = k_max users."""
    paper, low = preset("paper"), preset("low-end")
    fams = [
        paper.replace(name="mix-paper"),
        low.replace(name="mix-low-end"),
        paper.replace(name="mix-slow-links", uplink_mbps_range=(1.0, 10.0), downlink_mbps_range=(1.0, 10.0)),
        low.replace(name="mix-low-end-slow-links", uplink_mbps_range=(1.0, 10.0), downlink_mbps_range=(1.0, 10.0)),
        paper.replace(name="mix-wide-links", uplink_mbps_range=(2.0, 30.0), downlink_mbps_range=(2.0, 30.0)),
        paper.replace(name="mix-devices-a", device_compute_ratios=(0.05, 0.15, 0.3, 0.6, 0.8),
                      device_budget_ratios=(0.0, 0.05, 0.3, 0.15, 0.4)),
        paper.replace(name="mix-devices-b", device_compute_ratios=(0.08, 0.4, 0.2),
                      device_budget_ratios=(0.1, 0.0, 0.25), edge_step_time_s=0.15),
        paper.replace(name="mix-fast-edge", edge_step_time_s=0.08),
    ]
    return [f.replace(num_users=k_max) for f in fams]


def sub_slot(slot: Slot, users: np.ndarray, edge_budget_steps: float | None = None) -> Slot:
    """The slot of the given users (indices into ``slot``); with ``edge_budget_steps`` C_E is set to it
    and every C_k scaled by the same factor (C_k = ratio · C_E)."""
    per_user = {f.name: getattr(slot, f.name)[users] for f in dataclasses.fields(slot)
                if f.name not in ("params", "quality_backend") and getattr(slot, f.name) is not None}
    params = slot.params
    if edge_budget_steps is not None:
        scale = edge_budget_steps / params.edge_budget_steps
        params = dataclasses.replace(params, edge_budget=edge_budget_steps * params.eps0)
        per_user["device_budget"] = per_user["device_budget"] * scale
    return dataclasses.replace(slot, params=params, **per_user)


class MixtureSampler:
    """Draws the training slots (module docstring) from a numpy Generator."""

    def __init__(self, make_sampler: Callable[[Scenario], object], config: MixtureConfig = MixtureConfig(),
                 families: list[Scenario] | None = None) -> None:
        self.config = config
        self.families = families if families is not None else training_families(config.k_max)
        for f in self.families:
            if f.num_users < config.k_max:
                raise ValueError(f"mixture: family '{f.name}' has {f.num_users} users < k_max = {config.k_max}")
        self.samplers = [make_sampler(f) for f in self.families]

    def sample(self, rng: np.random.Generator) -> Slot:
        c = self.config
        fam = int(rng.integers(len(self.samplers)))
        slot = self.samplers[fam].sample(rng)
        K = int(rng.integers(c.k_min, c.k_max + 1))
        if rng.random() < c.random_subset_prob:
            users = np.sort(rng.choice(slot.K, size=K, replace=False))
        else:
            users = np.arange(K)
        budget = None
        if rng.random() < c.vary_edge_budget_prob:
            lo, hi = c.edge_budget_range
            budget = float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
        return sub_slot(slot, users, budget)

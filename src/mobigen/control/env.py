"""The Gymnasium environment of DDC: one step is one time slot of K requests (Section V-B).

* Observation: ``control.observation.observe`` — eq. (24) plus bandwidth, f_k, ω_k, L¹_k and
  Q_k(T) samples (see that module for why each is there).
* Action: Box [-1, 1]^(2K) mapped by ``control.action_map.action_to_decision`` — the hybrid
  (T_k, e_k) of eq. (25), identical for DDC, SAC and PPO.
* Reward: eq. (26) from ``system.evaluate_decision``.
* Slots are drawn by an injected ``sampler`` (``sampler.sample(rng) -> Slot``) with
  ``self.np_random``; an episode is truncated after ``scenario.slots_per_episode`` slots
  (Algorithm 3's MAX_STEP); it never terminates.

Gymnasium registration of ``ENV_ID`` lives in ``mobigen.workload`` (``register_env``), the layer that
owns a real sampler: this module names nothing above it, not even as an entry-point string.
"""

from __future__ import annotations

from typing import Any, Protocol

import gymnasium as gym
import numpy as np

from mobigen.control.action_map import action_to_decision
from mobigen.control.observation import OBS_BOUND, obs_dim, observe
from mobigen.scenario import Scenario, resolve
from mobigen.system.slot import Slot, evaluate_decision

ENV_ID = "mobigen/DistributedDenoising-v0"
"""The Gymnasium id, registered by ``import mobigen.workload`` (entry point ``workload.make_env``)."""


class SlotSampler(Protocol):
    """Anything that draws one slot of the scenario's K users from a numpy Generator."""

    def sample(self, rng: np.random.Generator) -> Slot: ...


class DenoisingEnv(gym.Env):
    """One step = one time slot; see the module docstring."""

    metadata = {"render_modes": []}

    def __init__(self, scenario: Scenario | str, sampler: SlotSampler) -> None:
        super().__init__()
        self.scenario = resolve(scenario)
        if not hasattr(sampler, "sample"):
            raise ValueError("sampler must have a sample(rng) -> Slot method")
        self.sampler = sampler
        self.K = self.scenario.num_users
        self.observation_space = gym.spaces.Box(-OBS_BOUND, OBS_BOUND, shape=(obs_dim(self.K),), dtype=np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(2 * self.K,), dtype=np.float32)
        self._slot: Slot | None = None
        self._t = 0

    @property
    def slot(self) -> Slot:
        """The slot the next action decides."""
        if self._slot is None:
            raise RuntimeError("call reset() first")
        return self._slot

    def _draw(self) -> Slot:
        slot = self.sampler.sample(self.np_random)
        if slot.K != self.K:
            raise ValueError(f"sampler returned a slot with K = {slot.K}, scenario has num_users = {self.K}")
        return slot

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self._t = 0
        self._slot = self._draw()
        return observe(self._slot), {}

    def step(self, action):
        slot = self.slot
        decision = action_to_decision(action, slot)
        out = evaluate_decision(slot, decision)  # eq. (26)
        self._t += 1
        truncated = self._t >= self.scenario.slots_per_episode
        info = {
            "T": decision.T.copy(),
            "e": decision.e.copy(),
            "o": decision.o,
            "edge_steps": int(np.sum(decision.edge_steps)),
            "mean_Q": float(np.mean(out.Q)),
            "satisfied": float(np.mean(out.satisfied)),
            "mean_latency_s": float(np.mean(out.L)),
            "hard_feasible": bool(out.report.hard_feasible),
            "quality_backend": slot.quality_backend,
        }
        self._slot = self._draw()
        return observe(self._slot), float(out.reward), False, truncated, info


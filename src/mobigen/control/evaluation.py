"""Held-out evaluation shared by training (Fig. 13's test reward) and the controller benchmark:
the same seeded slots for every controller, and a CSV + TensorBoard logger."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import numpy as np

from mobigen.control.base import Controller
from mobigen.system.slot import Slot, evaluate_decision

HELDOUT_SEED = 20_250_000
"""Seed of the held-out test slots (never used for training: training seeds are small integers)."""


def heldout_slots(sampler, n: int, seed: int = HELDOUT_SEED) -> list[Slot]:
    """n slots drawn by ``sampler`` from ``np.random.default_rng(seed)`` — identical on every call."""
    if n < 1:
        raise ValueError(f"'n' (held-out slots) must be >= 1, got {n}")
    rng = np.random.default_rng(seed)
    return [sampler.sample(rng) for _ in range(n)]


def mean_reward(controller: Controller, slots: list[Slot]) -> float:
    """Mean eq. (26) reward of the controller's decisions on ``slots``."""
    return float(np.mean([evaluate_decision(s, controller.decide(s)).reward for s in slots]))


class EvalLog:
    """Test reward vs environment steps, written to ``<out>/<name>.csv`` and TensorBoard ``<out>/tb``."""

    FIELDS = ("env_steps", "test_reward", "test_reward_vs_exact", "wall_s", "quality_backend")

    def __init__(self, out_dir: str | Path, name: str, exact_reward: float | None = None, tensorboard: bool = True,
                 quality_backend: str = "unknown") -> None:
        self.out = Path(out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.csv_path = self.out / f"{name}.csv"
        self.exact = exact_reward
        self.quality_backend = quality_backend
        self._t0 = time.perf_counter()
        with self.csv_path.open("w", newline="") as fh:
            csv.writer(fh).writerow(self.FIELDS)
        self._tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(self.out / "tb" / name))
        self.rows: list[dict] = []

    def log(self, env_steps: int, test_reward: float, **scalars: float) -> dict:
        ratio = test_reward / self.exact if self.exact else float("nan")
        row = {"env_steps": env_steps, "test_reward": test_reward, "test_reward_vs_exact": ratio,
               "wall_s": time.perf_counter() - self._t0, "quality_backend": self.quality_backend}
        with self.csv_path.open("a", newline="") as fh:
            csv.writer(fh).writerow([row[k] for k in self.FIELDS])
        if self._tb is not None:
            self._tb.add_scalar("test/reward", test_reward, env_steps)
            if self.exact:
                self._tb.add_scalar("test/reward_vs_exact", ratio, env_steps)
            for k, v in scalars.items():
                self._tb.add_scalar(f"train/{k}", v, env_steps)
        self.rows.append(row)
        return row

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()

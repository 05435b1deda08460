"""A generic slot sampler for control tests: any scenario, a small parametric quality model.

Not the project's quality model (that is ``mobigen.workload`` / ``mobigen.conditions``); it has the
``QualityModel`` interface and the shape the paper reports (quality rises with T and saturates,
with α and β, and varies with the request's difficulty), so the controllers face the same kind of
slot. Backend name: "synthetic-test".
"""

from __future__ import annotations

import numpy as np

from mobigen.scenario import ALPHAS, BETAS, CONDITIONS, Scenario, resolve
from mobigen.system.slot import Slot, SystemParams, quality_tables


class SyntheticQuality:
    """q = base(λ) + 0.1α + 0.08β + gain(λ)·(1 − exp(−(T−5)/τ)) + difficulty, clipped to [0, 1]."""

    backend = "synthetic-test"

    base_I = np.array([0.55, 0.52, 0.45, 0.42])
    base_T = np.array([0.42, 0.45, 0.52, 0.55])
    gain = np.array([0.22, 0.2, 0.25, 0.24])

    def scores(self, condition, alpha, beta, steps, difficulty=None):
        c = np.asarray(condition, dtype=np.int64)
        sat = 1.0 - np.exp(-(np.asarray(steps, dtype=float) - 5.0) / 7.0)
        d = 0.0 if difficulty is None else np.asarray(difficulty, dtype=float)
        extra = 0.1 * np.asarray(alpha) + 0.08 * np.asarray(beta) + d
        q_I = np.clip(self.base_I[c] + extra + self.gain[c] * sat, 0.0, 1.0)
        q_T = np.clip(self.base_T[c] + extra + 0.9 * self.gain[c] * sat, 0.0, 1.0)
        return q_I, q_T


class SyntheticSampler:
    """Draws slots of ``scenario`` (every user's ν, ω, Q̃, B and difficulty) from a Generator."""

    def __init__(self, scenario: Scenario | str = "paper", quality=None) -> None:
        self.scenario = resolve(scenario)
        self.params = SystemParams.from_scenario(self.scenario)
        self.quality = quality or SyntheticQuality()

    def sample(self, rng: np.random.Generator) -> Slot:
        sc = self.scenario
        K = sc.num_users
        cond = rng.integers(0, len(CONDITIONS), size=K)
        alpha = rng.choice(np.array(ALPHAS), size=K)
        beta = rng.choice(np.array(BETAS), size=K)
        diff = rng.normal(0.0, 0.03, size=K)
        q_I, q_T = quality_tables(self.quality, cond, alpha, beta, self.params.steps_values, diff)
        f_dev = np.array(sc.f_devices)
        return Slot(
            params=self.params, condition=cond, alpha=alpha, beta=beta,
            condition_bytes=4000.0 + 80000.0 * alpha**2 * beta,
            omega_I=rng.uniform(0, 1, K), qoe_threshold=rng.uniform(*sc.qoe_threshold_range, K),
            f_device=f_dev, device_budget=np.array(sc.device_budgets_flops),
            uplink_bps=rng.uniform(*sc.uplink_mbps_range, K) * 1e6,
            downlink_bps=rng.uniform(*sc.downlink_mbps_range, K) * 1e6,
            extraction_s=sc.extraction_flops_ratio * sc.eps0_flops / f_dev,
            q_I=q_I, q_T=q_T, quality_backend=self.quality.backend, difficulty=diff,
        )


def one_torch_thread():
    """Context for tests: torch on one thread (two threads on 2 shared cores spin-wait badly)."""
    import contextlib

    import torch

    @contextlib.contextmanager
    def ctx():
        n = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(n)

    return ctx()

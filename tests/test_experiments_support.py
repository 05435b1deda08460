"""Test helper for the experiments tests: slots built here from a small closed-form quality model.

It is not the surrogate (that lives in ``mobigen.conditions``); it only gives the experiments code
slots with the right shapes and plausible trends (quality rises with T and with α, β; edge types score
higher on q^I, depth/seg on q^T), so metrics, baselines and reports can be tested without other
packages. Its backend is named "test" so nothing here can pass for a real number.
"""

from __future__ import annotations

import numpy as np

from mobigen.scenario import Scenario, preset
from mobigen.system import Slot, SystemParams, quality_tables


class ClosedFormQuality:
    """q = base(λ) · (0.8 + 0.2·fidelity(α, β)) · (0.75 + 0.25·(1 − e^{−T/8})) − 0.05·difficulty."""

    backend = "test"

    _BASE_I = np.array([0.95, 0.93, 0.80, 0.78])
    _BASE_T = np.array([0.80, 0.82, 0.95, 0.93])

    def scores(self, condition, alpha, beta, steps, difficulty=None):
        c = np.asarray(condition)
        fid = 0.5 * np.asarray(alpha, float) + 0.5 * np.asarray(beta, float)
        ramp = 0.75 + 0.25 * (1.0 - np.exp(-np.asarray(steps, float) / 8.0))
        d = 0.0 if difficulty is None else 0.05 * np.asarray(difficulty, float)
        q_I = self._BASE_I[c] * (0.8 + 0.2 * fid) * ramp - d
        q_T = self._BASE_T[c] * (0.8 + 0.2 * fid) * ramp - d
        return np.clip(q_I, 0, 1), np.clip(q_T, 0, 1)


def condition_bytes(alpha: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """A plausible JPEG size of a 512² condition at (α, β) (bytes)."""
    return 60_000.0 * np.asarray(alpha) ** 2 * (0.2 + np.asarray(beta)) + 500.0


def make_slot(seed: int, scenario: "str | Scenario" = "paper", *, condition=None, alpha=None, beta=None) -> Slot:
    """A seeded slot of ``scenario`` (a preset name or a Scenario; request draws as in its open choices)."""
    sc = scenario if isinstance(scenario, Scenario) else preset(scenario)
    p = SystemParams.from_scenario(sc)
    K = sc.num_users
    rng = np.random.default_rng(seed)
    omega = rng.uniform(0, 1, K)
    thr = rng.uniform(*sc.qoe_threshold_range, K)
    up = rng.uniform(*sc.uplink_mbps_range, K) * 1e6
    down = rng.uniform(*sc.downlink_mbps_range, K) * 1e6
    diff = rng.normal(0, 1, K)
    cond = np.where(omega > 0.5, 1, 2) if condition is None else np.broadcast_to(condition, (K,)).astype(np.int64)
    a = np.full(K, 0.5) if alpha is None else np.broadcast_to(alpha, (K,)).astype(float)
    b = np.full(K, 0.6) if beta is None else np.broadcast_to(beta, (K,)).astype(float)
    q_I, q_T = quality_tables(ClosedFormQuality(), cond, a, b, p.steps_values, diff)
    f = np.array(sc.f_devices)
    return Slot(
        params=p, condition=cond, alpha=a, beta=b, condition_bytes=condition_bytes(a, b), omega_I=omega,
        qoe_threshold=thr, f_device=f, device_budget=np.array(sc.device_budgets_flops, dtype=float),
        uplink_bps=up, downlink_bps=down, extraction_s=sc.extraction_flops_ratio * sc.eps0_flops / f,
        q_I=q_I, q_T=q_T, quality_backend="test", difficulty=diff,
    )


def test_helper_slot_is_seeded():
    a, b = make_slot(3), make_slot(3)
    assert np.array_equal(a.q_I, b.q_I) and np.array_equal(a.uplink_bps, b.uplink_bps)
    assert not np.array_equal(a.omega_I, make_slot(4).omega_I)


# ---- a small profile and a MethodBuilder on it (for methods/runner tests without the shipped files) ----

def small_profile(n_images: int = 4):
    """A ProfileTable over Table I's full (λ, α, β) grid for a few real DreamBooth image names, with bytes and
    fidelities from closed forms (edges react more to α, depth to β). Test data only."""
    import pandas as pd

    from mobigen.scenario import ALPHAS, BETAS, CONDITIONS
    from mobigen.system.profile import ProfileTable

    rng = np.random.default_rng(0)
    images = ["backpack/00.jpg", "cat/00.jpg", "dog/00.jpg", "clock/00.jpg", "can/00.jpg"][:n_images]
    sens = {"canny": (0.5, 0.15), "hed": (0.3, 0.3), "depth": (0.15, 0.5), "seg": (0.3, 0.3)}
    rows = []
    for im in images:
        for c in CONDITIONS:
            sa, sb = sens[c]
            scale = 40_000 if c in ("canny", "hed") else 20_000
            for a in ALPHAS:
                for b in BETAS:
                    rows.append(dict(image=im, condition=c, alpha=a, beta=b, codec="jpeg",
                                     bytes=scale * a * a * (0.15 + b * b) + 300 + rng.uniform(0, 200),
                                     fidelity=1 - sa * (1 - a) ** 1.5 - sb * (1 - b) ** 1.5 - rng.uniform(0, 0.01),
                                     extract_s=0.05))
    return ProfileTable(pd.DataFrame(rows), {"note": "test profile"})


def small_builder(seed: int = 0, dqn_steps: int = 300):
    """A MethodBuilder on ``small_profile`` with the real sampler, VCE and surrogate; Exact stands in for the
    DDC checkpoint (the registry's, when present, is tested by the end-to-end CLI test)."""
    import functools

    from mobigen.conditions.config_table import config_table
    from mobigen.conditions.quality_surrogate import SurrogateQuality
    from mobigen.conditions.vce import VCE
    from mobigen.control.exact import ExactController
    from mobigen.experiments.runner import MethodBuilder
    from mobigen.workload import SlotSampler

    table = config_table(small_profile())
    quality = SurrogateQuality(table=table)

    @functools.lru_cache(maxsize=8)
    def vce_factory(sc):
        return VCE(table, quality, sc)

    def sampler_factory(sc, chooser=None, vce=None):
        return SlotSampler(sc, vce=vce or vce_factory(sc), chooser=chooser)

    def controller_factory(name, sc):
        return ExactController()

    return MethodBuilder(seed=seed, dqn_steps=dqn_steps, sampler_factory=sampler_factory,
                         controller_factory=controller_factory, vce_factory=vce_factory)

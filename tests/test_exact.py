"""The exact DP optimum against brute-force enumeration through ``evaluate_decision``."""

import itertools

import numpy as np
import pytest

from _slots import SyntheticSampler
from mobigen.control.exact import ExactController, solve
from mobigen.control.random_controller import RandomController
from mobigen.experiments.metrics import account
from mobigen.scenario import Scenario
from mobigen.system.slot import Decision, evaluate_decision


def brute_force(slot):
    p = slot.params
    opts = [(T, e) for T in p.steps_values for e in range(T + 1)]
    best = -np.inf
    for combo in itertools.product(opts, repeat=slot.K):
        T = np.array([c[0] for c in combo])
        e = np.array([c[1] for c in combo])
        r = evaluate_decision(slot, Decision(T=T, e=e)).reward
        best = max(best, r)
    return best


@pytest.mark.parametrize("K", [1, 2, 3])
def test_exact_matches_brute_force(K):
    rng = np.random.default_rng(100 + K)
    for trial in range(3):
        # small step range so enumeration is cheap; tight budgets so every penalty term is active
        sc = Scenario(name="tiny", num_users=K, steps_min=2, steps_max=5,
                      edge_budget_steps=float(rng.integers(1, 4 * K)),
                      device_budget_ratios=tuple(rng.uniform(0.0, 0.5, 5)),
                      qoe_threshold_range=(0.7, 0.95), latency_threshold_s=float(rng.uniform(1.0, 6.0)))
        slot = SyntheticSampler(sc).sample(rng)
        sol = solve(slot)
        assert evaluate_decision(slot, sol.decision).reward == pytest.approx(sol.reward, abs=1e-9)
        assert sol.reward == pytest.approx(brute_force(slot), abs=1e-9)


def test_exact_beats_random_on_paper():
    sampler = SyntheticSampler("paper")
    rng = np.random.default_rng(0)
    ex, rnd = ExactController(), RandomController(0)
    for _ in range(20):
        slot = sampler.sample(rng)
        r_ex = evaluate_decision(slot, ex.decide(slot)).reward
        for _ in range(5):
            assert r_ex >= evaluate_decision(slot, rnd.decide(slot)).reward - 1e-9


def test_exact_scales_to_k11():
    slot = SyntheticSampler("users-11").sample(np.random.default_rng(1))
    sol = solve(slot)
    assert sol.decision.T.shape == (11,)
    assert evaluate_decision(slot, sol.decision).reward == pytest.approx(sol.reward)


def test_no_raw_decision_beats_exact():
    # the DP searches integer (T, e) pairs; any ratio o in (0, 1], converted once by Decision.from_ratio, does no better
    sampler = SyntheticSampler("paper")
    rng = np.random.default_rng(7)
    for _ in range(10):
        slot = sampler.sample(rng)
        best = solve(slot).reward
        p = slot.params
        for _ in range(100):
            T = rng.integers(p.steps_min, p.steps_max + 1, size=slot.K)
            o = rng.choice([rng.uniform(1e-6, 1.0), 1.0, 1e-6, 0.999999], size=slot.K)
            assert evaluate_decision(slot, Decision.from_ratio(T, o)).reward <= best + 1e-9


def test_ratio_a_hair_below_one_cannot_beat_exact():
    # issue 15: o = 1 − 1e-12 used to count e = T edge steps but pay the latent downlink, beating Exact on
    # every slot. Now it is the same decision as e = T: the image comes down and the reward is Exact's.
    sampler = SyntheticSampler("paper")
    rng = np.random.default_rng(15)
    n_full = 0
    for _ in range(200):
        slot = sampler.sample(rng)
        sol = solve(slot)
        d = sol.decision
        o = np.where(d.full_offload, 1.0 - 1e-12, d.o)
        near = evaluate_decision(slot, Decision.from_ratio(d.T, o))
        assert near.reward == pytest.approx(sol.reward, abs=1e-9)
        full = d.full_offload
        n_full += int(full.sum())
        image_s = 8.0 * slot.params.image_bytes / slot.downlink_bps
        np.testing.assert_allclose(near.denoise.downlink_s[full], image_s[full])
        everyone = evaluate_decision(slot, Decision.from_ratio(d.T, np.full(slot.K, 1.0 - 1e-12)))
        assert everyone.reward <= sol.reward + 1e-9
        np.testing.assert_allclose(everyone.denoise.downlink_s, image_s)
        rec = account(slot, everyone.decision, everyone, slot_index=0)  # the simulator's per-request bytes
        np.testing.assert_array_equal(rec.downlink_bytes, slot.params.image_bytes)
    assert n_full > 100  # Exact offloads fully often enough that the check is not vacuous

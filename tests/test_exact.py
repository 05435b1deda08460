"""The exact DP optimum against brute-force enumeration through ``evaluate_decision``."""

import itertools

import numpy as np
import pytest

from _slots import SyntheticSampler
from mobigen.control.action_map import offload_for_edge_steps
from mobigen.control.exact import ExactController, solve
from mobigen.control.random_controller import RandomController
from mobigen.scenario import Scenario
from mobigen.system.slot import Decision, evaluate_decision


def brute_force(slot):
    p = slot.params
    opts = [(T, e) for T in p.steps_values for e in range(T + 1)]
    best = -np.inf
    for combo in itertools.product(opts, repeat=slot.K):
        T = np.array([c[0] for c in combo])
        e = np.array([c[1] for c in combo])
        r = evaluate_decision(slot, Decision(T=T, o=offload_for_edge_steps(T, e))).reward
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
    # the DP searches canonical o only (action_map.offload_for_edge_steps); any o in (0, 1] must do no better
    sampler = SyntheticSampler("paper")
    rng = np.random.default_rng(7)
    for _ in range(10):
        slot = sampler.sample(rng)
        best = solve(slot).reward
        p = slot.params
        for _ in range(100):
            T = rng.integers(p.steps_min, p.steps_max + 1, size=slot.K)
            o = rng.choice([rng.uniform(1e-6, 1.0), 1.0, 1e-6, 0.999999], size=slot.K)
            assert evaluate_decision(slot, Decision(T=T, o=o)).reward <= best + 1e-9

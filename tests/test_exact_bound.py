"""The bounded exact DP (issue 14, point 7) against the unbounded DP and an independent MILP (HiGHS).

The MILP builds every user's values through ``evaluate_decision`` alone (one user moved away from
a base decision at a time), so it shares no code with ``control.exact`` beyond the system model."""

import numpy as np
import pytest
from scipy.optimize import Bounds, LinearConstraint, milp

from _slots import SyntheticSampler
from mobigen.control.exact import _knapsack, edge_cap, solve, user_values
from mobigen.scenario import Scenario, resolve
from mobigen.system.slot import Decision, evaluate_decision


def milp_optimum(slot):
    """max Σ_k Δ_k(T_k, e_k) − δ₁ s, s ≥ Σ e_k − B, s ≥ 0, one (T, e) per user (binary x)."""
    p, K = slot.params, slot.K
    B, d1 = float(p.edge_budget_steps), float(p.delta[0])
    T0 = np.full(K, p.steps_min)
    base = evaluate_decision(slot, Decision(T=T0, e=np.zeros(K, dtype=np.int64))).reward
    opts = [(T, e) for T in p.steps_values for e in range(T + 1)]
    gain, steps, owner = [], [], []
    for k in range(K):
        for T, e in opts:
            Tk, ek = T0.copy(), np.zeros(K, dtype=np.int64)
            Tk[k], ek[k] = T, e
            r = evaluate_decision(slot, Decision(T=Tk, e=ek)).reward
            gain.append(r - base + d1 * max(0.0, e - B))  # user k's own change; the δ₁ term goes to s
            steps.append(e)
            owner.append(k)
    n = len(gain)
    c = -np.append(gain, -d1)  # minimise −(Σ Δ x − δ₁ s)
    one_each = np.zeros((K, n + 1))
    one_each[owner, np.arange(n)] = 1.0
    over = np.append(np.asarray(steps, float), -1.0)[None, :]  # Σ e x − s ≤ B
    res = milp(c, integrality=np.append(np.ones(n), 0.0), bounds=Bounds(0, np.append(np.ones(n), np.inf)),
               constraints=[LinearConstraint(one_each, 1, 1), LinearConstraint(over, -np.inf, B)],
               options={"mip_rel_gap": 0.0})
    assert res.success, res.message
    return base - res.fun


def _tiny_scenario(rng, K, steps_max=8):
    return Scenario(name="tiny", num_users=K, steps_min=3, steps_max=steps_max,
                    edge_budget_steps=float(rng.integers(1, 3 * K + 2)),
                    device_budget_ratios=tuple(rng.uniform(0.0, 0.5, 5)),
                    qoe_threshold_range=(0.7, 0.95), latency_threshold_s=float(rng.uniform(1.0, 6.0)))


@pytest.mark.parametrize("K", [2, 4, 7])
def test_exact_matches_milp(K):
    rng = np.random.default_rng(700 + K)
    for _ in range(2):
        slot = SyntheticSampler(_tiny_scenario(rng, K)).sample(rng)
        sol = solve(slot)
        assert sol.reward == pytest.approx(milp_optimum(slot), abs=1e-6)
        assert evaluate_decision(slot, sol.decision).reward == pytest.approx(sol.reward, abs=1e-9)


@pytest.mark.parametrize("K", [5, 11, 50, 64])
def test_bounded_dp_equals_unbounded(K):
    # the same decision (ties broken alike), reward and E as the DP over every E, on paper-like slots
    sc = resolve("paper").replace(name=f"k{K}", num_users=K)
    rng = np.random.default_rng(14 + K)
    for trial in range(4):
        budget = [60.0, 5.0, 30.0 * K, 0.5][trial]  # binding, very tight, never binding, below one step
        slot = SyntheticSampler(sc.replace(edge_budget_steps=budget)).sample(rng)
        a, b = solve(slot), solve(slot, bound=False)
        np.testing.assert_array_equal(a.decision.T, b.decision.T)
        np.testing.assert_array_equal(a.decision.e, b.decision.e)
        assert a.reward == b.reward and a.edge_steps == b.edge_steps
        assert a.edge_steps <= a.e_cap <= b.e_cap


def test_edge_cap_is_sound_on_random_values():
    # arbitrary (non-concave) w: the best reward beyond the cap is strictly below the optimum
    rng = np.random.default_rng(3)
    cut = 0
    for trial in range(300):
        K, n_e = int(rng.integers(1, 9)), int(rng.integers(2, 10))
        w = np.cumsum(rng.normal(0.0, rng.uniform(0.01, 0.5), (K, n_e)), axis=1)
        full = K * (n_e - 1)
        d1 = float(rng.uniform(0.0, 0.6))
        budget = float(rng.uniform(0, full / 4 if trial % 2 else full + 1))  # half of them: a binding budget
        cap = edge_cap(w, d1, budget)
        f, _ = _knapsack(w, full)
        total = f - d1 * np.maximum(0.0, np.arange(len(f)) - budget)
        assert int(np.argmax(total)) <= cap
        if cap + 1 < len(total):
            assert total[cap + 1:].max() < total.max()
            cut += 1
    assert cut > 50  # the bound really truncated the E axis often enough for the check to mean something


def test_user_values_match_evaluate_decision():
    slot = SyntheticSampler("users-11").sample(np.random.default_rng(5))
    v, Tg = user_values(slot)
    rng = np.random.default_rng(6)
    p = slot.params
    for _ in range(20):  # eq. (26) with the δ₁ term off is the sum of the users' values
        T = rng.integers(p.steps_min, p.steps_max + 1, slot.K)
        e = np.array([rng.integers(0, t + 1) for t in T])
        out = evaluate_decision(slot, Decision(T=T, e=e))
        d1_term = p.delta[0] * max(0.0, e.sum() - p.edge_budget_steps)
        mine = v[np.arange(slot.K), T - p.steps_min, e].sum()
        assert mine == pytest.approx(out.reward + d1_term, abs=1e-9)


def test_bench_exact_cli(tmp_path, capsys):
    import json

    from mobigen.cli import main

    out = tmp_path / "exact.json"
    assert main(["bench", "exact", "--users", "3,7", "--slots", "4", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert [row["K"] for row in r["rows"]] == [3, 7]
    assert all(row["disagreements"] == 0 and row["bounded_ms_p50"] > 0 for row in r["rows"])
    assert r["target"]["p50_ms"] is None  # K = 64 not measured
    assert "bounded E axis" in capsys.readouterr().out
    assert main(["bench", "exact", "--slots", "0"]) == 2

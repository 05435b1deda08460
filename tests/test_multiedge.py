"""The M-edge model and its controllers (issue 11): one edge is today's model; the MILP oracle equals
brute force; the fast controller is never above the oracle nor below its baseline starts."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from mobigen.control.exact import solve
from mobigen.control.multiedge import make_multiedge_controller
from mobigen.control.multiedge.baselines import RandomAssociation, best_channel, least_loaded
from mobigen.control.multiedge.oracle import OracleController
from mobigen.control.multiedge.values import edge_rewards, edge_values
from mobigen.scenario import ScenarioError, format_scenario, parse_scenario, preset
from mobigen.system import Decision, evaluate_decision
from mobigen.system.multiedge import MultiDecision, MultiEdgeSlot, evaluate_multi, with_edges
from mobigen.workload import SlotSampler
from mobigen.workload_multiedge import MultiEdgeSampler

HETERO = ({"edge_budget_steps": 4.0}, {"edge_budget_steps": 9.0, "edge_step_time_s": 0.2, "uplink_scale": 0.5})
"""Two unlike edge sites with tight budgets, so the penalty (12) binds in the tiny slots."""


def _tiny(K: int, steps_max: int, edges=HETERO):  # noqa: ANN001, ANN202
    return preset("paper").replace(name="tiny", num_users=K, steps_min=5, steps_max=steps_max, edges=edges)


@pytest.fixture(scope="module")
def sampler_8x2() -> MultiEdgeSampler:
    return MultiEdgeSampler(with_edges(preset("users-8"), 2))


def test_one_edge_sampler_is_todays_sampler():
    a = MultiEdgeSampler(preset("users-6")).sample(np.random.default_rng(4))
    b = SlotSampler(preset("users-6")).sample(np.random.default_rng(4))
    assert a.M == 1
    for name in ("condition", "alpha", "beta", "condition_bytes", "omega_I", "qoe_threshold", "uplink_bps",
                 "downlink_bps", "q_I", "q_T", "f_device", "device_budget"):
        assert np.array_equal(getattr(a.base, name), getattr(b, name)), name
        assert np.array_equal(getattr(a.edge_slot(0), name), getattr(b, name)), name
    assert a.edge_slot(0).params == b.params


def test_one_edge_reproduces_the_system_model_and_the_exact_controller():
    sampler = SlotSampler(preset("users-7"))
    rng = np.random.default_rng(0)
    for _ in range(3):
        slot = sampler.sample(rng)
        ms = MultiEdgeSlot.single(slot)
        T = rng.integers(5, 31, size=slot.K)
        d = Decision(T=T, e=rng.integers(0, T + 1))
        assert evaluate_multi(ms, MultiDecision(edge=np.zeros(slot.K, dtype=np.int64), decision=d)).reward == \
            pytest.approx(evaluate_decision(slot, d).reward, abs=1e-12)
        best = solve(slot).reward
        for name in ("oracle", "fast", "least-loaded"):
            md = make_multiedge_controller(name, preset("users-7")).decide(ms)
            assert evaluate_multi(ms, md).reward == pytest.approx(best, abs=1e-9), name


def test_reward_is_the_sum_over_edges_with_each_edges_links_and_budget(sampler_8x2):
    ms = sampler_8x2.sample(np.random.default_rng(1))
    rng = np.random.default_rng(2)
    T = rng.integers(5, 31, size=ms.K)
    d = Decision(T=T, e=T)  # full offload: budgets (12) bind
    edge = np.array([0, 1, 1, 0, 1, 1, 1, 0])
    out = evaluate_multi(ms, MultiDecision(edge=edge, decision=d))
    total = 0.0
    for m in range(2):
        u = np.flatnonzero(edge == m)
        sub = evaluate_decision(ms.edge_slot(m, u), Decision(T=T[u], e=T[u]))
        total += sub.reward
        assert np.allclose(out.L[u], sub.L)
        assert sub.report.edge_budget_steps == pytest.approx(max(0.0, T[u].sum() - 60.0))
    assert out.reward == pytest.approx(total)
    # the uplink term (2) uses the associated edge's link: moving user 1 to edge 0 changes its L¹ accordingly
    moved = edge.copy()
    moved[1] = 0
    out2 = evaluate_multi(ms, MultiDecision(edge=moved, decision=d))
    up_delta = 8 * ms.base.condition_bytes[1] * (1 / ms.uplink_bps[1, 0] - 1 / ms.uplink_bps[1, 1])
    down_delta = 8 * 350_000 * (1 / ms.downlink_bps[1, 0] - 1 / ms.downlink_bps[1, 1])
    assert out2.L[1] - out.L[1] == pytest.approx(up_delta + down_delta)


def test_an_idle_edge_costs_nothing(sampler_8x2):
    ms = sampler_8x2.sample(np.random.default_rng(3))
    d = Decision(T=np.full(ms.K, 10), e=np.zeros(ms.K, dtype=np.int64))
    out = evaluate_multi(ms, MultiDecision(edge=np.zeros(ms.K, dtype=np.int64), decision=d))
    assert out.per_edge[1] is None
    assert out.reward == pytest.approx(evaluate_decision(ms.edge_slot(0), d).reward)


def _brute_force(ms: MultiEdgeSlot) -> float:
    p = ms.edges[0]
    options = [(m, T, e) for m in range(ms.M) for T in range(p.steps_min, p.steps_max + 1) for e in range(T + 1)]
    best = -np.inf
    for combo in itertools.product(options, repeat=ms.K):
        edge, T, e = (np.array(x, dtype=np.int64) for x in zip(*combo))
        best = max(best, evaluate_multi(ms, MultiDecision(edge=edge, decision=Decision(T=T, e=e))).reward)
    return best


@pytest.mark.parametrize(("K", "steps_max", "edges"), [(2, 7, HETERO), (3, 5, HETERO),
                                                       (2, 6, HETERO + ({"edge_budget_steps": 2.0},))])
def test_oracle_equals_brute_force_on_tiny_slots(K, steps_max, edges):
    sampler = MultiEdgeSampler(_tiny(K, steps_max, edges))
    rng = np.random.default_rng(K)
    for _ in range(2):
        ms = sampler.sample(rng)
        got = evaluate_multi(ms, OracleController().decide(ms)).reward
        assert got == pytest.approx(_brute_force(ms), abs=1e-9)


def test_edge_rewards_equal_the_exact_dp(sampler_8x2):
    ms = sampler_8x2.sample(np.random.default_rng(5))
    ev = edge_values(ms)
    sets = [np.arange(8), np.array([1, 4]), np.array([], dtype=np.int64), np.array([0, 2, 3, 7])]
    got = edge_rewards([ev.w[u, 1] for u in sets], np.full(len(sets), 60.0), ev.delta1)
    want = [solve(ms.edge_slot(1, u)).reward if u.size else 0.0 for u in sets]
    assert np.allclose(got, want, atol=1e-9)


def test_fast_lies_between_its_baseline_starts_and_the_oracle():
    sc = _tiny(6, 12, HETERO + ({"edge_budget_steps": 10.0, "downlink_scale": 2.0},))
    sampler = MultiEdgeSampler(sc)
    rng = np.random.default_rng(7)
    ctrl = {n: make_multiedge_controller(n, sc) for n in ("oracle", "fast", "best-channel", "least-loaded")}
    for _ in range(4):
        ms = sampler.sample(rng)
        r = {n: evaluate_multi(ms, c.decide(ms)).reward for n, c in ctrl.items()}
        assert r["fast"] <= r["oracle"] + 1e-9
        assert r["fast"] >= max(r["best-channel"], r["least-loaded"]) - 1e-9
        assert r["oracle"] >= max(r.values()) - 1e-9


def test_baseline_associations(sampler_8x2):
    ms = sampler_8x2.sample(np.random.default_rng(6))
    t = 8 * ms.base.condition_bytes[:, None] / ms.uplink_bps + 8 * 32_768 / ms.downlink_bps
    assert np.array_equal(best_channel(ms), np.argmin(t, axis=1))
    assert np.bincount(least_loaded(ms), minlength=2).tolist() == [4, 4]
    a, b = RandomAssociation(3)(ms), RandomAssociation(3)(ms)
    assert np.array_equal(a, b) and set(a.tolist()) <= {0, 1}
    md = make_multiedge_controller("random", with_edges(preset("users-8"), 2), seed=3).decide(ms)
    assert np.array_equal(md.x(2).sum(axis=1), np.ones(8))


def test_heterogeneous_links_follow_the_edge_scales():
    sc = _tiny(40, 8)
    ms = MultiEdgeSampler(sc).sample(np.random.default_rng(0))
    assert np.all((ms.uplink_bps[:, 1] >= 2.5e6) & (ms.uplink_bps[:, 1] <= 10e6))
    assert np.all((ms.uplink_bps[:, 0] >= 5e6) & (ms.uplink_bps[:, 0] <= 20e6))
    assert np.allclose(ms.base.uplink_bps, ms.uplink_bps.max(axis=1))  # VCE chose ν with the best uplink
    assert ms.edges[1].f_edge == pytest.approx(sc.eps0_flops / 0.2)
    assert ms.edges[0].edge_budget_steps == pytest.approx(4.0)


def test_bad_inputs_name_the_field(sampler_8x2):
    ms = sampler_8x2.sample(np.random.default_rng(0))
    d = Decision(T=np.full(8, 10), e=np.zeros(8, dtype=np.int64))
    with pytest.raises(ValueError, match="'edge'"):
        evaluate_multi(ms, MultiDecision(edge=np.full(8, 2), decision=d))
    with pytest.raises(ValueError, match="'edge'"):
        MultiDecision(edge=np.zeros(8), decision=d)
    with pytest.raises(ValueError, match="'uplink_bps'"):
        MultiEdgeSlot(base=ms.base, edges=ms.edges, uplink_bps=ms.uplink_bps[:, :1], downlink_bps=ms.downlink_bps)
    with pytest.raises(ScenarioError, match="'edges'"):
        preset("paper").replace(edges=[{"edge_budget_steps": -1.0}])
    with pytest.raises(ScenarioError, match="'edges'"):
        preset("paper").replace(edges=[{"speed": 1.0}])
    with pytest.raises(ValueError, match="unknown name"):
        make_multiedge_controller("nearest")


@pytest.mark.parametrize("fmt", ["toml", "yaml", "json"])
def test_scenario_with_edges_round_trips(fmt):
    sc = _tiny(4, 9)
    assert parse_scenario(format_scenario(sc, fmt), fmt) == sc
    assert "edges" not in preset("paper").to_dict()  # one-edge files are unchanged


def test_fast_ddc_says_when_it_is_not_ddc(sampler_8x2):
    ctrl = make_multiedge_controller("fast+ddc", with_edges(preset("users-8"), 2))
    md = ctrl.decide(sampler_8x2.sample(np.random.default_rng(0)))
    assert md.edge.shape == (8,)
    if ctrl.fallback_reason is not None:
        assert "checkpoint" in ctrl.fallback_reason


def test_bench_multiedge_cli_writes_the_report(tmp_path):
    import json

    from mobigen.cli import main

    out = tmp_path / "me.json"
    assert main(["bench", "multiedge", "--slots", "2", "--timing-slots", "2", "--scaling-slots", "1",
                 "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert {c["edges_kind"] for c in res["cases"]} == {"same", "mixed"}
    for case in res["cases"]:
        assert case["policies"]["oracle"]["reward_vs_oracle"] == pytest.approx(1.0)
        for p in case["policies"].values():  # nothing beats the exact joint optimum
            assert p["min_reward_vs_oracle"] <= 1.0 + 1e-9
    assert [r["users"] for r in res["scaling"]] == [11, 22, 44]
    assert set(res["timing"]["p50_ms"]) >= {"fast", "best-channel", "least-loaded", "random"}
    assert main(["bench", "multiedge", "--slots", "0"]) != 0


def test_evaluate_sweep_points_and_intervals():
    from mobigen.experiments.multiedge import run_sweep

    sw = run_sweep(slots=2, users=(10, 22), edges=(1, 2), policies=("fast", "random"))
    assert [(p.users, p.edges, p.policy) for p in sw.points] == [
        (10, 1, "fast"), (22, 1, "fast"), (10, 2, "fast"), (10, 2, "random"), (22, 2, "fast"), (22, 2, "random")]
    for p in sw.points:
        assert 0.0 <= p.satisfaction.lo <= p.satisfaction.mean <= p.satisfaction.hi <= 1.0
        assert p.round_latency_s.mean >= p.latency_s

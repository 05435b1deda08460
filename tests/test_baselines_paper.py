"""The paper's benchmarks (Sec. VI-A.3): OQC+'s SCA, SemGen's DQN and equal steps, AaaS's raw upload and
user steps, Random — each against hand-checked behaviour or an independent brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from test_experiments_support import ClosedFormQuality, condition_bytes, make_slot

from mobigen.experiments.baselines.aaas import (
    UserStepsEdgeController,
    edge_extraction_s,
    load_raw_table,
    measure_png_bytes,
    png_bytes,
)
from mobigen.experiments.baselines.oqc import OQCController, upper_concave_envelope
from mobigen.experiments.baselines.random_method import RandomController
from mobigen.experiments.baselines.semgen import EqualStepsEdgeController, SemGenPolicy, equal_steps
from mobigen.scenario import preset
from mobigen.settings import dataset_dir
from mobigen.system import evaluate_decision, transfer_time_s

# ---- OQC+ ------------------------------------------------------------------------------------------


def test_upper_concave_envelope_bounds_and_touches():
    rng = np.random.default_rng(0)
    x = np.arange(5, 31, dtype=float)
    y = np.log(x) + rng.normal(0, 0.05, x.size)
    b, a = upper_concave_envelope(x, y)
    env = np.min(a[:, None] + b[:, None] * x[None, :], axis=0)
    assert np.all(env >= y - 1e-12)  # an upper bound of every point
    assert np.isclose(env[0], y[0]) and np.isclose(env[-1], y[-1])  # touches the end points
    assert np.all(np.diff(b) <= 1e-12)  # slopes decrease: concave


def _oqc_objective(slot, T, edge):
    """OQC's per-slot objective, written independently of the SCA (module docstring of oqc.py)."""
    p = slot.params
    Q = slot.Q_table[np.arange(slot.K), T - p.steps_min]
    up = transfer_time_s(slot.condition_bytes, slot.uplink_bps)
    img = transfer_time_s(p.image_bytes, slot.downlink_bps)
    L = slot.extraction_s + np.where(edge, up + img + p.eps0 / p.f_edge * T, p.eps0 / slot.f_device * T)
    d3, d4 = p.delta[2], p.delta[3]
    return float(np.sum(Q - p.eta * L - d3 * np.maximum(0, slot.qoe_threshold - Q)
                        - d4 * np.maximum(0, L - p.latency_threshold_s)))


def _brute_force(slot):
    p = slot.params
    best = -np.inf
    for edge in itertools.product([False, True], repeat=slot.K):
        e = np.array(edge)
        for T in itertools.product(p.steps_values, repeat=slot.K):
            T = np.array(T)
            if T[e].sum() > p.edge_budget / p.eps0 + 1e-9 or np.any(T[~e] > slot.device_budget[~e] / p.eps0 + 1e-9):
                continue
            best = max(best, _oqc_objective(slot, T, e))
    return best


TIGHT = preset("users-3").replace(edge_budget_steps=22.0, steps_max=14, device_budget_ratios=(0.2, 0.3, 0.5, 0.3, 0.2))
"""K = 3 with a tight edge budget, so that some users must generate locally (small enough to enumerate)."""


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_oqc_sca_matches_brute_force_on_small_slots(seed):
    slot = make_slot(seed, TIGHT)
    c = OQCController()
    d = c.decide(slot)
    assert c.last_sca.binary
    edge = ~c.last_local_only
    assert 0 < edge.sum() < slot.K  # the instance really forces a mix of edge and local users
    assert _oqc_objective(slot, d.T, edge) >= _brute_force(slot) - 1e-3


@pytest.mark.parametrize("seed", range(5))
def test_oqc_decision_is_binary_and_within_budgets(seed):
    slot = make_slot(seed)
    c = OQCController()
    d = c.decide(slot)
    out = evaluate_decision(slot, d)
    assert out.report.hard_feasible  # (11)-(13)
    local = c.last_local_only
    assert np.all(d.edge_steps[local] == 0) and np.all(d.o[~local] == 1.0)  # binary offloading
    # user 1 of Table I (C_k = 1.2 steps < steps_min) can never generate locally
    assert not local[0]


# ---- Random -------------------------------------------------------------------------------------------


def test_random_controller_ranges_and_seed():
    slot = make_slot(0)
    a = RandomController(7)
    ds = [a.decide(slot) for _ in range(50)]
    T = np.concatenate([d.T for d in ds])
    o = np.concatenate([d.o for d in ds])
    assert T.min() >= 5 and T.max() <= 30 and len(np.unique(T)) > 10
    assert np.all((o > 0) & (o <= 1))  # eq. (11)
    b = RandomController(7)
    assert all(np.array_equal(x.T, b.decide(slot).T) for x in ds[:5])


# ---- SemGen ---------------------------------------------------------------------------------------------


def test_equal_steps_split_the_edge_budget():
    assert equal_steps(preset("paper")) == 12  # ⌊60 / 5⌋
    assert equal_steps(preset("users-11")) == 5  # ⌊60 / 11⌋
    slot = make_slot(0)
    d = EqualStepsEdgeController(preset("paper")).decide(slot)
    assert np.all(d.T == 12) and np.all(d.o == 1.0)
    assert evaluate_decision(slot, d).report.hard_feasible


def _semgen_setup(eta: float):
    """Paper scenario with a large η so that downscaling pays off at low bandwidth; test-model bytes."""
    sc = preset("paper").replace(eta_per_s=eta)

    def mean_bytes(c, a, b):
        return float(condition_bytes(np.array(a), np.array(b)))

    return sc, mean_bytes


def test_semgen_dqn_learns_the_bandwidth_dependent_alpha():
    # With η = 2 /s the best α moves from 0.25 (5 Mbps) to 0.75 (20 Mbps): the DQN must learn that trade.
    # Its greedy regret over a bandwidth grid must be far below a uniformly random α's.
    from mobigen.experiments.baselines.semgen import build_tables, semgen_reward
    from mobigen.system import SystemParams

    sc, mb = _semgen_setup(2.0)
    tables = build_tables(sc, ClosedFormQuality(), mb)
    params = SystemParams.from_scenario(sc)
    ups = np.linspace(5e6, 20e6, 16)
    for metric, name in ((0, "DS"), (1, "IR")):
        pol = SemGenPolicy.train(sc, ClosedFormQuality(), mb, steps=800, seed=0, metric=name)
        regret, random_regret, best_alphas = [], [], set()
        # ω is ignored: SemGen serves every user with its one metric
        cond, alpha, beta = pol.choose(np.linspace(0, 1, ups.size), ups)
        assert np.all(beta == 1.0)  # SemGen never lowers the codec quality
        assert np.all(cond == tables.condition_for_metric[metric])
        for up, a in zip(ups, alpha):
            r = np.array([semgen_reward(tables, params, metric, j, up) for j in range(len(tables.alphas))])
            best_alphas.add(tables.alphas[int(np.argmax(r))])
            regret.append(r.max() - r[tables.alphas.index(a)])
            random_regret.append(r.max() - r.mean())
        assert len(best_alphas) >= 3  # the optimum really depends on the bandwidth
        assert np.mean(regret) < 0.3 * np.mean(random_regret), name
    # the condition follows the metric: the test model scores canny highest on DS, depth on IR
    assert tables.condition_for_metric == (0, 2)


def test_semgen_dqn_is_deterministic():
    sc, mb = _semgen_setup(2.0)
    a = SemGenPolicy.train(sc, ClosedFormQuality(), mb, steps=300, seed=3).greedy_table()
    b = SemGenPolicy.train(sc, ClosedFormQuality(), mb, steps=300, seed=3).greedy_table()
    assert a == b


def test_semgen_rejects_tiny_training():
    sc, mb = _semgen_setup(0.01)
    with pytest.raises(ValueError, match="steps"):
        SemGenPolicy.train(sc, ClosedFormQuality(), mb, steps=10, seed=0)
    with pytest.raises(ValueError, match="metric"):
        SemGenPolicy.train(sc, ClosedFormQuality(), mb, steps=200, seed=0, metric="QoE")


# ---- AaaS ------------------------------------------------------------------------------------------------


def test_aaas_user_steps_scaled_to_the_edge_budget():
    slot = make_slot(0)
    c = UserStepsEdgeController()
    c.request(np.array([30, 30, 20, 10, 10]))  # Σ = 100 > C_E = 60
    d = c.decide(slot)
    assert d.T.sum() <= 60 and np.all(d.o == 1.0)
    assert list(d.T) == [18, 18, 12, 6, 6]  # ⌊T · 60/100⌋
    c.request(np.array([5, 5, 30, 30, 30]))  # Σ = 100: ⌊5·0.6⌋ = 3 is clamped up to 5, so Σ must be cut again
    d = c.decide(slot)
    assert d.T.sum() <= 60 and d.T.min() >= 5 and list(d.T[:2]) == [5, 5]
    c.request(np.array([10, 10, 10, 10, 10]))  # under budget: unchanged
    assert list(c.decide(slot).T) == [10] * 5
    with pytest.raises(ValueError, match="request"):
        c.decide(slot)  # one request per slot


def test_aaas_edge_extraction_grows_with_users():
    a, b = edge_extraction_s(preset("users-5"), 5), edge_extraction_s(preset("users-11"), 11)
    assert b > a > 0
    assert a == pytest.approx(5 * 0.8 * 0.11)  # K × 0.8 ε₀ at f_E = ε₀ / 0.11 s


def test_raw_png_table_shipped():
    t = load_raw_table()
    assert len(t) == 158
    v = np.array(list(t.values()))
    assert 150_000 < v.mean() < 600_000  # 512² RGB photographs as PNG


@pytest.mark.shared
def test_raw_png_table_matches_dataset():
    root = dataset_dir()
    if not root.is_dir():
        pytest.skip(f"DreamBooth data set not found at {root}")
    t = load_raw_table()
    for key in sorted(t)[::40]:  # every 40th image: real PNG re-encoding, a few hundred ms
        assert png_bytes(root / key) == t[key], key


def test_measure_png_bytes_on_small_folder(tmp_path):
    from PIL import Image

    (tmp_path / "a").mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "a" / "x.jpg")
    sizes = measure_png_bytes(tmp_path)
    assert list(sizes) == ["a/x.jpg"] and sizes["a/x.jpg"] > 64 * 64  # noisy image: PNG barely compresses
    with pytest.raises(FileNotFoundError):
        measure_png_bytes(tmp_path / "missing")

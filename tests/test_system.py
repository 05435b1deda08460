"""The system model (Section IV): each equation against hand-computed values, plus invariants."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mobigen.scenario import preset
from mobigen.system import (
    Decision,
    Slot,
    SystemParams,
    check_constraints,
    denoise_latency,
    edge_steps,
    evaluate_decision,
    is_full_offload,
    local_steps,
    offload_ratio,
    qoe,
    utility,
    vce_latency,
)

EPS0 = 1.2e12
F_E = EPS0 / 0.11


def make_slot(K=5, *, q_I=0.8, q_T=0.7, omega=0.5, qoe_threshold=0.7, bw=1e7, scenario="paper", seed=None) -> Slot:
    sc = preset(scenario) if K == 5 else preset(f"users-{K}")
    p = SystemParams.from_scenario(sc)
    n_T = len(p.steps_values)
    rng = np.random.default_rng(seed)
    if seed is not None:
        # quality rising with T, different per user: enough variety for property tests
        base_I = rng.uniform(0.4, 0.8, size=(K, 1))
        base_T = rng.uniform(0.4, 0.8, size=(K, 1))
        ramp = np.linspace(0, 0.15, n_T)[None, :]
        qI, qT = base_I + ramp, base_T + ramp
        omega_I = rng.uniform(0, 1, K)
        thr = rng.uniform(0.6, 0.8, K)
        up, down = rng.uniform(5e6, 2e7, K), rng.uniform(5e6, 2e7, K)
    else:
        qI, qT = np.full((K, n_T), q_I), np.full((K, n_T), q_T)
        omega_I, thr = np.full(K, omega), np.full(K, qoe_threshold)
        up = down = np.full(K, bw)
    f = np.array(sc.f_devices)
    return Slot(
        params=p, condition=np.zeros(K, dtype=np.int64), alpha=np.full(K, 0.5), beta=np.full(K, 0.6),
        condition_bytes=np.full(K, 6000.0), omega_I=omega_I, qoe_threshold=thr, f_device=f,
        device_budget=np.array(sc.device_budgets_flops), uplink_bps=up, downlink_bps=down,
        extraction_s=sc.extraction_flops_ratio * sc.eps0_flops / f, q_I=qI, q_T=qT, quality_backend="test",
    )


# ---- hand-computed values -------------------------------------------------------------------------

def test_eq2_vce_latency():
    # 0.5 s extraction + 6000 B at 10 Mbps = 0.5 + 48000/1e7
    assert vce_latency(0.5, 6000, 10e6) == pytest.approx(0.5048)


def test_eq6_partial_offload():
    # T = 20, e = 10: 10 edge steps at 0.11 s, a 32,768 B latent at 8 Mbps, 10 local steps at f_E/4.
    lat = denoise_latency(20, 10, f_device=F_E / 4, f_edge=F_E, eps0=EPS0, downlink_bps=8e6, latent_bytes=32768, image_bytes=350_000)
    assert lat.edge_s == pytest.approx(1.1)
    assert lat.downlink_s == pytest.approx(32768 * 8 / 8e6)
    assert lat.local_s == pytest.approx(4.4)
    assert lat.total_s == pytest.approx(5.532768)


def test_eq7_full_offload_returns_the_image():
    lat = denoise_latency(20, 20, f_device=F_E / 4, f_edge=F_E, eps0=EPS0, downlink_bps=8e6, latent_bytes=32768, image_bytes=350_000)
    assert lat.edge_s == pytest.approx(2.2)
    assert lat.downlink_s == pytest.approx(0.35)
    assert lat.local_s == 0.0
    assert lat.total_s == pytest.approx(2.55)


def test_floor_is_robust_to_float_round_off_and_local_is_the_rest():
    assert edge_steps(10, 0.3) == 3  # 0.3 * 10 = 2.9999999999999996 in floating point
    assert edge_steps(5, 0.5) == 2 and local_steps(5, 2) == 3
    assert edge_steps(7, 0.1) == 0 and local_steps(7, 0) == 7
    np.testing.assert_array_equal(edge_steps([4, 9], [1.0, 0.5]), [4, 4])
    assert edge_steps(10, 1 - 1e-12) == 10 and edge_steps(10, 0.0) == 0


def test_every_stored_ratio_e_over_T_floors_back_to_e():
    # o = e/T stored as a float lands just below e/T for some (T, e); the one rounding must undo that
    T = np.repeat(np.arange(1, 1001), np.arange(2, 1002))
    e = np.concatenate([np.arange(t + 1) for t in range(1, 1001)])
    assert np.any(e / T * T < e)  # the round-off really occurs in this range ...
    np.testing.assert_array_equal(edge_steps(T, e / T), e)  # ... and is undone
    np.testing.assert_array_equal(edge_steps(T, offload_ratio(T, e)), e)  # the canonical o round-trips
    o = offload_ratio(T, e)
    assert np.all((o > 0) & (o <= 1))  # (11)
    np.testing.assert_array_equal(o == 1.0, is_full_offload(T, e))


def test_decision_stores_integer_steps_and_refuses_bad_ones():
    d = Decision(T=np.array([10, 10, 4]), e=np.array([3, 10, 0]))
    assert d.T.dtype == np.int64 and d.e.dtype == np.int64
    np.testing.assert_array_equal(d.o, [0.3, 1.0, 0.125])  # e = 0 → o = 0.5/T, inside (0, 1]
    np.testing.assert_array_equal(d.full_offload, [False, True, False])
    np.testing.assert_array_equal(d.local_steps, [7, 0, 4])
    r = Decision.from_ratio(T=[10, 10, 4], o=[0.3, 1 - 1e-12, 0.0])
    np.testing.assert_array_equal(r.e, d.e)
    for kw, field in [(dict(T=[10], e=[11]), "'e'"), (dict(T=[10], e=[-1]), "'e'"), (dict(T=[0], e=[0]), "'T'"),
                      (dict(T=[10.5], e=[1]), "'T'"), (dict(T=[10], e=[1.5]), "'e'"), (dict(T=[10, 10], e=[1]), "length")]:
        with pytest.raises(ValueError, match=field):
            Decision(**kw)
    for o in (1.5, -0.1, np.nan):
        with pytest.raises(ValueError, match="'o'"):
            Decision.from_ratio(T=[10], o=[o])


def test_eq1_qoe_and_eq8_utility():
    assert qoe(0.7, 0.8, 0.6) == pytest.approx(0.74)
    assert utility(0.74, 5.0, 0.01) == pytest.approx(0.69)


def test_eq26_reward_by_hand():
    slot = make_slot(q_I=0.8, q_T=0.6, omega=0.5, qoe_threshold=0.75, bw=1e7)
    p = slot.params
    # every user: T = 20. User 0 fully offloaded; the others split 10/10 on edge/device.
    dec = Decision(T=np.full(5, 20), e=np.array([20, 10, 10, 10, 10]))
    out = evaluate_decision(slot, dec)
    Q = 0.5 * 0.8 + 0.5 * 0.6  # 0.7 < 0.75: every user short by 0.05 → (14)
    f = slot.f_device
    L1 = slot.extraction_s + 6000 * 8 / 1e7
    L2 = np.array([20 * 0.11 + 350_000 * 8 / 1e7] + [10 * 0.11 + 32768 * 8 / 1e7 + EPS0 * 10 / f[k] for k in range(1, 5)])
    L = L1 + L2
    U = Q - p.eta * L
    edge_excess = max(0, (20 + 4 * 10) - 60)  # (12): 60 ≤ 60 → 0
    dev_budget = np.array([1 / 50, 1 / 10, 1 / 5, 1 / 10, 1 / 5]) * 60
    dev_excess = np.maximum(0, np.array([0, 10, 10, 10, 10]) - dev_budget)  # (13): users 1, 3 exceed 6 steps by 4
    lat_excess = np.maximum(0, L - 10.0)
    expected = U.sum() - 0.15 * edge_excess - 0.15 * dev_excess.sum() - 0.6 * 5 * 0.05 - 0.1 * lat_excess.sum()
    np.testing.assert_allclose(out.Q, Q)
    np.testing.assert_allclose(out.L, L)
    assert out.reward == pytest.approx(expected)
    kinds = [(v.constraint, v.user) for v in out.report.violations()]
    assert ("(13)", 1) in kinds and ("(13)", 3) in kinds and ("(12)", None) not in kinds
    assert sum(1 for c, _ in kinds if c == "(14)") == 5
    assert not out.satisfied.any()


def test_edge_budget_violation_is_reported_in_steps():
    slot = make_slot()
    out = evaluate_decision(slot, Decision(T=np.full(5, 30), e=np.full(5, 30)))  # 150 edge steps > 60
    assert out.report.edge_budget_steps == pytest.approx(90.0)
    assert not out.report.hard_feasible


def test_full_offload_is_e_equals_T_everywhere_in_the_model():
    # a ratio a hair below 1 is e = T: charged the image downlink (eq. 7) and no local steps, never the latent
    slot = make_slot(bw=1e7)
    near = evaluate_decision(slot, Decision.from_ratio(T=np.full(5, 10), o=np.full(5, 1 - 1e-12)))
    full = evaluate_decision(slot, Decision(T=np.full(5, 10), e=np.full(5, 10)))
    np.testing.assert_array_equal(near.decision.e, full.decision.e)
    np.testing.assert_allclose(near.denoise.downlink_s, 350_000 * 8 / 1e7)
    np.testing.assert_array_equal(near.denoise.local_s, 0.0)
    assert near.reward == full.reward
    part = evaluate_decision(slot, Decision(T=np.full(5, 10), e=np.full(5, 9)))
    np.testing.assert_allclose(part.denoise.downlink_s, 32768 * 8 / 1e7)  # e < T: the latent


def test_bad_decisions_and_slots_raise_value_errors():
    slot = make_slot()
    with pytest.raises(ValueError, match="'T'"):
        evaluate_decision(slot, Decision(T=np.full(5, 2), e=np.full(5, 2)))
    with pytest.raises(ValueError, match="'o'"):
        Decision.from_ratio(T=np.full(5, 10), o=np.array([np.nan, 1, 1, 1, 1]))
    with pytest.raises(ValueError, match="users"):
        evaluate_decision(slot, Decision(T=np.full(3, 10), e=np.full(3, 10)))
    with pytest.raises(ValueError, match="omega_I"):
        make_slot(omega=1.5)


def test_functions_are_vectorised_over_slots_and_users():
    T = np.array([[10, 20], [30, 5]])
    e = np.array([[5, 20], [6, 0]])
    lat = denoise_latency(T, e, f_device=F_E / 5, f_edge=F_E, eps0=EPS0, downlink_bps=1e7, latent_bytes=32768, image_bytes=350_000)
    assert lat.total_s.shape == (2, 2)
    for i in range(2):
        for j in range(2):
            one = denoise_latency(T[i, j], e[i, j], f_device=F_E / 5, f_edge=F_E, eps0=EPS0, downlink_bps=1e7, latent_bytes=32768, image_bytes=350_000)
            assert lat.total_s[i, j] == pytest.approx(float(one.total_s))


# ---- invariants (hypothesis) ------------------------------------------------------------------------

steps = st.integers(min_value=1, max_value=60)
ratios = st.floats(min_value=1e-3, max_value=1.0)
rates = st.floats(min_value=1e5, max_value=1e9)
sizes = st.floats(min_value=0, max_value=1e7)


def _L(T, o, bw=1e7, latent=32768, image=350_000, f=F_E / 3):
    return float(denoise_latency(T, edge_steps(T, o), f_device=f, f_edge=F_E, eps0=EPS0, downlink_bps=bw, latent_bytes=latent, image_bytes=image).total_s)


@given(T=steps, o=ratios)
def test_latency_non_decreasing_in_steps(T, o):
    assert _L(T + 1, o) >= _L(T, o) - 1e-12


@given(T=steps, o=ratios, a=sizes, b=sizes, bw=rates)
def test_latency_non_decreasing_in_data_size(T, o, a, b, bw):
    lo, hi = sorted((a, b))
    assert _L(T, o, bw=bw, latent=hi, image=hi) >= _L(T, o, bw=bw, latent=lo, image=lo)
    assert vce_latency(0.1, hi, bw) >= vce_latency(0.1, lo, bw)


@given(T=steps, o=ratios)
def test_edge_latency_zero_iff_no_step_offloaded(T, o):
    e = edge_steps(T, o)
    lat = denoise_latency(T, e, f_device=F_E / 3, f_edge=F_E, eps0=EPS0, downlink_bps=1e7, latent_bytes=32768, image_bytes=350_000)
    assert (float(lat.edge_s) == 0.0) == (int(e) == 0)
    assert int(e) + int(local_steps(T, e)) == T
    assert (float(lat.local_s) == 0.0) == bool(is_full_offload(T, e))


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), T=st.lists(st.integers(5, 30), min_size=5, max_size=5),
       o=st.lists(st.floats(0.01, 1.0), min_size=5, max_size=5))
def test_reward_equals_utility_sum_iff_every_constraint_holds(seed, T, o):
    slot = make_slot(seed=seed)
    out = evaluate_decision(slot, Decision.from_ratio(T=np.array(T), o=np.array(o)))
    if out.report.feasible:
        assert out.reward == pytest.approx(float(out.U.sum()))
    else:
        assert out.reward < float(out.U.sum())


def test_check_constraints_zero_when_all_hold():
    p = SystemParams.from_scenario(preset("paper"))
    rep = check_constraints(T=np.full(5, 10), e=np.full(5, 10), Q=np.full(5, 0.9), L=np.full(5, 3.0),
                            qoe_threshold=np.full(5, 0.7), device_budget=np.zeros(5), params=p)
    assert rep.feasible and rep.violations() == []


def test_budget_round_off_is_not_a_violation():
    # C_E = 8 ε₀ built as a float product is 7.99999999999998 ε₀; 8 edge steps meet it.
    p = SystemParams.from_scenario(preset("paper"))
    p = SystemParams(**{**p.__dict__, "edge_budget": 9599999999999.982, "steps_min": 8, "steps_max": 8})
    rep = check_constraints(T=np.array([8]), e=np.array([8]), Q=np.ones(1), L=np.ones(1), qoe_threshold=np.zeros(1),
                            device_budget=np.array([7 * EPS0 * (1 - 1e-15)]), params=p)
    assert rep.hard_feasible, rep.violations()
    rep = check_constraints(T=np.array([9]), e=np.array([9]), Q=np.ones(1), L=np.ones(1), qoe_threshold=np.zeros(1),
                            device_budget=np.zeros(1), params=p)
    assert rep.edge_budget_steps == pytest.approx(1.0)

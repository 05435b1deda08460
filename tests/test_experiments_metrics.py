"""Section VI metrics: per-request accounting against the system model, summaries, KB units."""

from __future__ import annotations

import numpy as np
import pytest
from test_experiments_support import make_slot

from mobigen.experiments.metrics import (
    account,
    bootstrap_ci,
    per_user,
    records_frame,
    serial_edge_completion,
    summarize,
)
from mobigen.system import Decision, evaluate_decision


def _decision():
    # user 0 all on the edge (image back), users 1-4 split (latent back), user 4 fully local (e = 0)
    return Decision.from_ratio(T=np.array([10, 12, 14, 10, 8]), o=np.array([1.0, 0.5, 0.5, 0.3, 0.05]))


def test_account_matches_system_model():
    slot = make_slot(0)
    d = _decision()
    out = evaluate_decision(slot, d)
    rec = account(slot, d, out, slot_index=3, repairs=2)
    np.testing.assert_allclose(rec.latency_s, out.L)  # the five parts add up to L_k (eqs. 2, 6, 7)
    np.testing.assert_allclose(rec.extraction_s + rec.uplink_s, out.vce_s)
    assert rec.uplink_bytes.tolist() == slot.condition_bytes.tolist()
    assert rec.downlink_bytes.tolist() == [350_000, 32_768, 32_768, 32_768, 32_768]
    assert rec.edge_steps.tolist() == [10, 6, 7, 3, 0] and rec.local_steps.tolist() == [0, 6, 7, 7, 8]
    np.testing.assert_array_equal(rec.satisfied, out.satisfied)
    assert rec.repairs == 2 and rec.slot_index == 3


def test_account_local_only_drops_transfers():
    slot = make_slot(0)
    d = _decision()
    out = evaluate_decision(slot, d)
    lo = np.array([False, False, False, False, True])
    rec = account(slot, d, out, slot_index=0, local_only=lo)
    assert rec.uplink_bytes[4] == 0 and rec.downlink_bytes[4] == 0
    assert rec.uplink_s[4] == 0 and rec.downlink_s[4] == 0
    assert rec.latency_s[4] == pytest.approx(slot.extraction_s[4] + out.denoise.local_s[4])
    with pytest.raises(ValueError, match="edge steps"):
        account(slot, d, out, slot_index=0, local_only=np.array([True, False, False, False, False]))


def test_summaries_units_and_rates():
    slots = [make_slot(s) for s in range(4)]
    d = _decision()
    recs = [account(s, d, evaluate_decision(s, d), slot_index=i) for i, s in enumerate(slots)]
    f = records_frame(recs)
    assert len(f) == 20
    s = summarize(f, latency_threshold_s=10.0)
    sat = np.mean(np.concatenate([r.satisfied for r in recs]))
    assert s["satisfaction"] == pytest.approx(sat)
    assert s["uplink_kb"] == pytest.approx(np.mean([r.uplink_bytes for r in recs]) / 1000.0)  # 1 KB = 1000 B
    assert s["downlink_kb"] == pytest.approx((350_000 + 4 * 32_768) / 5 / 1000.0)
    assert s["latency_s"] == pytest.approx(sum(s[p] for p in ("extraction_s", "uplink_s", "edge_s", "downlink_s", "local_s")))
    assert s["round_latency_s"] >= s["latency_s"]
    assert s["slots"] == 4 and s["requests"] == 20
    pu = per_user(f)
    assert list(pu.index) == [0, 1, 2, 3, 4]
    assert pu.loc[0, "downlink_bytes"] == 350_000
    with pytest.raises(ValueError):
        records_frame([])


def test_bootstrap_ci_is_seeded_and_brackets_the_mean():
    v = np.random.default_rng(0).uniform(0, 1, 200)
    a = bootstrap_ci(v, seed=1)
    assert a == bootstrap_ci(v, seed=1)
    assert a[0] < v.mean() < a[1]


# ---- beyond the paper: a serial edge (no edge queueing in eq. 6) ----------------------------------

def test_serial_edge_hand_computed():
    vce = np.array([1.0, 0.5, 0.8])  # L¹_k: user 1 arrives first, then 2, then 0 -> the slot closes at t0 = 1.0
    edge = np.array([2.0, 1.0, 3.0])
    down = np.array([0.1, 0.2, 0.3])
    local = np.array([0.0, 4.0, 1.0])
    # arrival order 1, 2, 0: edge done at 2.0, 5.0, 7.0; + downlink + local
    got = serial_edge_completion(vce, edge, down, local)
    np.testing.assert_allclose(got, [7.0 + 0.1, 2.0 + 0.2 + 4.0, 5.0 + 0.3 + 1.0])
    # shortest edge job first 1, 0, 2: edge done at 2.0, 4.0, 7.0
    sjf = serial_edge_completion(vce, edge, down, local, order="sjf")
    np.testing.assert_allclose(sjf, [4.0 + 0.1, 2.0 + 0.2 + 4.0, 7.0 + 0.3 + 1.0])
    # a local-only user (no edge contact) does not wait for the slot to close nor for the edge
    two = serial_edge_completion(np.array([1.0, 3.0]), np.array([2.0, 0.0]), np.array([0.5, 0.0]),
                                 np.array([1.0, 2.0]), uses_edge=np.array([True, False]))
    np.testing.assert_allclose(two, [1.0 + 2.0 + 0.5 + 1.0, 3.0 + 2.0])


def test_serial_edge_invariants_random():
    rng = np.random.default_rng(7)
    for _ in range(200):
        K = int(rng.integers(1, 9))
        vce, edge, down, local = (rng.uniform(0, 3, K) for _ in range(4))
        edge[rng.uniform(size=K) < 0.2] = 0.0
        mask = rng.uniform(size=K) < 0.8
        edge[~mask] = 0.0
        eq = vce + edge + down + local  # eqs. (2), (6), (7)
        for order in ("arrival", "sjf"):
            c = serial_edge_completion(vce, edge, down, local, uses_edge=mask, order=order)
            assert np.all(c >= eq - 1e-12)
            np.testing.assert_allclose(c[~mask], eq[~mask])
            if mask.any():  # the edge works without pause from the last upload until all its jobs are done
                assert (c - down - local)[mask].max() == pytest.approx(vce[mask].max() + edge[mask].sum())
            if mask.sum() == 1:
                np.testing.assert_allclose(c, eq)


def test_serial_edge_on_records():
    slot = make_slot(0)
    d = _decision()
    rec = account(slot, d, evaluate_decision(slot, d), slot_index=0)
    assert rec.uses_edge.all()  # the paper's split framework: everyone uploads a condition
    for order in ("arrival", "sjf"):
        assert np.all(rec.latency_serial_s(order) >= rec.latency_s - 1e-12)
    assert rec.latency_serial_s().max() > rec.latency_s.max()  # 4 users queue behind each other's edge steps
    # only user 0 contacts the edge (the others generate locally, OQC+-style): equal to eqs. (6)/(7)
    one = Decision.from_ratio(T=np.array([10, 12, 14, 10, 8]), o=np.array([0.5, 0.0, 0.0, 0.0, 0.0]))
    lo = np.array([False, True, True, True, True])
    r1 = account(slot, one, evaluate_decision(slot, one), slot_index=1, local_only=lo)
    assert r1.uses_edge.tolist() == [True, False, False, False, False]
    np.testing.assert_allclose(r1.latency_serial_s(), r1.latency_s)
    np.testing.assert_allclose(r1.latency_serial_s("sjf"), r1.latency_s)
    f = records_frame([rec, r1])
    s = summarize(f, latency_threshold_s=10.0)
    assert s["latency_serial_s"] == pytest.approx(np.mean(np.concatenate([rec.latency_serial_s(), r1.latency_serial_s()])))
    assert s["round_latency_serial_s"] == pytest.approx((rec.latency_serial_s().max() + r1.latency_s.max()) / 2)
    assert s["round_latency_serial_s"] >= s["round_latency_s"] and s["latency_serial_s"] >= s["latency_s"]
    assert s["round_latency_serial_sjf_s"] >= s["round_latency_s"]


def test_serial_edge_bad_input():
    z = np.zeros(3)
    with pytest.raises(ValueError, match="edge_s"):
        serial_edge_completion(z, np.zeros(2), z, z)
    with pytest.raises(ValueError, match="downlink_s"):
        serial_edge_completion(z, z, np.array([0.0, -1.0, 0.0]), z)
    with pytest.raises(ValueError, match="order"):
        serial_edge_completion(z, z, z, z, order="lifo")
    with pytest.raises(ValueError, match="uses_edge"):
        serial_edge_completion(z, np.ones(3), z, z, uses_edge=np.array([True, False, True]))

"""Section VI metrics: per-request accounting against the system model, summaries, KB units."""

from __future__ import annotations

import numpy as np
import pytest
from test_experiments_support import make_slot

from mobigen.experiments.metrics import account, bootstrap_ci, per_user, records_frame, summarize
from mobigen.system import Decision, evaluate_decision


def _decision():
    # user 0 all on the edge (image back), users 1-4 split (latent back), user 4 fully local (e = 0)
    return Decision(T=np.array([10, 12, 14, 10, 8]), o=np.array([1.0, 0.5, 0.5, 0.3, 0.05]))


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

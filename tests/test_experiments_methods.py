"""The compared methods on the real workload sampler, VCE and surrogate (over a small test profile):
same requests for every method, seeded reproducibility, and each method's defining behaviour."""

from __future__ import annotations

import numpy as np
import pytest
from test_experiments_support import small_builder

from mobigen.experiments.baselines.aaas import edge_extraction_s
from mobigen.experiments.runner import METHOD_KEYS, run_methods
from mobigen.scenario import CONDITIONS, preset


@pytest.fixture(scope="module")
def methods():
    b = small_builder()
    return {m.key: m for m in b.build(preset("paper"))}


@pytest.fixture(scope="module")
def frames(methods):
    fr, _ = run_methods(list(methods.values()), 12, seed=5, progress=False)
    return fr


def test_every_method_serves_the_same_requests(frames):
    ref = frames["ours"]
    for k in METHOD_KEYS:
        f = frames[k]
        for col in ("omega_I", "qoe_threshold", "difficulty"):
            np.testing.assert_array_equal(f[col].to_numpy(), ref[col].to_numpy(), err_msg=f"{k}: {col}")


def test_same_seed_same_records(methods, frames):
    again = small_builder()
    fr2, _ = run_methods(again.build(preset("paper")), 12, seed=5, progress=False)
    for k in METHOD_KEYS:
        assert frames[k].equals(fr2[k]), k
    fr3, _ = run_methods([methods["random"]], 12, seed=6, progress=False)
    assert not frames["random"]["omega_I"].equals(fr3["random"]["omega_I"])


def test_aaas_uploads_raw_png_and_extracts_on_the_edge(methods, frames):
    from mobigen.experiments.baselines.aaas import load_raw_table

    m = methods["aaas"]
    raw = load_raw_table()
    _, reqs = m.sampler.sample_with_requests(np.random.default_rng([5, 0]))
    f0 = frames["aaas"][frames["aaas"]["slot"] == 0]
    assert f0["uplink_bytes"].tolist() == [float(raw[r.image]) for r in reqs]
    np.testing.assert_allclose(f0["extraction_s"], edge_extraction_s(preset("paper"), 5))
    f = frames["aaas"]
    assert (f["alpha"] == 1.0).all() and (f["beta"] == 1.0).all()  # uncompressed
    assert (f["edge_steps"] == f["T"]).all() and (f["downlink_bytes"] == 350_000).all()  # all on the edge
    assert f.groupby("slot")["T"].sum().max() <= 60  # C_E


def test_semgen_equal_steps_one_metric(frames, methods):
    f = frames["semgen"]
    assert (f["T"] == 12).all() and (f["edge_steps"] == 12).all() and (f["beta"] == 1.0).all()
    pol = methods["semgen"].chooser.policy
    assert pol.metric == "DS"  # one system-wide metric, whatever each user's ω
    assert (f["condition"] == pol.tables.condition_for_metric[0]).all()


def test_oqc_local_users_transfer_nothing(frames):
    f = frames["oqc"]
    local = f["edge_steps"] == 0
    assert local.any() and (~local).any()
    assert (f.loc[local, "uplink_bytes"] == 0).all() and (f.loc[local, "downlink_bytes"] == 0).all()
    assert (f.loc[~local, "downlink_bytes"] == 350_000).all()  # binary: the edge returns images


def test_random_configurations_vary(frames):
    f = frames["random"]
    assert f["condition"].nunique() == len(CONDITIONS) and f["alpha"].nunique() > 3 and f["beta"].nunique() > 3


def test_every_executed_decision_meets_the_budgets(frames):
    for k in METHOD_KEYS:
        assert frames[k]["slot_hard_feasible"].all(), k


def test_baselines_decide_within_budgets_without_the_guard(frames):
    # SemGen, AaaS and OQC+ respect (12)-(13) by construction: the guard never has to change them
    for k in ("semgen", "aaas", "oqc"):
        assert (frames[k]["slot_repairs"] == 0).all(), k


def test_semgen_dqn_is_trained_once_and_deployed_at_every_user_count():
    from mobigen.experiments.builder import sweep_scenario
    from mobigen.experiments.baselines.semgen import equal_steps

    b = small_builder(dqn_steps=200)
    b.dqn_scenario = preset("paper")
    pols = {n: b.semgen_policy(sweep_scenario(preset("paper"), n)) for n in (7, 5, 11)}
    assert b.dqn_trainings == 1  # trained on the run's base scenario, although K = 7 was asked for first
    assert pols[7].model is pols[5].model is pols[11].model
    for n, pol in pols.items():  # each K keeps its own tables: equal steps ⌊C_E/K⌋
        assert pol.tables.steps == equal_steps(sweep_scenario(preset("paper"), n))
    assert pols[5].tables.steps != pols[11].tables.steps
    b.semgen_policy(preset("paper").replace(uplink_mbps_range=(1.0, 4.0)))  # another state space: trained anew
    assert b.dqn_trainings == 2

"""The batched-edge latency view (issue 14, point 2): the batch-time curve, its model, its place in
the evaluation, and ``mobigen bench edge`` that measures it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from _slots import SyntheticSampler
from mobigen.cli import main
from mobigen.experiments.metrics import account, records_frame, serial_edge_completion, summarize
from mobigen.control.exact import ExactController
from mobigen.scenario import EdgeBatchCurve, ScenarioError, dump_file, load_file, preset
from mobigen.system.batching import BatchTimeModel, batched_edge_completion, shipped_curve
from mobigen.system.slot import evaluate_decision


def curve(times, sizes=None, origin="test curve"):
    sizes = sizes or tuple(range(1, len(times) + 1))
    return EdgeBatchCurve(batch_sizes=tuple(sizes), step_time_s=tuple(float(t) for t in times), origin=origin)


def test_relative_interpolates_and_extends_the_last_segment():
    m = BatchTimeModel(curve((2.0, 3.0, 6.0), sizes=(1, 2, 4)), step_s=0.1)
    np.testing.assert_allclose(m.relative([1, 2, 3, 4, 6]), [1.0, 1.5, 2.25, 3.0, 4.5])
    np.testing.assert_allclose(m.step_time_s(3), 0.225)
    noisy = BatchTimeModel(curve((2.0, 1.6, 1.0)), step_s=0.1)  # a measured t(B) < t(1) is noise: counts as t(1)
    np.testing.assert_allclose(noisy.relative([1, 2, 3, 9]), [1.0, 1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="batch"):
        m.relative(0)
    with pytest.raises(ValueError, match="step_s"):
        BatchTimeModel(curve((1.0, 1.0)), step_s=0.0)


def test_hand_computed_slot():
    # t(B)/t(1) = 1, 1.5, 2 at B = 1, 2, 3; step 0.1 s; uploads end at 1, 2, 3 s -> the slot closes at t0 = 3 s
    m = BatchTimeModel(curve((1.0, 1.5, 2.0)), step_s=0.1)
    done = batched_edge_completion(np.array([1.0, 2.0, 3.0]), np.array([1, 3, 2]), np.array([0.5, 0.5, 0.5]),
                                   np.array([1.0, 0.0, 2.0]), model=m)
    # step 1: 3 users (0.2 s); step 2: users 1 and 2 (0.15 s); step 3: user 1 alone (0.1 s)
    np.testing.assert_allclose(done, [3 + 0.2 + 0.5 + 1.0, 3 + 0.45 + 0.5, 3 + 0.35 + 0.5 + 2.0])


def test_free_batching_is_eq6_after_the_slot_closes_and_no_gain_is_the_serial_edge():
    rng = np.random.default_rng(4)
    for _ in range(20):
        K = int(rng.integers(1, 9))
        vce, down, local = rng.uniform(0.1, 2.0, K), rng.uniform(0, 0.5, K), rng.uniform(0, 3, K)
        e = rng.integers(0, 12, K)
        step = 0.11
        flat = BatchTimeModel(curve((1.0,) * 9), step_s=step)  # a batch costs one user's step
        np.testing.assert_allclose(batched_edge_completion(vce, e, down, local, model=flat),
                                   vce.max() + step * e + down + local)
        linear = BatchTimeModel(curve(tuple(range(1, 10))), step_s=step)  # a batch costs B users' steps
        got = batched_edge_completion(vce, e, down, local, model=linear)
        serial = serial_edge_completion(vce, step * e, down, local)
        assert np.isclose((got - down - local).max(), (serial - down - local).max())  # the last edge finish


def test_local_only_users_do_not_wait_and_bad_input_is_refused():
    m = BatchTimeModel(curve((1.0, 2.0)), step_s=0.1)
    vce, e, z = np.array([1.0, 5.0]), np.array([2, 0]), np.zeros(2)
    done = batched_edge_completion(vce, e, z, np.array([0.0, 4.0]), model=m, uses_edge=np.array([True, False]))
    np.testing.assert_allclose(done, [1.0 + 0.2, 5.0 + 4.0])  # user 1's late upload does not hold user 0
    for kw, word in (({"edge_steps": np.array([1.5, 0])}, "edge_steps"), ({"downlink_s": np.array([-1.0, 0])}, "downlink_s"),
                     ({"uses_edge": np.array([False, True])}, "uses_edge")):
        args = dict(vce_s=vce, edge_steps=e, downlink_s=z, local_s=z, model=m) | kw
        with pytest.raises(ValueError, match=word):
            batched_edge_completion(**args)


def test_curve_validation_names_the_field_and_round_trips_in_a_scenario_file(tmp_path):
    for bad in ({"batch_sizes": (2, 3), "step_time_s": (1.0, 1.0), "origin": "x"},
                {"batch_sizes": (1, 2), "step_time_s": (1.0,), "origin": "x"},
                {"batch_sizes": (1, 2), "step_time_s": (1.0, 1.0), "origin": ""}):
        with pytest.raises(ScenarioError, match="edge_batch_curve"):
            preset("paper").replace(edge_batch_curve=bad)
    sc = preset("paper").replace(edge_batch_curve=curve((0.2, 0.3, 0.5)))
    for suffix in ("toml", "json"):
        path = tmp_path / f"s.{suffix}"
        dump_file(sc, path)
        assert load_file(path) == sc
    assert BatchTimeModel.from_scenario(sc).origin == "test curve"


def test_the_shipped_curve_says_where_it_was_measured():
    c = shipped_curve()
    assert c.origin.startswith("measured by mobigen bench edge") and c.batch_sizes[0] == 1
    assert BatchTimeModel.from_scenario(preset("paper")).curve == c


def test_records_frame_and_summary_carry_the_batched_view():
    sampler = SyntheticSampler("paper")
    rng = np.random.default_rng(2)
    recs = []
    for i in range(6):
        slot = sampler.sample(rng)
        d = ExactController().decide(slot)
        recs.append(account(slot, d, evaluate_decision(slot, d), slot_index=i))
    flat = BatchTimeModel(curve((1.0, 1.0)), step_s=preset("paper").edge_step_time_s)
    frame = records_frame(recs, batch_model=flat)
    s = summarize(frame, 10.0)
    assert s["round_latency_s"] <= s["round_latency_batched_s"] + 1e-12  # the slot-close wait t0 comes on top
    assert s["round_latency_batched_s"] <= s["round_latency_serial_s"] + 1e-12  # free batching beats the queue
    assert "latency_batched_s" not in records_frame(recs)


@pytest.fixture
def _threads():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def test_bench_edge_json_and_curve(tmp_path, capsys, _threads):
    out, cpath = tmp_path / "edge.json", tmp_path / "curve.json"
    rc = main(["bench", "edge", "--json", str(out), "--curve", str(cpath), "--batches", "1,3", "--steps", "3",
               "--edge-steps", "2", "--size", "64", "--repeats", "1", "--conditions", "canny,hed"])
    assert rc == 0
    r = json.loads(out.read_text())
    assert [row["batch"] for row in r["rows"]] == [1, 3]
    one, three = r["rows"]
    assert one["bit_exact"] is True  # a batch of one is the unbatched run
    assert three["max_abs_latent_diff"] <= 2e-4  # tests/test_batched.py's stated tolerance
    assert three["edge_steps_total"] == 6 and three["throughput_ratio"] > 0
    assert r["target"]["throughput_ratio"] is None  # B = 5 was not measured
    c = EdgeBatchCurve(**json.loads(cpath.read_text()))  # the scenario field takes the file as is
    assert c.batch_sizes == (1, 3) and "tiny" in c.origin
    assert "batched vs serial" in capsys.readouterr().out


def test_bench_edge_bad_input_exits_2(capsys):
    assert main(["bench", "edge", "--steps", "2", "--edge-steps", "3"]) == 2
    assert "edge_steps" in capsys.readouterr().err
    assert main(["bench", "edge", "--batches", "0,2"]) == 2


def test_evaluate_reports_the_batched_edge_view(tmp_path):
    from test_experiments_support import small_builder

    from mobigen.experiments.outputs import write_all
    from mobigen.experiments.runner import METHOD_KEYS, EvalConfig, evaluate

    cfg = EvalConfig(slots=6, ablation_slots=3, sweep_slots=3, users=(5,), dqn_steps=200, seed=3)
    ev = evaluate(cfg, builder=small_builder(seed=3), progress=False)
    write_all(ev, tmp_path, "mobigen evaluate (test)")
    r = json.loads((tmp_path / "results.json").read_text())
    origin = shipped_curve().origin
    assert r["meta"]["edge_batch_curve"] == origin  # labelled with where the curve came from
    for k in METHOD_KEYS:
        s, frame = r["methods"][k], ev.frames[k]
        assert s["round_latency_batched_s"] == pytest.approx(frame.groupby("slot")["latency_batched_s"].max().mean())
        assert s["round_latency_batched_s"] >= s["round_latency_s"] - 1e-9  # never faster than eq. (6)
    text = (tmp_path / "report.md").read_text()
    assert "round latency, batched edge s ‡" in text and origin in text
    rows = {c["quantity"]: c for c in r["comparison"]}
    assert rows["round latency, batched edge Ours"]["ours"] == pytest.approx(r["methods"]["ours"]["round_latency_batched_s"])
    assert any(x.startswith("- Beyond the paper: with an edge that runs the slot's users' steps in batches")
               for x in text.splitlines())

"""control.registry.resolve_controller: one place that says whether a controller runs as itself, and the
fallback reporting of the benchmark and `mobigen bench controllers` (a fallen-back controller is labelled,
never scored as itself)."""

import json

import pytest

from _slots import SyntheticSampler, one_torch_thread
from mobigen.control.benchmark import bench_controllers
from mobigen.control.ddc.algorithm import DDCConfig
from mobigen.control.ddc.controller import DDCController
from mobigen.control.ddc.policy import DiffusionPolicy
from mobigen.control.ddc_set.agent import SetDDCAgent, SetDDCConfig
from mobigen.control.ddc_set.controller import SetDDCController
from mobigen.control.evaluation import heldout_slots
from mobigen.control.exact import ExactController
from mobigen.control.observation import obs_dim
from mobigen.control.registry import NAMES, KFallback, resolve_controller
from mobigen.scenario import preset


@pytest.fixture(autouse=True)
def _one_thread():
    with one_torch_thread():
        yield


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """(flat DDC for users-3, set DDC) checkpoints, untrained (the registry does not care how good they are)."""
    out = tmp_path_factory.mktemp("ckpt")
    cfg = DDCConfig(hidden=16)
    flat = DDCController(DiffusionPolicy(obs_dim(3), 3, 26, hidden=16), K=3, steps_min=5, steps_max=30, config=cfg,
                         meta={"scenario": preset("users-3").to_dict()}).save(out / "flat.pt")
    agent = SetDDCAgent(SetDDCConfig(hidden=16, heads=2, layers=1), seed=0)
    set_ = SetDDCController.from_agent(agent, meta={"algo": "ddc-set"}).save(out / "set.pt")
    return flat, set_


def test_names_and_errors(tmp_path):
    assert NAMES == ("ddc", "ddc-flat", "sac", "ppo", "exact", "random")
    assert resolve_controller("exact", "paper")[1] is None
    assert resolve_controller("random", "users-9", seed=1)[1] is None
    with pytest.raises(ValueError, match="unknown name 'dqn'"):
        resolve_controller("dqn", "paper")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        resolve_controller("ddc", "paper", checkpoint=tmp_path / "none.pt")


def test_flat_policy_runs_as_itself_only_where_it_was_trained(checkpoints):
    flat, _ = checkpoints
    ctrl, why = resolve_controller("ddc-flat", "users-3", checkpoint=flat)
    assert why is None and isinstance(ctrl, DDCController) and ctrl.name == "ddc-flat"
    for sc, words in ((preset("users-8"), "K = 3"),
                      (preset("users-3").replace(uplink_mbps_range=(1.0, 5.0)), "uplink_mbps_range")):
        ctrl, why = resolve_controller("ddc-flat", sc, checkpoint=flat)
        assert isinstance(ctrl, KFallback) and words in why and ctrl.ran_as == "exact"
    # a flat checkpoint handed to "ddc" is served as what it is
    ctrl, why = resolve_controller("ddc", "users-8", checkpoint=flat)
    assert isinstance(ctrl, KFallback) and ctrl.name == "ddc-flat" and why


def test_set_policy_never_falls_back(checkpoints):
    _, set_ = checkpoints
    for sc in (preset("users-3"), preset("low-end-24"), preset("paper").replace(edge_budget_steps=120.0),
               preset("users-6").replace(device_compute_ratios=(0.7, 0.05), device_budget_ratios=(0.3, 0.0))):
        ctrl, why = resolve_controller("ddc", sc, checkpoint=set_)
        assert why is None and isinstance(ctrl, SetDDCController)


def test_benchmark_labels_a_fallen_back_controller_and_does_not_score_it(checkpoints):
    flat, set_ = checkpoints
    sc = preset("users-5")
    slots = heldout_slots(SyntheticSampler(sc), 15)
    fell, _ = resolve_controller("ddc-flat", sc, checkpoint=flat)
    ddc, _ = resolve_controller("ddc", sc, checkpoint=set_)
    out = {r["controller"]: r for r in bench_controllers({"ddc-flat": fell, "ddc": ddc, "exact": ExactController()},
                                                          slots)}
    r = out["ddc-flat"]
    assert r["fallback_slots"] == 15 and r["ran_as"] == "exact" and r["slots_by_controller"] == {"exact": 15,
                                                                                               "ddc-flat": 0}
    assert "K = 3" in r["fallback_reason"]
    assert not any(k.startswith("reward") for k in r)  # Exact's reward is never reported as DDC's
    assert out["ddc"]["fallback_slots"] == 0 and out["ddc"]["ran_as"] == "ddc" and "reward_vs_exact" in out["ddc"]


def test_benchmark_counts_partial_fallbacks(checkpoints):
    flat, _ = checkpoints
    ctrl, why = resolve_controller("ddc-flat", "users-3", checkpoint=flat)
    wrapped = KFallback(ctrl, ExactController())  # fits K = 3; other slots are answered by Exact
    slots = heldout_slots(SyntheticSampler("users-3"), 12) + heldout_slots(SyntheticSampler("users-4"), 4)
    r = bench_controllers({"ddc-flat": wrapped}, slots)[0]
    assert r["fallback_slots"] == 4 and r["ran_as"] == "ddc-flat+exact" and "reward" not in r


def test_cli_prints_which_controller_ran(checkpoints, capsys):
    from mobigen.cli import main

    flat, set_ = checkpoints
    rc = main(["bench", "controllers", "--scenario", "users-4", "--slots", "12", "--controllers", "ddc,ddc-flat",
               "--ddc", str(set_), "--ddc-flat", str(flat), "--json", "-", "--no-progress"])
    assert rc == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    by = {r["controller"]: r for r in doc["controllers"]}
    assert by["ddc-flat"]["fallback_slots"] == 12 and by["ddc-flat"]["ran_as"] == "exact"
    assert "reward_vs_exact" not in by["ddc-flat"] and by["ddc"]["fallback_slots"] == 0
    line = next(ln for ln in captured.err.splitlines() if ln.startswith("ddc-flat"))
    assert "ran as exact" in line and "12 of 12 slots" in line and "no score" in line


def test_server_reply_and_metrics_name_the_controller_that_ran(checkpoints):
    from _serving_support import StepQuality, meta_dict
    from mobigen.serving.decision import SlotDecider
    from mobigen.serving.schemas import GenerateMeta
    from mobigen.serving.slotting import SlotRequest
    from mobigen.system.slot import SystemParams

    flat, _ = checkpoints
    sc = preset("paper")
    ctrl, why = resolve_controller("ddc-flat", sc, checkpoint=flat)  # a K = 3 policy on a K = 5 server
    assert why is not None
    decider = SlotDecider(sc, SystemParams.from_scenario(sc), ctrl, StepQuality())
    reqs = [SlotRequest(GenerateMeta(**meta_dict(device_type=k % 5)), 5000) for k in range(2)]
    sd = decider.decide(0, reqs)
    assert sd.controller_name.startswith("exact (fallback: ddc-flat") and "K = 3" in sd.controller_name
    from mobigen.serving.metrics import ServerMetrics

    m = ServerMetrics()
    m.slots_decided.labels(ran_as=sd.controller_name.split(" ")[0]).inc()
    assert b'mobigen_slots_decided_total{ran_as="exact"} 1.0' in m.render()

"""Registry, training driver, benchmark and Fig. 13 on tiny budgets (synthetic test slots)."""

import json

import numpy as np
import pytest

from _slots import SyntheticSampler, one_torch_thread
from mobigen.control.base import Controller
from mobigen.control.benchmark import bench_controllers
from mobigen.control.ddc.algorithm import DDCConfig
from mobigen.control.env import DenoisingEnv
from mobigen.control.evaluation import heldout_slots
from mobigen.control.exact import ExactController
from mobigen.control.fig13 import load_curves, log_backends, plot_fig13
from mobigen.control.random_controller import RandomController
from mobigen.control.registry import KFallback, make_controller, resolve_controller
from mobigen.control.training import train
from mobigen.scenario import preset
from mobigen.system.slot import evaluate_decision



@pytest.fixture(autouse=True)
def _one_thread():
    with one_torch_thread():
        yield

def test_registry_basics():
    assert isinstance(make_controller("exact", "paper"), ExactController)
    r = make_controller("random", "paper", seed=3)
    assert isinstance(r, Controller) and r.name == "random"
    with pytest.raises(ValueError, match="unknown"):
        make_controller("dqn", "paper")
    with pytest.raises(FileNotFoundError):
        make_controller("ddc", "paper", checkpoint="/nonexistent/ddc.pt")


def test_random_controller_is_seeded():
    slot = SyntheticSampler("paper").sample(np.random.default_rng(0))
    a, b = RandomController(5), RandomController(5)
    for _ in range(3):
        np.testing.assert_array_equal(a.decide(slot).o, b.decide(slot).o)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny DDC training run on users-3 (K = 3), shared by the tests below: (scenario, result, out dir)."""
    out = tmp_path_factory.mktemp("ddc")
    sc = preset("users-3")
    env = DenoisingEnv(sc, SyntheticSampler(sc))
    cfg = DDCConfig(hidden=32, batch_size=32, learning_starts=50)
    with one_torch_thread():
        res = train("ddc", env, steps=200, seed=0, out_dir=out, eval_slots=20, eval_every=100,
                    ddc_config=cfg, progress=False, tensorboard=True)
    return sc, res, out


def test_train_writes_checkpoint_tensorboard_csv_and_summary(trained):
    _, res, out = trained
    assert res.checkpoint.is_file() and (out / "tb").is_dir()
    rows = (out / "ddc_seed0.csv").read_text().splitlines()
    assert rows[0].startswith("env_steps,test_reward") and len(rows) == 1 + 3  # steps 0, 100, 200
    summary = json.loads((out / "ddc_seed0.json").read_text())
    assert summary["quality_backend"] == "synthetic-test"


def test_registry_falls_back_to_exact_for_another_K(trained, caplog):
    _, res, _ = trained
    slot5 = SyntheticSampler("paper").sample(np.random.default_rng(0))
    wrapped, why = resolve_controller("ddc-flat", preset("paper"), checkpoint=res.checkpoint)
    assert isinstance(wrapped, KFallback) and "K = 3" in why and wrapped.ran_as == "exact"
    with caplog.at_level("WARNING"):
        d = wrapped.decide(slot5)  # K = 5 slot, K = 3 policy: Exact answers, with a warning
    assert "answering with exact" in caplog.text and wrapped.n_fallback == 1
    np.testing.assert_array_equal(d.T, ExactController().decide(slot5).T)
    np.testing.assert_array_equal(d.e, ExactController().decide(slot5).e)


def test_registry_falls_back_to_exact_out_of_distribution(trained):
    sc, res, _ = trained
    other = sc.replace(name="users-3-tight", edge_budget_steps=30.0)  # same K, other budgets: out of distribution
    tight = make_controller("ddc-flat", other, checkpoint=res.checkpoint)
    assert isinstance(tight, KFallback) and "edge_budget_steps" in tight.reason
    slot3 = SyntheticSampler(other).sample(np.random.default_rng(0))
    np.testing.assert_array_equal(tight.decide(slot3).T, ExactController().decide(slot3).T)


def test_bench_controllers_compares_with_exact_and_reports_errors(trained):
    sc, res, _ = trained
    ddc, why = resolve_controller("ddc-flat", sc, checkpoint=res.checkpoint)
    assert why is None  # trained on this scenario: runs as itself
    slots = heldout_slots(SyntheticSampler(sc), 30)
    with one_torch_thread():
        out = bench_controllers({"ddc": ddc, "exact": ExactController(), "random": RandomController(0),
                                 "sac": FileNotFoundError("no checkpoint")}, slots)
    by = {r["controller"]: r for r in out}
    assert by["exact"]["reward_vs_exact"] == pytest.approx(1.0)
    assert "error" in by["sac"]
    for name in ("ddc", "random"):
        r = by[name]
        assert r["reward"] <= by["exact"]["reward"] + 1e-9
        assert r["violations_after_guard"] == 0
        for key in ("reward_vs_exact", "violations", "latency_ms_p50", "latency_ms_p99"):
            assert key in r
    assert by["random"]["violations"] > 0


def test_fig13_plots_the_logged_curves_with_their_backend(trained, tmp_path):
    sc, _, out = trained
    logs = tmp_path / "logs"
    logs.mkdir()
    for seed in (0, 1):  # two seeds of the same curve
        (logs / f"ddc_seed{seed}.csv").write_text((out / "ddc_seed0.csv").read_text())
    slots = heldout_slots(SyntheticSampler(sc), 30)
    exact_mean = float(np.mean([evaluate_decision(s, ExactController().decide(s)).reward for s in slots]))
    curves = load_curves(logs)
    assert list(curves["ddc"]["n_seeds"]) == [2, 2, 2]
    png = plot_fig13(logs, tmp_path / "fig13.png", exact_mean=exact_mean)
    assert png.stat().st_size > 1000
    assert log_backends(logs) == "synthetic-test"  # the label comes from the logs, not a default


def test_cli_rejects_bad_arguments(tmp_path, capsys):
    from mobigen.cli import main

    assert main(["train", "ddc", "--steps", "0", "--out", str(tmp_path)]) == 2
    assert "--steps" in capsys.readouterr().err
    assert main(["bench", "controllers", "--controllers", "ddc,dqn", "--slots", "5"]) == 2
    assert "dqn" in capsys.readouterr().err
    assert main(["bench", "controllers", "--slots", "0"]) == 2
    assert "--slots" in capsys.readouterr().err
    assert main(["train", "ddc", "--steps", "1", "--eval-slots", "0", "--out", str(tmp_path)]) == 2
    assert "--eval-slots" in capsys.readouterr().err
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["train", "sac", "--steps", "1", "--out", str(f / "sub")]) == 2  # refused before training
    assert "--out" in capsys.readouterr().err
    assert main(["bench", "controllers", "--slots", "2", "--controllers", "ddc", "--ddc", str(tmp_path / "no.pt")]) == 2
    assert "--ddc" in capsys.readouterr().err  # a checkpoint the user named must exist ...
    assert main(["bench", "controllers", "--slots", "2", "--controllers", "ddc", "--ddc", str(f)]) == 2
    assert "--ddc" in capsys.readouterr().err  # ... and load
    assert main(["bench", "controllers", "--slots", "2", "--controllers", "exact", "--json", str(tmp_path)]) == 2
    assert "--json" in capsys.readouterr().err

"""`mobigen evaluate`: the output folder (results.json, report.md, figures), determinism, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError
from test_experiments_support import small_builder

import mobigen
from mobigen.cli import main
from mobigen.experiments.outputs import write_all
from mobigen.experiments.results import SCHEMA_VERSION, PointSummary, ResultsFile
from mobigen.experiments.runner import METHOD_KEYS, EvalConfig, evaluate

REQUIRED = ("satisfaction", "qoe", "q_I", "q_T", "uplink_kb", "downlink_kb", "latency_s")


def _strip_runtime(r: dict) -> dict:
    return {k: v for k, v in r.items() if k != "runtime"}


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("eval")
    cfg = EvalConfig(slots=8, ablation_slots=4, sweep_slots=4, users=(5, 7), dqn_steps=300, seed=1)
    ev = evaluate(cfg, builder=small_builder(seed=1), progress=False)
    figs = write_all(ev, out, "mobigen evaluate (test)")
    return out, ev, figs


def test_output_folder_is_complete(small_run):
    out, ev, figs = small_run
    r = json.loads((out / "results.json").read_text())
    for k in METHOD_KEYS:
        assert all(key in r["methods"][k] for key in REQUIRED), k
        assert r["methods"][k]["quality_backend"] == "surrogate"
    for name in ("Fig. 9", "Fig. 10", "Fig. 11(a)", "Fig. 11(b)", "Fig. 12(a)", "Fig. 12(b)", "Fig. 14", "Fig. 15(a)",
                 "Fig. 15(b)"):
        p = Path(figs[name])
        assert p.is_file() and p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    assert set(r["fig12a"]) == {"All Canny", "All HED", "All Depth", "All Seg", "Random", "VCE"}
    assert set(r["fig12b"]) == {"None", "Resolution only", "Quality only", "Both"}
    assert set(r["fig14"]["series"]) == set(METHOD_KEYS) and set(r["fig15b"]["series"]) == {"oqc", "ours"}
    assert r["paper"]["satisfaction"]["ours"] == 0.91
    assert ev.results.runtime.dqn_trainings == 1  # SemGen's DQN: once per run, though main and Fig. 14 use K = 5, 7
    rows = {c["quantity"]: c for c in r["comparison"]}
    ours = rows["satisfaction Ours (surrogate)"]
    assert ours["paper"] == 0.91 and ours["ours"] == pytest.approx(r["methods"]["ours"]["satisfaction"])
    assert r["claims"] and all(isinstance(c["holds"], bool) for c in r["claims"])
    # Fig. 15(a): only SD-v1.5 is evaluated; no number is invented for the other families
    fam = dict(r["fig15a"]["families"])
    assert fam["SD-v1.5"] == "evaluated" and all(v != "evaluated" for k, v in fam.items() if k != "SD-v1.5")


def test_serial_edge_latency_is_reported(small_run):
    # beyond the paper: round latency with a serial edge, in results.json, the main table and one sentence
    out, ev, _ = small_run
    r = json.loads((out / "results.json").read_text())
    for k in METHOD_KEYS:
        s = r["methods"][k]
        assert s["latency_serial_s"] >= s["latency_s"] - 1e-9 and s["round_latency_serial_s"] >= s["round_latency_s"] - 1e-9
        frame = ev.frames[k]
        assert s["round_latency_serial_s"] == pytest.approx(frame.groupby("slot")["latency_serial_s"].max().mean())
    text = (out / "report.md").read_text()
    assert "round latency, serial edge s †" in text
    o, a = r["methods"]["ours"], r["methods"]["aaas"]
    line = next(x for x in text.splitlines() if "the paper's eq. (6) has no edge queueing. With a serial edge" in x)
    assert line.startswith("- Beyond the paper:")
    assert f"{o['round_latency_serial_s']:.2f} s for Ours and {a['round_latency_serial_s']:.2f} s for AaaS" in line
    assert "9.5 s and 10.53 s" in line
    rows = {c["quantity"]: c for c in r["comparison"]}
    assert rows["round latency, serial edge Ours"]["ours"] == pytest.approx(o["round_latency_serial_s"])
    assert rows["round latency, serial edge Ours"]["paper"] == 9.5


def test_report_labels_quality_numbers(small_run):
    out, ev, _ = small_run
    text = (out / "report.md").read_text()
    for label in ("Random", "SemGen", "AaaS", "OQC+", "Ours", "Exact"):
        assert f"| {label} |" in text
    assert "Quality backend: surrogate" in text and "satisfaction (surrogate)" in text
    assert "91.0%" in text  # the paper's number beside ours
    assert "## What this run confirms and what it does not" in text


def test_same_seed_same_results(small_run):
    _, ev, _ = small_run
    cfg = ev.config
    again = evaluate(cfg, builder=small_builder(seed=cfg.seed), progress=False)
    assert json.dumps(ev.results.without_runtime(), sort_keys=True) == json.dumps(again.results.without_runtime(),
                                                                                  sort_keys=True)


def test_results_json_is_versioned_and_loads_back(small_run, tmp_path):
    out, ev, _ = small_run
    path = out / "results.json"
    r = json.loads(path.read_text())
    assert r["schema_version"] == SCHEMA_VERSION
    loaded = ResultsFile.load(path)
    assert loaded.to_json() == path.read_text()  # typed round trip, byte for byte
    assert loaded.fig14.series["ours"][7].satisfaction == r["fig14"]["series"]["ours"]["7"]["satisfaction"]
    r["schema_version"] = SCHEMA_VERSION + 1
    (tmp_path / "old.json").write_text(json.dumps(r))
    with pytest.raises(ValueError, match="schema_version"):
        ResultsFile.load(tmp_path / "old.json")


def test_results_are_frozen_and_refuse_unknown_fields(small_run):
    _, ev, _ = small_run
    with pytest.raises(ValidationError):
        ev.results.methods["ours"].satisfaction = 1.0
    with pytest.raises(ValidationError, match="satisfacton"):
        PointSummary(**{**ev.results.fig12a["VCE"].model_dump(), "satisfacton": 0.5})


def test_report_has_no_local_folder_and_names_the_shipped_logs_by_package(small_run):
    out, ev, _ = small_run
    text = (out / "report.md").read_text()
    package = str(Path(mobigen.__file__).resolve().parent)
    assert package not in text and package not in (out / "results.json").read_text()
    r = ResultsFile.load(out / "results.json")
    if r.fig13 is not None:  # drawn from the shipped logs
        assert r.fig13.log_dir == "mobigen/data/fig13" and "(mobigen/data/fig13)" in text


def test_prose_reads_the_paper_table(small_run, monkeypatch):
    # the sentences take the paper's numbers from PAPER: another table gives other sentences
    from mobigen.experiments import report
    from mobigen.experiments.paper import PaperNumbers

    _, ev, _ = small_run
    before = " ".join(report.differences(ev.results))
    assert "vs the paper's 9.5 s" in before and "(paper: ≈ 3×)" in before
    monkeypatch.setattr(report, "PAPER", PaperNumbers(latency_s={"ours": 12.25, "aaas": 13.75},
                                                      semgen_uplink_vs_ours=4.5, vce_latency_s=0.75))
    after = " ".join(report.differences(ev.results))
    assert "vs the paper's 12.25 s" in after and "12.25 s and 13.75 s" in after and "(paper: ≈ 4.5×)" in after
    assert "≈ 0.75 s extraction + upload" in after and "the paper's 9.5 s" not in after
    rows = {c.quantity: c for c in report.comparisons(ev.results)}
    assert rows["latency Ours"].paper == 12.25


def test_report_template_is_package_data():
    from importlib.resources import files

    assert (files("mobigen.experiments") / "templates" / "report.md.j2").is_file()


def test_cli_json_to_stdout(small_run, tmp_path, monkeypatch, capsys):
    from mobigen.experiments import runner

    _, ev, _ = small_run
    monkeypatch.setattr(runner, "evaluate", lambda cfg, progress: ev)  # the CLI's plumbing, not a new run
    assert main(["evaluate", "--out", str(tmp_path / "o"), "--json", "-", "--no-progress"]) == 0
    got = capsys.readouterr()
    r = json.loads(got.out)  # stdout is the JSON only; the table went to stderr
    assert r["schema_version"] == SCHEMA_VERSION and r == json.loads((tmp_path / "o" / "results.json").read_text())
    assert "quality numbers are surrogate numbers" in got.err
    assert main(["evaluate", "--out", str(tmp_path / "p"), "--json", str(tmp_path / "no" / "r.json")]) == 2
    assert "--json" in capsys.readouterr().err


def test_cli_bad_input(tmp_path, capsys):
    assert main(["evaluate", "--out", str(tmp_path), "--seed", "-1"]) == 2
    assert "--seed" in capsys.readouterr().err
    assert main(["evaluate", "--out", str(tmp_path), "--scenario", "no-such-preset"]) == 2
    assert "no-such-preset" in capsys.readouterr().err
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["evaluate", "--out", str(f)]) == 2
    assert "--out" in capsys.readouterr().err
    assert main(["evaluate", "--out", str(f / "sub")]) == 2  # parent is a file: refused before any work
    assert "--out" in capsys.readouterr().err
    assert main(["evaluate", "--out", str(tmp_path), "--slots", "0"]) == 2
    assert "--slots" in capsys.readouterr().err


def test_sweep_scenarios_are_named_like_their_presets():
    # the registry looks up per-preset checkpoints (data/ddc/<preset>.pt) by scenario name
    from mobigen.experiments.runner import _low_end, sweep_scenario
    from mobigen.scenario import preset

    assert sweep_scenario(preset("paper"), 8).name == "users-8"
    assert sweep_scenario(_low_end(preset("paper")), 11).name == "low-end-11"
    other = preset("paper").replace(name="mine", eta_per_s=0.05)
    s = sweep_scenario(other, 7)
    assert s.name == "mine-7" and s.num_users == 7 and s.eta_per_s == 0.05


def test_registry_fallback_is_typed_and_ddc_claims_are_not_checked_on_it(small_run):
    from mobigen.control.ddc.algorithm import DDCAgent, DDCConfig
    from mobigen.control.ddc.controller import DDCController
    from mobigen.control.exact import ExactController
    from mobigen.control.observation import obs_dim
    from mobigen.control.registry import KFallback
    from mobigen.experiments.report import claims
    from mobigen.experiments.runner import MethodBuilder
    from mobigen.scenario import preset

    sc = preset("low-end")
    agent = DDCAgent(obs_dim(5), 5, 26, DDCConfig(hidden=16), seed=0)
    ddc = DDCController.from_agent(agent, preset("paper"))
    b = MethodBuilder(seed=0, dqn_steps=100, controller_factory=lambda name, s: KFallback(
        ddc, ExactController(), reason="trained on 'paper', differs in device_budget_ratios"))
    _, ran_as = b.controller("ddc", sc)  # same K as the policy, other budgets: every slot goes to Exact
    assert ran_as.controller == "exact" and "device_budget_ratios" in ran_as.reason
    assert any("device_budget_ratios" in v for v in b.notes.values())
    fits = MethodBuilder(seed=0, dqn_steps=100, controller_factory=lambda name, s: KFallback(ddc, ExactController()))
    assert fits.controller("ddc", preset("paper"))[1] is None and not fits.notes

    res = small_run[1].results
    assert res.methods["ours"].ran_as is None
    assert sum(c.claim.startswith("DDC") for c in claims(res)) == 2
    fell_back = res.methods["ours"].model_copy(update={"ran_as": ran_as})
    res = res.model_copy(update={"methods": {**res.methods, "ours": fell_back}})
    assert not any(c.claim.startswith("DDC") for c in claims(res))
    assert any("Ours is VCE + Exact, not DDC" in c.evidence for c in claims(res))


def _assert_shipped_data() -> None:
    """The shipped profile and DDC checkpoint are part of the package: missing means broken, not skipped."""
    from mobigen.control.registry import SHIPPED
    from mobigen.system.profile import default_profile_path

    assert default_profile_path().is_file(), f"the shipped profile {default_profile_path()} is missing"
    assert SHIPPED["ddc"].is_file(), f"the shipped DDC checkpoint {SHIPPED['ddc']} is missing"


@pytest.fixture(scope="module")
def quick_runs(tmp_path_factory):
    _assert_shipped_data()
    outs = []
    for i in range(2):
        out = tmp_path_factory.mktemp(f"quick{i}")
        assert main(["evaluate", "--quick", "--no-progress", "--out", str(out), "--json", str(out / "copy.json")]) == 0
        outs.append(out)
    return outs


def test_quick_cli_end_to_end(quick_runs):
    out = quick_runs[0]
    r = json.loads((out / "results.json").read_text())
    assert r["meta"]["config"]["quick"] is True
    assert r["meta"]["quality_backend"] == "surrogate"
    for k in METHOD_KEYS:
        assert all(key in r["methods"][k] for key in REQUIRED)
    assert (out / "report.md").is_file() and len(list(out.glob("*.png"))) >= 10
    # the report names the command that reproduces it (from the parsed arguments, not the host's argv)
    assert f"Command: `mobigen evaluate --quick --scenario paper --seed 0 --out {out}`" in (out / "report.md").read_text()
    assert (out / "copy.json").read_text() == (out / "results.json").read_text() + "\n"  # --json PATH
    assert r["runtime"]["dqn_trainings"] == 1  # SemGen's DQN trained once per run, sweeps included


def test_quick_cli_same_seed_same_numbers(quick_runs):
    a, b = (json.loads((o / "results.json").read_text()) for o in quick_runs)
    assert _strip_runtime(a) == _strip_runtime(b)

"""Scenario (Table I): presets, validation, file round-trip, and the CLI's clean failures."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mobigen.cli import main
from mobigen.scenario import ALPHAS, BETAS, Scenario, ScenarioError, dump_file, load_file, preset


def test_paper_preset_holds_table_one():
    sc = preset("paper")
    assert sc.num_users == 5
    assert sc.conditions == ("canny", "hed", "depth", "seg")
    assert sc.alphas == ALPHAS and len(ALPHAS) == 8 and sc.alphas[0] == 0.125
    assert sc.betas == BETAS and len(BETAS) == 9 and sc.betas[0] == 0.2
    assert sc.f_edge == pytest.approx(sc.eps0_flops / 0.11)
    assert sc.edge_budget_flops == pytest.approx(60 * sc.eps0_flops)
    assert [f / sc.f_edge for f in sc.f_devices] == pytest.approx([1 / 10, 1 / 4, 1 / 2, 1 / 3, 1 / 5])
    assert [c / sc.edge_budget_flops for c in sc.device_budgets_flops] == pytest.approx([1 / 50, 1 / 10, 1 / 5, 1 / 10, 1 / 5])
    assert sc.qoe_threshold_range == (0.6, 0.8)
    assert sc.latency_threshold_s == 10.0
    assert sc.delta == (0.15, 0.15, 0.6, 0.1)
    assert sc.uplink_mbps_range == (5.0, 20.0) and sc.downlink_mbps_range == (5.0, 20.0)


def test_users_n_is_round_robin():
    sc = preset("users-11")
    assert sc.num_users == 11
    assert sc.user_types == (0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0)
    assert sc.f_devices[5] == sc.f_devices[0] and sc.f_devices[10] == sc.f_devices[0]
    with pytest.raises(ScenarioError, match="1..64"):
        preset("users-65")


def test_low_end_has_no_local_denoising():
    for name in ("low-end", "low-end-9"):
        sc = preset(name)
        assert all(c == 0 for c in sc.device_budgets_flops)
        assert all(f > 0 for f in sc.f_devices)  # devices still extract conditions
    assert preset("low-end-9").num_users == 9


def test_unknown_preset_names_the_presets():
    with pytest.raises(ScenarioError, match="unknown scenario preset"):
        preset("nope")


@pytest.mark.parametrize("suffix", [".toml", ".yaml", ".json"])
def test_file_round_trip(tmp_path, suffix):
    sc = preset("users-7").replace(latency_threshold_s=12.5, steps_max=25)
    path = tmp_path / f"s{suffix}"
    dump_file(sc, path)
    assert load_file(path) == sc


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"delta": [0.1, 0.2, 0.3]}, "delta"),
        ({"uplink_mbps_range": [-5.0, 20.0]}, "uplink_mbps_range"),
        ({"alphas": [0.3, 1.0]}, "alphas"),
        ({"betas": [0.25]}, "betas"),
        ({"qoe_threshold_range": [0.8, 0.6]}, "qoe_threshold_range"),
        ({"num_users": 0}, "num_users"),
        ({"steps_min": 10, "steps_max": 5}, "steps_max"),
        ({"device_budget_ratios": [0.1, 0.1]}, "device_budget_ratios"),
        ({"conditions": ["canny", "sketch"]}, "conditions"),
        ({"eps0_flops": float("nan")}, "eps0_flops"),
    ],
)
def test_out_of_range_values_name_the_field(change, field):
    data = preset("paper").to_dict() | change
    with pytest.raises(ScenarioError, match=f"'{field}'"):
        Scenario.from_dict(data)


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.mark.parametrize(
    ("name", "text", "field"),
    [
        ("missing.toml", 'name = "x"\n', "num_users"),
        ("unknown.toml", 'name = "x"\nnum_users = 5\nbogus = 1\n', "bogus"),
        ("negbw.yaml", "name: x\nnum_users: 5\nuplink_mbps_range: [-1, 20]\n", "uplink_mbps_range"),
        ("alpha.yaml", "name: x\nnum_users: 5\nalphas: [0.1]\n", "alphas"),
        ("delta.toml", 'name = "x"\nnum_users = 5\ndelta = [1, 1]\n', "delta"),
    ],
)
def test_bad_files_exit_2_naming_the_field(tmp_path, capsys, name, text, field):
    path = _write(tmp_path, name, text)
    assert main(["scenario", "show", str(path)]) == 2
    err = capsys.readouterr().err
    assert field in err and "Traceback" not in err


def test_unparsable_file_exits_2(tmp_path, capsys):
    path = _write(tmp_path, "broken.toml", "name = [unclosed\n")
    assert main(["scenario", "show", str(path)]) == 2
    assert "does not parse" in capsys.readouterr().err


def test_omega_not_summing_to_one_exits_2(tmp_path, capsys):
    path = _write(tmp_path, "omega.yaml", "name: x\nnum_users: 5\nomega: [0.7, 0.4]\n")
    assert main(["scenario", "show", str(path)]) == 2
    assert "'omega'" in capsys.readouterr().err


def test_fixed_omega_round_trips(tmp_path):
    sc = preset("paper").replace(omega=(0.7, 0.3))
    for suffix in (".toml", ".yaml"):
        dump_file(sc, tmp_path / f"o{suffix}")
        assert load_file(tmp_path / f"o{suffix}").omega == (0.7, 0.3)


def test_scenario_show_prints_resolved_json(capsys):
    assert main(["scenario", "show", "paper"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["num_users"] == 5
    assert len(data["derived"]["f_devices_flops"]) == 5
    assert "eta_per_s" in data["open_choices"] and data["open_choices"]["eta_per_s"]["reason"]


def test_console_script_help_lists_subcommands():
    out = subprocess.run([sys.executable, "-m", "mobigen.cli", "--help"], capture_output=True, text=True, check=True).stdout
    assert "scenario" in out

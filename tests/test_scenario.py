"""Scenario (Table I): presets, validation, file round-trip, and the CLI's clean failures."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mobigen.cli import main
from mobigen.errors import UserError
from mobigen.scenario import (ALPHAS, BETAS, FORMATS, Scenario, ScenarioError, dump_file, format_scenario, load_file,
                              parse_scenario, preset)

PRESETS = ("paper", "users-7", "low-end", "low-end-3")


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
    odd = sc.replace(name='on: "ü" # 1.5', omega=(0.25, 0.75), device_compute_ratios=(1 / 3, 1 / 7),
                     device_budget_ratios=(0.0, 1e-9))  # a YAML-ish name, fixed ω, floats that need 17 digits
    dump_file(odd, path)
    assert load_file(path) == odd


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


def test_scenario_show_explain_json_has_derived_and_open_choices(capsys):
    assert main(["scenario", "show", "paper", "--explain", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["num_users"] == 5
    assert len(data["derived"]["f_devices_flops"]) == 5
    assert "eta_per_s" in data["open_choices"] and data["open_choices"]["eta_per_s"]["reason"]
    with pytest.raises(ScenarioError, match="'derived'"):  # a report, not a scenario file (documented)
        Scenario.from_dict(data)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", PRESETS)
def test_show_prints_a_file_that_loads_back(tmp_path, capsys, name, fmt):
    assert main(["scenario", "show", name, "--format", fmt]) == 0
    path = tmp_path / f"copy.{fmt}"
    path.write_text(capsys.readouterr().out)
    assert load_file(path) == preset(name)
    assert main(["scenario", "show", str(path), "--format", fmt]) == 0  # and shows the same text again
    assert capsys.readouterr().out == path.read_text()


@pytest.mark.parametrize("fmt", ["toml", "yaml"])
def test_show_explain_still_loads_back_in_toml_and_yaml(tmp_path, capsys, fmt):
    assert main(["scenario", "show", "users-7", "--format", fmt, "--explain"]) == 0
    text = capsys.readouterr().out
    assert "f_devices_flops" in text and "eta_per_s" in text and OPEN_REASON in text
    assert parse_scenario(text, fmt) == preset("users-7")


OPEN_REASON = "uniform is the least-informative draw"


def test_show_default_format_is_toml(capsys):
    assert main(["scenario", "show", "low-end"]) == 0
    assert parse_scenario(capsys.readouterr().out, "toml") == preset("low-end")


def test_copy_a_preset_and_edit_one_number(tmp_path, capsys):
    """The issue's first move: copy the preset, change one value, load it."""
    assert main(["scenario", "show", "paper"]) == 0
    text = capsys.readouterr().out.replace("latency_threshold_s = 10.0", "latency_threshold_s = 12")
    path = tmp_path / "mine.toml"
    path.write_text(text)
    sc = load_file(path)
    assert sc == preset("paper").replace(latency_threshold_s=12.0) and isinstance(sc.latency_threshold_s, float)


def test_command_formats_match_the_library():
    from mobigen.commands import scenario as command

    assert command.FORMATS == FORMATS


def test_scenario_is_frozen_hashable_and_typed():
    sc = preset("paper")
    with pytest.raises(Exception):
        sc.num_users = 7  # frozen
    assert hash(sc) == hash(preset("paper")) and sc == preset("paper") and sc != preset("users-6")
    loaded = Scenario.from_dict(sc.to_dict())
    for field in ("conditions", "alphas", "delta", "device_budget_ratios", "qoe_threshold_range"):
        assert isinstance(getattr(loaded, field), tuple), field
    assert isinstance(Scenario(edge_budget_steps=30).edge_budget_steps, float)  # an integer is read as a float
    assert isinstance(Scenario(omega=[0.25, 0.75]).omega, tuple)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"num_users": True}, "num_users"),
        ({"num_users": 2.0}, "num_users"),
        ({"num_users": "5"}, "num_users"),
        ({"edge_step_time_s": "0.1"}, "edge_step_time_s"),
        ({"latency_threshold_s": float("inf")}, "latency_threshold_s"),
        ({"device_compute_ratios": (0.1, 0.0)}, "device_compute_ratios"),
        ({"name": 3}, "name"),
        ({"steps_max": 1001}, "steps_max"),
        ({"omega": (0.5,)}, "omega"),
        ({"bogus": 1}, "bogus"),
    ],
)
def test_constructor_and_replace_refuse_bad_values_naming_the_field(kwargs, field):
    with pytest.raises(ScenarioError, match=f"'{field}'"):
        Scenario(**kwargs)
    with pytest.raises(ScenarioError, match=f"'{field}'"):
        preset("paper").replace(**kwargs)
    assert issubclass(ScenarioError, UserError) and issubclass(ScenarioError, ValueError)


def test_every_field_has_a_description():
    for name, info in Scenario.model_fields.items():
        assert info.description and len(info.description) > 10, name


def test_format_scenario_refuses_unknown_format():
    with pytest.raises(ScenarioError, match="format"):
        format_scenario(preset("paper"), "xml")


def test_console_script_help_lists_subcommands():
    out = subprocess.run([sys.executable, "-m", "mobigen.cli", "--help"], capture_output=True, text=True, check=True).stdout
    assert "scenario" in out

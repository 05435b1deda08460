"""The benchmark logic moved out of the commands is usable as a library (no argparse), with its inputs
injected where they sit above it (the slot sampler, the AaaS PNG measure)."""

from __future__ import annotations

import math

import pytest

from _vce_fixtures import synthetic_profile


def test_split_bench_parse_splits():
    from mobigen.generation.benchmark import SplitBenchConfig, parse_splits

    assert parse_splits("auto", 4, tiny=True) == [0, 1, 2, 3, 4]
    assert parse_splits("auto", 20, tiny=False) == [0, 5, 10, 15, 20]
    assert parse_splits("3,1,1", 4, tiny=False) == [1, 3]
    with pytest.raises(ValueError, match="--splits"):
        parse_splits("1,9", 4, tiny=True)
    with pytest.raises(ValueError, match="--splits"):
        parse_splits("x", 4, tiny=True)
    with pytest.raises(ValueError, match="--repeats"):
        SplitBenchConfig(repeats=0)


def test_vce_bench_runs_on_an_injected_sampler(tmp_path):
    from mobigen.conditions.benchmark_vce import VceBenchConfig, format_vce_report, run_vce_bench
    from mobigen.scenario import resolve

    prof = synthetic_profile().save(tmp_path / "profile.csv")
    sc = resolve("paper")
    calls: list[int] = []

    class Sampler:  # stands in for workload.SlotSampler (above conditions/)
        def sample(self, rng):  # noqa: ANN001, ANN202
            calls.append(int(rng.integers(10)))

    res = run_vce_bench(VceBenchConfig(profile=str(prof), users=50, draws_per_image=1), sc,
                        make_sampler=lambda vce: Sampler(), png_table=None)
    f = res.figures
    assert len(calls) == 2000 and f["sampler_ms_per_slot"] > 0
    assert f["quality_backend"] == "surrogate" and f["oracle"]["n_requests"] == 6
    assert math.isclose(sum(f["vce_condition_share"].values()), 1.0)
    assert f["compression_mode_mean_real_bytes"]["both"] == f["vce_mean_real_bytes"]
    assert "png (data/raw_png_bytes.csv)" not in f["raw_image_mean_bytes"]
    text = format_vce_report(res)
    assert "quality model: surrogate" in text
    assert all("[surrogate]" in ln for ln in text.splitlines() if "utility" in ln or "oracle" in ln)
    with pytest.raises(ValueError, match="--users"):
        VceBenchConfig(users=0)


def test_extract_bench_frontier_and_config():
    import pandas as pd

    from mobigen.conditions.benchmark_extract import ExtractBenchConfig, frontier_bytes

    frame = pd.DataFrame({"bytes": [100.0, 50.0, 10.0], "fidelity": [0.99, 0.91, 0.5]})
    assert frontier_bytes(frame, 0.9) == 50.0
    assert frontier_bytes(frame, 0.99) == 100.0
    assert math.isnan(frontier_bytes(frame, 0.999))
    for field in ("images", "threads"):
        with pytest.raises(ValueError, match=field):
            ExtractBenchConfig(**{field: 0})

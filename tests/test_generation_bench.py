"""`mobigen bench split` runs end to end on tiny components and reports what it measured."""

from __future__ import annotations

import json

import pytest
import torch

from mobigen.cli import main


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def test_bench_split_json(tmp_path, capsys):
    out = tmp_path / "split.json"
    rc = main(["bench", "split", "--json", str(out), "--size", "64", "--steps", "3", "--repeats", "1",
               "--images", "1"])
    assert rc == 0
    r = json.loads(out.read_text())
    assert r["components"]["kind"] == "tiny-random"
    assert r["setup"]["splits"] == [0, 1, 2, 3]
    assert r["chain_of_one_step_slices_bitexact"] is True
    assert r["handoff"]["fp32"]["bitexact_all_k"] is True
    assert r["handoff"]["fp32"]["max_abs_latent_diff_vs_monolithic"] == 0.0
    # 4x8x8 latent: fp32 payload 1024 B, fp16 512 B; the headers differ by one digit of payload_nbytes
    assert r["handoff"]["fp32"]["bytes_at_k_mid"] - r["handoff"]["fp16"]["bytes_at_k_mid"] == 512 + 1
    assert 0 < r["q8zstd_max_error_over_bound"] <= 1.0 + 1e-5
    assert r["timing"]["ratio_split_over_monolithic"] > 0
    assert "split bench" in capsys.readouterr().out


def test_bench_split_bad_input_exits_2(tmp_path, capsys):
    assert main(["bench", "split", "--steps", "0"]) == 2
    assert "--steps" in capsys.readouterr().err
    assert main(["bench", "split", "--steps", "3", "--splits", "1,9"]) == 2
    assert main(["bench", "split", "--json", str(tmp_path / "missing" / "x.json")]) == 2
    assert main(["bench", "split", "--weights", str(tmp_path), "--steps", "2"]) == 2
    assert "missing local diffusion weights" in capsys.readouterr().err

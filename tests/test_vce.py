"""VCE: Algorithms 1-2, the exhaustive oracle, the shortfall report and `mobigen vce`."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from _vce_fixtures import shipped_profile_or_skip, synthetic_profile
from mobigen.conditions.config_table import config_table
from mobigen.conditions.oracle import compare_with_oracle, oracle_choose
from mobigen.conditions.quality_surrogate import SurrogateQuality
from mobigen.conditions.vce import VCE, VCEChoice, alg2_path, get_best_config_literal
from mobigen.scenario import preset

SC = preset("paper")


@pytest.fixture(scope="module")
def vce() -> VCE:
    tab = config_table(synthetic_profile())
    return VCE(tab, SurrogateQuality(table=tab), SC)


def _users(n, seed=0):
    rng = np.random.default_rng(seed)
    f = np.asarray(SC.f_devices)
    for _ in range(n):
        yield (float(rng.uniform()), float(rng.uniform(0.6, 0.8)), float(rng.uniform(5, 20)) * 1e6,
               float(f[rng.integers(len(f))]))


def test_alg1_camps(vce):
    """Alg. 1 lines 1-4: ω^I > ω^T -> Canny/HED on P^I, else Depth/Seg on P^T (ω = 0.5 -> the else branch)."""
    for w in (0.51, 0.7, 1.0):
        assert vce.choose(w, 0.7, 10e6, SC.f_devices[0]).condition in ("canny", "hed")
    for w in (0.0, 0.3, 0.5):
        assert vce.choose(w, 0.7, 10e6, SC.f_devices[0]).condition in ("depth", "seg")


def test_alg2_fast_path_equals_literal(vce):
    """The precomputed state path + scan gives exactly Alg. 2 written line by line, and Alg. 1's argmax."""
    fr = vce.frontiers
    for w, q, up, f in _users(300):
        l_fixed = vce.extraction_s(f) + vce.reference_denoise_s(f)
        camp = ("canny", "hed") if w > 1 - w else ("depth", "seg")
        metric = "I" if w > 1 - w else "T"
        best = None
        for cond in camp:
            c = vce.table.conditions.index(cond)

            def get_utility(a, b):
                Q = w * fr.q_I[c, a, b] + (1 - w) * fr.q_T[c, a, b]
                L = l_fixed + 8 * vce.table.mean_bytes[c, a, b] / up
                return Q - vce.eta * L, Q, L

            (a, b), U = get_best_config_literal(fr.get(cond, metric), q, get_utility, SC.latency_threshold_s)
            if best is None or U > best[3]:
                best = (cond, a, b, U)
        ch = vce.choose(w, q, up, f)
        assert (ch.condition, ch.alpha, ch.beta) == (best[0], vce.table.alphas[best[1]], vce.table.betas[best[2]])
        assert ch.utility == pytest.approx(best[3])


def test_alg2_search_order(vce):
    """Lines 6-8: Canny raises α first, β only at α^max; lines 9-11: Depth raises β first."""
    canny = alg2_path(vce.frontiers.get("canny", "I"))
    a = [s[0] for s in canny]; b = [s[1] for s in canny]
    assert a == sorted(a)
    a_max = max(a)
    assert all(bb == b[0] for aa, bb in zip(a, b) if aa < a_max)
    depth = alg2_path(vce.frontiers.get("depth", "T"))
    a = [s[0] for s in depth]; b = [s[1] for s in depth]
    assert b == sorted(b)
    b_max = max(b)
    assert all(aa == a[0] for aa, bb in zip(a, b) if bb < b_max)
    # HED / Seg (lines 12-13): the frontier itself in α-then-β order
    hed = vce.frontiers.get("hed", "I")
    assert alg2_path(hed) == list(zip(hed.alpha_idx.tolist(), hed.beta_idx.tolist()))


def test_choice_fields_and_feasibility(vce):
    ch = vce.choose(0.8, 0.65, 12e6, SC.f_devices[2])
    assert isinstance(ch, VCEChoice) and ch.quality_backend == "surrogate"
    with pytest.raises(dataclasses.FrozenInstanceError):
        ch.alpha = 1.0  # type: ignore[misc]
    c, a, b = vce.config_index(ch.condition, ch.alpha, ch.beta)
    assert ch.codec == vce.table.codec[c, a, b]
    assert ch.expected_bytes == pytest.approx(vce.table.mean_bytes[c, a, b])
    for w, q, up, f in _users(100, seed=1):
        ch = vce.choose(w, q, up, f)
        Q = w * ch.q_I + (1 - w) * ch.q_T
        assert ch.feasible == (Q >= q)  # the latency threshold never binds at the reference here
    # an unreachable threshold: the loop runs out and returns the frontier's last ν*
    assert not vce.choose(0.9, 0.99, 10e6, SC.f_devices[0]).feasible


def test_validation(vce):
    f = SC.f_devices[0]
    for bad, field in (((1.5, 0.7, 1e7, f), "omega_I"), ((float("nan"), 0.7, 1e7, f), "omega_I"),
                       ((0.5, 1.7, 1e7, f), "qoe_threshold"), ((0.5, 0.7, 0.0, f), "uplink_bps"),
                       ((0.5, 0.7, 1e7, -1.0), "f_device")):
        with pytest.raises(ValueError, match=field):
            vce.choose(*bad)
    with pytest.raises(ValueError, match="compression"):
        VCE(vce.table, vce.quality, SC, compression="zip")


def test_compression_ablations(vce):
    tab = vce.table
    for mode, check in (("none", lambda c: c.alpha == 1.0 and c.beta == 1.0), ("alpha", lambda c: c.beta == 1.0),
                        ("beta", lambda c: c.alpha == 1.0)):
        v = VCE(tab, vce.quality, SC, compression=mode)
        for w, q, up, f in _users(40):
            assert check(v.choose(w, q, up, f))


def test_oracle_bounds_alg(vce):
    for w, q, up, f in _users(200, seed=2):
        ch = vce.choose(w, q, up, f)
        o1 = oracle_choose(vce, w, q, up, f, "min_bytes")
        o2 = oracle_choose(vce, w, q, up, f, "max_utility")
        if ch.feasible:
            assert o1.feasible and o1.expected_bytes <= ch.expected_bytes + 1e-9
        if o2.feasible:
            assert o2.utility >= ch.utility - 1e-12 or not ch.feasible
    with pytest.raises(ValueError, match="objective"):
        oracle_choose(vce, 0.5, 0.7, 1e7, SC.f_devices[0], "fastest")


def test_shortfall_report(vce):
    r = compare_with_oracle(vce, draws_per_image=3, seed=0)
    assert r.n_requests == 3 * len(vce.table.images)
    assert r.quality_backend == "surrogate"
    assert 0 <= r.missed_feasible_rate <= 1 - r.vce_feasible_rate + 1e-12
    assert r.oracle_feasible_rate >= r.vce_feasible_rate
    assert r.bytes_excess_mean >= 0 and r.utility_shortfall_mean >= 0
    assert r.oracle_min_bytes_mean_real_bytes > 0
    assert compare_with_oracle(vce, draws_per_image=3, seed=0) == r  # seeded


def test_default_vce_on_shipped_profile():
    shipped_profile_or_skip()
    from mobigen.conditions.vce import load_default_vce

    v = load_default_vce(SC)
    ch = v.choose(0.7, 0.7, 10e6, SC.f_devices[1])
    assert ch.quality_backend == "surrogate" and ch.expected_bytes > 0


# ---- the command ---------------------------------------------------------------------------------

def _write_image(path):
    from PIL import Image

    rng = np.random.default_rng(0)
    a = np.full((300, 400, 3), 40, np.uint8); a[80:220, 100:300] = 220
    Image.fromarray(np.clip(a + rng.integers(0, 20, a.shape), 0, 255).astype(np.uint8)).save(path)


@pytest.fixture(scope="module")
def cli_env(tmp_path_factory):
    d = tmp_path_factory.mktemp("vcecli")
    img = d / "in.png"
    _write_image(img)
    prof = synthetic_profile().save(d / "profile.csv")
    return d, img, prof


def test_cli_vce_json(cli_env, capsys):
    from mobigen.cli import main

    d, img, prof = cli_env
    out = d / "cond.bin"
    rc = main(["vce", "--image", str(img), "--prompt", "a toy", "--omega", "0.8", "--qoe", "0.7",
               "--profile", str(prof), "--out", str(out), "--json", "-"])
    assert rc == 0
    js = json.loads(capsys.readouterr().out)
    for k in ("condition", "alpha", "beta", "codec", "bytes", "q_I", "q_T", "quality_backend", "extractor_backend"):
        assert k in js
    assert js["quality_backend"] == "surrogate" and js["condition"] in ("canny", "hed")
    assert js["bytes"] == out.stat().st_size > 0
    from mobigen.conditions import codec

    assert codec.decode(out.read_bytes()).shape == (512, 512, 3)


def test_cli_vce_forced_config(cli_env, capsys):
    from mobigen.cli import main

    d, img, prof = cli_env
    rc = main(["vce", "--image", str(img), "--prompt", "p", "--omega", "0.2", "--qoe", "0.6", "--profile", str(prof),
               "--condition", "canny", "--alpha", "0.5", "--beta", "0.4", "--out", str(d / "c2.jpg"), "--json", "-"])
    assert rc == 0
    js = json.loads(capsys.readouterr().out)
    assert (js["condition"], js["alpha"], js["beta"]) == ("canny", 0.5, 0.4)


@pytest.mark.parametrize("args, word", [
    (["--omega", "1.5"], "omega"),
    (["--alpha", "0.3"], "alpha"),
    (["--beta", "0.25"], "beta"),
    (["--uplink-mbps", "-2"], "uplink"),
])
def test_cli_vce_bad_values(cli_env, capsys, args, word):
    from mobigen.cli import main

    d, img, prof = cli_env
    base = ["vce", "--image", str(img), "--prompt", "p", "--omega", "0.5", "--qoe", "0.7", "--profile", str(prof),
            "--out", str(d / "x.bin")]
    assert main(base + args) == 2
    err = capsys.readouterr().err.strip()
    assert word in err and "\n" not in err and "Traceback" not in err


@pytest.mark.parametrize("content", [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n" + b"\0" * 20])
def test_cli_vce_bad_image(cli_env, capsys, tmp_path, content):
    from mobigen.cli import main

    d, _, prof = cli_env
    bad = tmp_path / "bad.png"
    bad.write_bytes(content)
    rc = main(["vce", "--image", str(bad), "--prompt", "p", "--omega", "0.5", "--qoe", "0.7", "--profile", str(prof),
               "--out", str(tmp_path / "o.bin")])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert "image" in err and "Traceback" not in err and "\n" not in err


def test_evaluate_matches_choice(vce):
    ch = vce.choose(0.3, 0.7, 9e6, SC.f_devices[3])
    ev = vce.evaluate(ch.condition, ch.alpha, ch.beta, 0.3, 0.7, 9e6, SC.f_devices[3])
    assert ev == ch


def test_bench_vce_command(cli_env, capsys):
    from mobigen.cli import main

    _, _, prof = cli_env
    assert main(["bench", "vce", "--profile", str(prof), "--users", "200", "--draws-per-image", "1", "--json", "-"]) == 0
    js = json.loads(capsys.readouterr().out)
    assert js["quality_backend"] == "surrogate" and js["decision_us_per_user"] > 0
    assert js["oracle"]["n_requests"] == len(synthetic_profile().frame.image.unique())


def test_reference_latency(vce):
    """L² at the reference: eq. (7) for O = 1 (device-independent), eq. (6) for O < 1."""
    T = vce.reference_steps
    down = 0.5 * sum(SC.downlink_mbps_range) * 1e6
    assert vce.reference_denoise_s(SC.f_devices[0]) == pytest.approx(T * SC.edge_step_time_s + 8 * SC.image_bytes / down)
    v = VCE(vce.table, vce.quality, SC, reference_offload=0.5)
    f = SC.f_devices[2]
    e = T // 2
    expect = e * SC.edge_step_time_s + 8 * SC.latent_bytes / down + SC.eps0_flops * (T - e) / f
    assert v.reference_denoise_s(f) == pytest.approx(expect)
    with pytest.raises(ValueError, match="reference_offload"):
        VCE(vce.table, vce.quality, SC, reference_offload=0.0)


def test_cli_vce_decompression_bomb(cli_env, capsys, tmp_path):
    from PIL import Image

    from mobigen.cli import main

    _, _, prof = cli_env
    bomb = tmp_path / "bomb.png"
    Image.new("1", (9000, 9000)).save(bomb)  # 81 MP > the 50 MP limit; tiny on disk
    rc = main(["vce", "--image", str(bomb), "--prompt", "p", "--omega", "0.5", "--qoe", "0.7", "--profile", str(prof),
               "--out", str(tmp_path / "o.bin")])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert "image" in err and "Traceback" not in err


def test_camp_restricted_oracle(vce):
    for w, q, up, f in _users(50, seed=5):
        camp = ("canny", "hed") if w > 0.5 else ("depth", "seg")
        o = oracle_choose(vce, w, q, up, f, conditions=camp)
        assert o.condition in camp
        full = oracle_choose(vce, w, q, up, f)
        if o.feasible:
            assert full.expected_bytes <= o.expected_bytes + 1e-9


def test_output_path_names_what_the_file_is(tmp_path):
    from mobigen.commands.vce import output_path

    assert output_path(None, "dir/in.png", "canny", "webp") == (Path("in_canny.webp"), False)
    assert output_path(str(tmp_path / "c.jpg"), "in.png", "canny", "webp") == (tmp_path / "c.webp", True)
    assert output_path(str(tmp_path / "c.JPEG"), "in.png", "canny", "jpeg") == (tmp_path / "c.JPEG", False)
    assert output_path(str(tmp_path / "c.gif"), "in.png", "seg", "png") == (tmp_path / "c.png", True)
    assert output_path(str(tmp_path / "c.bin"), "in.png", "canny", "png") == (tmp_path / "c.bin", False)
    assert output_path(str(tmp_path), "x/in.png", "seg", "png") == (tmp_path / "in_seg.png", False)


def test_cli_vce_out_suffix_follows_codec(cli_env, capsys, tmp_path):
    """--out c.jpg with a PNG condition writes c.png (and says so), never PNG bytes named .jpg."""
    from mobigen.cli import main
    from mobigen.conditions import codec

    d, img, prof = cli_env
    base = ["vce", "--image", str(img), "--prompt", "p", "--omega", "0.8", "--qoe", "0.6", "--profile", str(prof),
            "--condition", "canny", "--alpha", "0.5", "--beta", "0.4", "--json", "-"]
    assert main(base + ["--codec", "png", "--out", str(tmp_path / "c.jpg")]) == 0
    cap = capsys.readouterr()
    js = json.loads(cap.out)
    assert js["codec"] == "png" and js["out"] == str(tmp_path / "c.png") and js["requested_out"] == str(tmp_path / "c.jpg")
    assert not (tmp_path / "c.jpg").exists() and codec.sniff((tmp_path / "c.png").read_bytes()) == "png"
    assert js["bytes"] == (tmp_path / "c.png").stat().st_size
    assert "c.png" in cap.err and "instead of" in cap.err
    # a matching suffix is kept; a folder receives the default name
    assert main(base + ["--codec", "jpeg", "--out", str(tmp_path / "k.jpeg")]) == 0
    assert json.loads(capsys.readouterr().out)["out"] == str(tmp_path / "k.jpeg")
    assert codec.sniff((tmp_path / "k.jpeg").read_bytes()) == "jpeg"
    assert main(base + ["--codec", "jpeg", "--out", str(tmp_path)]) == 0
    assert json.loads(capsys.readouterr().out)["out"] == str(tmp_path / "in_canny.jpg")
    # an unwritable place: one line naming --out, no traceback
    (tmp_path / "file.txt").write_text("x")
    assert main(base + ["--out", str(tmp_path / "file.txt" / "c.jpg")]) == 2
    err = capsys.readouterr().err.strip()
    assert "--out" in err and "\n" not in err and "Traceback" not in err


def test_cli_text_output_labels_surrogate_numbers(cli_env, capsys, tmp_path):
    """Every printed quality number says which quality model produced it ("surrogate" here)."""
    from mobigen.cli import main

    d, img, prof = cli_env
    assert main(["vce", "--image", str(img), "--prompt", "p", "--omega", "0.8", "--qoe", "0.6", "--profile", str(prof),
                 "--condition", "canny", "--out", str(tmp_path / "c.bin")]) == 0
    line = [ln for ln in capsys.readouterr().out.splitlines() if "q_I" in ln]
    assert len(line) == 1 and "surrogate" in line[0]
    assert main(["bench", "vce", "--profile", str(prof), "--users", "50", "--draws-per-image", "1"]) == 0
    text = capsys.readouterr().out
    assert "quality model: surrogate" in text
    assert all("[surrogate]" in ln for ln in text.splitlines() if "utility" in ln or "oracle" in ln)

"""Quality models: the surrogate's calibration targets (Fig. 2, 4, 7) and the measured backend."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from _vce_fixtures import shipped_profile_or_skip, synthetic_profile
from mobigen.conditions.config_table import config_table
from mobigen.conditions.quality import make_quality_model
from mobigen.conditions.quality_surrogate import DEFAULT_TARGETS, SurrogateQuality, compression_config, fit_calibration
from mobigen.scenario import ALPHAS, BETAS
from mobigen.system.profile import ProfileTable
from mobigen.system.quality import QualityModel

CANNY, HED, DEPTH, SEG = range(4)


@pytest.fixture(scope="module")
def synth() -> SurrogateQuality:
    return SurrogateQuality(synthetic_profile())


@pytest.fixture(scope="module", params=["synthetic", "shipped"])
def model(request) -> SurrogateQuality:
    if request.param == "synthetic":
        return SurrogateQuality(synthetic_profile())
    return SurrogateQuality(shipped_profile_or_skip())


def test_protocol_and_label(synth):
    assert isinstance(synth, QualityModel)
    assert synth.backend == "surrogate"
    assert make_quality_model("surrogate", synthetic_profile()).backend == "surrogate"
    with pytest.raises(ValueError, match="backend"):
        make_quality_model("oracle")


def test_compression_ratio_map():
    assert compression_config(0.2) == (0.75, 0.8)
    assert compression_config(0.4) == (0.625, 0.6)
    assert compression_config(0.6) == (0.375, 0.4)
    assert compression_config(0.8) == (0.25, 0.2)
    with pytest.raises(ValueError, match="ratio"):
        compression_config(1.0)


def test_fig2_ordering(model):
    """Fig. 2: Canny and HED score higher on DS, Depth and Seg higher on IR (uncompressed, 20 steps)."""
    qi, qt = model.scores(np.arange(4), 1.0, 1.0, 20)
    assert min(qi[CANNY], qi[HED]) > max(qi[DEPTH], qi[SEG])
    assert min(qt[DEPTH], qt[SEG]) > max(qt[CANNY], qt[HED])


def _fig4(model, metric: int, ratio: float, steps: int) -> float:
    a, b = compression_config(ratio, model.table.alphas, model.table.betas)
    return float(model.scores(CANNY, a, b, steps)[metric])


def test_fig4_compression_drop(model):
    """Fig. 4: Canny, 20 steps, 20% -> 80% compression: DS -12%, IR -10% (relative)."""
    for metric, target in ((0, DEFAULT_TARGETS.fig4_ds_drop), (1, DEFAULT_TARGETS.fig4_ir_drop)):
        drop = 1 - _fig4(model, metric, 0.8, 20) / _fig4(model, metric, 0.2, 20)
        assert drop == pytest.approx(target, abs=0.005)


def test_fig4_step_gain(model):
    """Fig. 4: 5 -> 20 steps raises IR +12% at 20% and +19% at 80% compression; DS gains grow too."""
    gain_lo = _fig4(model, 1, 0.2, 20) / _fig4(model, 1, 0.2, 5) - 1
    gain_hi = _fig4(model, 1, 0.8, 20) / _fig4(model, 1, 0.8, 5) - 1
    assert gain_lo == pytest.approx(DEFAULT_TARGETS.fig4_ir_gain_low, abs=0.005)
    assert gain_hi == pytest.approx(DEFAULT_TARGETS.fig4_ir_gain_high, abs=0.005)
    ds_lo = _fig4(model, 0, 0.2, 20) / _fig4(model, 0, 0.2, 5) - 1
    ds_hi = _fig4(model, 0, 0.8, 20) / _fig4(model, 0, 0.8, 5) - 1
    assert ds_hi > ds_lo > 0


def _sensitivity(model, cond: int, metric: int) -> tuple[float, float]:
    """(reaction to α, reaction to β): mean range of the score along one axis, the other held (T = 20)."""
    A, B = np.meshgrid(np.asarray(model.table.alphas), np.asarray(model.table.betas), indexing="ij")
    q = model.scores(cond, A, B, 20)[metric]
    return float(np.mean(q.max(axis=0) - q.min(axis=0))), float(np.mean(q.max(axis=1) - q.min(axis=1)))


def test_fig7_canny_reacts_more_to_alpha():
    """Fig. 7 on the real measured fidelity (shipped profile): Canny reacts more to α than to β.
    Not calibrated: it must come out of the profiler's measurements."""
    m = SurrogateQuality(shipped_profile_or_skip())
    for metric in (0, 1):
        sa, sb = _sensitivity(m, CANNY, metric)
        assert sa > sb, f"canny: reaction to alpha {sa:.4f} <= to beta {sb:.4f}"


@pytest.mark.xfail(strict=True, reason=(
    "measured, not calibrated: the profiler's depth fidelity (SSIM of the decoded map) falls more from "
    "alpha = 1 -> 0.125 than from beta = 1 -> 0.2, so the surrogate's depth quality reacts more to alpha; "
    "Fig. 7 says generation quality reacts more to beta. Strict: if a re-profiled table shows the paper's "
    "trend this test XPASSes and must be turned back into a plain test."))
def test_fig7_depth_reacts_more_to_beta():
    m = SurrogateQuality(shipped_profile_or_skip())
    for metric in (0, 1):
        sa, sb = _sensitivity(m, DEPTH, metric)
        assert sb > sa, f"depth: reaction to beta {sb:.4f} <= to alpha {sa:.4f}"


def test_quality_follows_fidelity(synth):
    """The surrogate is monotone in measured fidelity: higher fidelity never scores lower."""
    for c in range(4):
        A, B = np.meshgrid(np.asarray(ALPHAS), np.asarray(BETAS), indexing="ij")
        f = synth.fidelity(c, A, B).ravel()
        qi, qt = synth.scores(c, A, B, 15)
        order = np.argsort(f)
        assert np.all(np.diff(qi.ravel()[order]) >= -1e-12)
        assert np.all(np.diff(qt.ravel()[order]) >= -1e-12)


def test_range_broadcast_steps_and_difficulty(synth):
    c = np.array([[0], [1], [2], [3]])
    T = np.arange(5, 31)[None, :]
    qi, qt = synth.scores(c, 0.5, 0.6, T)
    assert qi.shape == (4, 26) and qt.shape == (4, 26)
    assert np.all((qi >= 0) & (qi <= 1) & (qt >= 0) & (qt <= 1))
    assert np.all(np.diff(qi, axis=1) >= 0) and np.all(np.diff(qt, axis=1) > 0)  # more steps never hurt
    hard = synth.scores(c, 0.5, 0.6, T, np.full((4, 1), 0.05))
    assert np.allclose(hard[0], np.clip(qi - 0.05, 0, 1)) and np.allclose(hard[1], np.clip(qt - 0.05, 0, 1))
    assert np.all(synth.scores(0, 1.0, 1.0, 30, 5.0)[0] == 0.0)  # clipped to [0, 1]


def test_absolute_level(model):
    """The chosen level (SurrogateTargets.level_T docstring): uncompressed, ω = 0.5, preferred camp,
    20 steps -> Q ≈ 0.78-0.84; ω = 0.75 with Canny -> Q > 0.8."""
    qi, qt = model.scores(np.arange(4), 1.0, 1.0, 20)
    Q = 0.5 * qi + 0.5 * qt
    assert 0.76 <= Q.max() <= 0.85
    assert 0.75 * qi[CANNY] + 0.25 * qt[CANNY] > 0.8


def test_bad_levels(synth):
    with pytest.raises(ValueError, match="alpha"):
        synth.scores(0, 0.3, 1.0, 20)
    with pytest.raises(ValueError, match="beta"):
        synth.scores(0, 0.5, 0.25, 20)
    with pytest.raises(ValueError, match="condition"):
        synth.scores(7, 0.5, 0.5, 20)


def test_calibration_needs_falling_fidelity():
    p = synthetic_profile(n_images=1)
    f = p.frame.copy()
    f["fidelity"] = 0.9  # flat: compression costs nothing -> Fig. 4 cannot be reproduced
    with pytest.raises(ValueError, match="Fig. 4"):
        fit_calibration(config_table(ProfileTable(f)))


def test_deterministic():
    """Two models built independently from equal profiles agree bit for bit on the whole grid (with a
    difficulty), calling twice changes nothing, and a different profile gives different scores, so the
    comparison can fail."""
    c, a, b, t = np.meshgrid(np.arange(4), ALPHAS, BETAS, [5, 12, 30], indexing="ij")
    delta = np.linspace(-0.05, 0.1, c.size).reshape(c.shape)
    m1, m2 = SurrogateQuality(synthetic_profile(seed=3)), SurrogateQuality(synthetic_profile(seed=3))
    first = m1.scores(c, a, b, t, difficulty=delta)
    for again in (m2.scores(c, a, b, t, difficulty=delta), m1.scores(c, a, b, t, difficulty=delta)):
        assert np.array_equal(first[0], again[0]) and np.array_equal(first[1], again[1])
    assert m1.calibration == m2.calibration
    other = SurrogateQuality(synthetic_profile(seed=4)).scores(c, a, b, t, difficulty=delta)
    assert not np.array_equal(first[0], other[0]) and not np.array_equal(first[1], other[1])


# ---- measured backend -----------------------------------------------------------------------------

class TinySimilarity:
    """Stand-in with DreamSim's interface: cosine distance of a tiny seeded random conv embedding."""

    name = "tiny-dreamsim"

    def __init__(self, seed: int = 0) -> None:
        import torch

        g = torch.Generator().manual_seed(seed)
        self.w = torch.randn(8, 3, 8, 8, generator=g)

    def distance(self, generated: np.ndarray, reference: np.ndarray) -> float:
        import torch

        def emb(x):
            t = torch.from_numpy(np.ascontiguousarray(x[::8, ::8])).permute(2, 0, 1)[None].float() / 255
            return torch.nn.functional.conv2d(t, self.w, stride=8).flatten()

        return float(1 - torch.nn.functional.cosine_similarity(emb(generated), emb(reference), dim=0))


class TinyReward:
    """Stand-in with ImageReward's interface: a seeded linear score of image statistics and prompt length."""

    name = "tiny-imagereward"

    def reward(self, generated: np.ndarray, prompt: str) -> float:
        return float(4 * generated.mean() / 255 - 2 + 0.01 * len(prompt))


def _toy_generator(condition_rgb, prompt, condition_type, steps, seed):
    """Seeded stand-in generator: noise that fades towards the condition as steps grow."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, condition_rgb.shape)
    w = np.exp(-steps / 6)
    return np.clip(w * noise + (1 - w) * condition_rgb, 0, 255).astype(np.uint8)


def _toy_condition(rgb, condition, alpha, beta, codec):
    from mobigen.conditions import codec as codec_mod

    edges = np.repeat((rgb.mean(axis=2, keepdims=True) > 127).astype(np.uint8) * 255, 3, axis=2)
    return codec_mod.decode(codec_mod.encode(edges, alpha, beta, codec))


def test_measured_backend_from_tiny_standins(tmp_path):
    from mobigen.conditions.quality_measured import MeasureRequest, MeasuredQuality, SimilarityScorer, AlignmentScorer, measure

    rng = np.random.default_rng(0)
    rgb = np.zeros((512, 512, 3), np.uint8); rgb[128:384, 96:400] = 200
    rgb = np.clip(rgb + rng.integers(0, 30, rgb.shape), 0, 255).astype(np.uint8)
    reqs = [MeasureRequest("toy.png", rgb, "a toy in the snow")]
    sim, rew = TinySimilarity(), TinyReward()
    assert isinstance(sim, SimilarityScorer) and isinstance(rew, AlignmentScorer)
    configs = [("canny", 1.0, 1.0, "jpeg"), ("canny", 0.25, 0.2, "jpeg")]
    table = measure(reqs, configs, [5, 20], _toy_generator, sim, rew, condition_fn=_toy_condition, progress=False)
    assert len(table) == 4 and set(table["steps"]) == {5, 20}
    again = measure(reqs, configs, [5, 20], _toy_generator, sim, rew, condition_fn=_toy_condition, progress=False)
    pd.testing.assert_frame_equal(table, again)  # seeded: same numbers twice
    m = make_quality_model("measured", table=table)
    assert m.backend == "measured"
    qi, qt = m.scores(0, 1.0, 1.0, np.array([5, 12.5, 20]))
    row5 = table[(table.alpha == 1.0) & (table.steps == 5)].iloc[0]
    row20 = table[(table.alpha == 1.0) & (table.steps == 20)].iloc[0]
    assert qi[0] == pytest.approx(row5.q_I) and qi[2] == pytest.approx(row20.q_I)
    assert qi[1] == pytest.approx((row5.q_I + row20.q_I) / 2)  # linear in T between measured counts
    assert qi[2] > qi[0]  # the toy generator approaches the condition with steps
    with pytest.raises(ValueError, match="not measured"):
        m.scores(1, 1.0, 1.0, 20)
    p = m.save(tmp_path / "measured")
    assert MeasuredQuality(p).scores(0, 0.25, 0.2, 20)[0] == pytest.approx(m.scores(0, 0.25, 0.2, 20)[0])


def test_measured_missing_weights_errors(tmp_path, monkeypatch):
    from mobigen.conditions.quality_measured import MeasuredQuality, load_scorers

    with pytest.raises(FileNotFoundError, match="DreamSim.*ImageReward"):
        load_scorers(tmp_path / "nope_ds", tmp_path / "nope_ir")
    monkeypatch.delenv("MOBIGEN_SD_DIR", raising=False)
    with pytest.raises(FileNotFoundError, match="Stable Diffusion"):
        MeasuredQuality.from_weights([], [("canny", 1.0, 1.0, "jpeg")], [20], sd_dir=tmp_path / "no_sd")
    with pytest.raises(FileNotFoundError, match="measured quality table"):
        MeasuredQuality(tmp_path / "absent.csv")


@pytest.mark.slow
def test_measured_with_tiny_diffusion_components():
    """End to end through mobigen.generation with tiny random components (~20 s on CPU)."""
    from mobigen.conditions.quality_measured import MeasureRequest, diffusers_generator, measure
    from mobigen.generation.components import tiny_components

    gen = diffusers_generator(tiny_components(0, conditions=("canny",)))
    rgb = np.full((512, 512, 3), 90, np.uint8); rgb[100:300, 150:350] = 220
    t = measure([MeasureRequest("toy", rgb, "a toy")], [("canny", 1.0, 1.0, "jpeg")], [2], gen,
                TinySimilarity(), TinyReward(), condition_fn=_toy_condition, progress=False)
    assert len(t) == 1 and 0 <= t.q_I.iloc[0] <= 1 and 0 <= t.q_T.iloc[0] <= 1


def test_hub_offline_is_scoped_and_leaves_the_environment_alone(monkeypatch):
    """The measured backend's scorer loads run with huggingface_hub offline (its call-time flag), and the
    flag and os.environ are as before afterwards (issue 15: setting HF_HUB_OFFLINE after import did nothing)."""
    import os

    from huggingface_hub import constants

    from mobigen.conditions.quality_measured import hub_offline

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    with hub_offline():
        assert constants.is_offline_mode()
    assert not constants.is_offline_mode()
    assert "HF_HUB_OFFLINE" not in os.environ

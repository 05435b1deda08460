"""The slot sampler of the simulator and make_env."""

from __future__ import annotations

import numpy as np
import pytest

from _vce_fixtures import synthetic_profile
from mobigen.conditions.config_table import config_table
from mobigen.conditions.quality_surrogate import SurrogateQuality
from mobigen.conditions.vce import VCE, VCEChoice
from mobigen.scenario import CONDITIONS, preset
from mobigen.system.slot import quality_tables
from mobigen.workload import DIFFICULTY_CLIP_SIGMAS, SlotSampler, make_env

SC = preset("paper")


@pytest.fixture(scope="module")
def profile():
    return synthetic_profile(n_images=5)


@pytest.fixture(scope="module")
def sampler(profile):
    return SlotSampler(SC, profile=profile)


def test_slot_fields(sampler, profile):
    slot, reqs = sampler.sample_with_requests(np.random.default_rng(0))
    K = SC.num_users
    assert slot.K == K and len(reqs) == K
    assert slot.quality_backend == "surrogate"
    assert np.all((slot.omega_I >= 0) & (slot.omega_I <= 1))
    assert np.all((slot.qoe_threshold >= 0.6) & (slot.qoe_threshold <= 0.8))
    for bw in (slot.uplink_bps, slot.downlink_bps):
        assert np.all((bw >= 5e6) & (bw <= 20e6))  # Mbps -> bits/s
    assert np.allclose(slot.f_device, SC.f_devices) and np.allclose(slot.device_budget, SC.device_budgets_flops)
    assert np.allclose(slot.extraction_s, SC.extraction_flops_ratio * SC.eps0_flops / np.asarray(SC.f_devices))
    tab = sampler.table
    for k, r in enumerate(reqs):
        assert 0 <= r.prompt_index < 25 and r.image == tab.images[r.image_index]
        ch = r.choice
        assert CONDITIONS[slot.condition[k]] == ch.condition and slot.alpha[k] == ch.alpha and slot.beta[k] == ch.beta
        # the REAL measured bytes of this image at this configuration and codec
        assert slot.condition_bytes[k] == profile_rows(profile, r.image, ch)
        assert r.difficulty == slot.difficulty[k] == sampler.difficulty_table[r.image_index, r.prompt_index]
    q_I, q_T = quality_tables(sampler.quality, slot.condition, slot.alpha, slot.beta, slot.params.steps_values, slot.difficulty)
    assert np.array_equal(q_I, slot.q_I) and np.array_equal(q_T, slot.q_T)


def profile_rows(profile, image, ch):
    """Bytes of the one profile row of this image at the choice's (λ, α, β, codec)."""
    f = profile.frame
    m = ((f.image == image) & (f.condition == ch.condition) & np.isclose(f.alpha, ch.alpha)
         & np.isclose(f.beta, ch.beta) & (f.codec == ch.codec))
    assert m.sum() == 1
    return float(f.loc[m, "bytes"].iloc[0])



def test_deterministic_and_seed_sensitive(sampler):
    a = sampler.sample(np.random.default_rng(7))
    b = sampler.sample(np.random.default_rng(7))
    c = sampler.sample(np.random.default_rng(8))
    for name in ("condition", "alpha", "beta", "condition_bytes", "omega_I", "qoe_threshold", "uplink_bps", "q_I", "q_T"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.omega_I, c.omega_I)


def test_difficulty_distribution(profile):
    s = SlotSampler(SC, profile=profile, difficulty_std=0.05, difficulty_seed=3)
    d = s.difficulty_table
    assert d.shape == (5, 25)
    assert np.all(np.abs(d) <= DIFFICULTY_CLIP_SIGMAS * 0.05 + 1e-12)
    assert np.array_equal(d, SlotSampler(SC, profile=profile, difficulty_std=0.05, difficulty_seed=3).difficulty_table)
    assert np.all(SlotSampler(SC, profile=profile, difficulty_std=0.0).difficulty_table == 0)
    with pytest.raises(ValueError, match="difficulty_std"):
        SlotSampler(SC, profile=profile, difficulty_std=-1)


def test_chooser_injection(profile):
    tab = config_table(profile)
    seen = []

    def no_compression(w, q, up, f, rng):
        seen.append(isinstance(rng, np.random.Generator))
        return VCEChoice("hed", 1.0, 1.0, "png", float(tab.mean_bytes_by_codec["png"][1, -1, -1]), 0.0, 0.0, 0.0, "surrogate")

    s = SlotSampler(SC, profile=profile, chooser=no_compression)
    slot, reqs = s.sample_with_requests(np.random.default_rng(1))
    assert all(seen) and len(seen) == SC.num_users
    assert np.all(slot.condition == CONDITIONS.index("hed")) and np.all(slot.alpha == 1.0)
    for k, r in enumerate(reqs):
        assert slot.condition_bytes[k] == tab.bytes_by_codec["png"][r.image_index, 1, -1, -1]


def test_more_users_and_injected_vce(profile):
    tab = config_table(profile)
    v = VCE(tab, SurrogateQuality(table=tab), preset("users-11"))
    s = SlotSampler("users-11", vce=v)
    slot = s.sample(np.random.default_rng(0))
    assert slot.K == 11 and slot.q_I.shape == (11, len(slot.params.steps_values))


def test_make_env(profile):
    env = make_env("paper", seed=4, profile=profile)
    obs, _ = env.reset(seed=4)
    obs2, r, term, trunc, info = env.step(env.action_space.sample())
    assert obs.shape == env.observation_space.shape and np.isfinite(r) and info["quality_backend"] == "surrogate"
    o1, _ = make_env("paper", profile=profile).reset(seed=9)
    o2, _ = make_env("paper", profile=profile).reset(seed=9)
    assert np.array_equal(o1, o2)
    with pytest.raises(ValueError, match="unknown keyword"):
        make_env("paper", profile=profile, colour="red")


def test_ablation_choosers(profile):
    from mobigen.workload import fixed_condition_chooser, random_chooser, vce_chooser

    tab = config_table(profile)
    v = VCE(tab, SurrogateQuality(table=tab), SC)
    rng = np.random.default_rng(0)
    s = SlotSampler(SC, vce=v, chooser=fixed_condition_chooser(v, "seg"))
    assert np.all(s.sample(rng).condition == CONDITIONS.index("seg"))
    s = SlotSampler(SC, vce=VCE(tab, v.quality, SC, compression="none"), chooser=None)
    slot = s.sample(rng)
    assert np.all(slot.alpha == 1.0) and np.all(slot.beta == 1.0)
    picks = [random_chooser(v)(0.5, 0.7, 1e7, SC.f_devices[0], np.random.default_rng(i)) for i in range(40)]
    assert len({(p.condition, p.alpha, p.beta) for p in picks}) > 20
    a = vce_chooser(v)(0.3, 0.7, 1e7, SC.f_devices[0], rng)
    assert a == v.choose(0.3, 0.7, 1e7, SC.f_devices[0])


def test_fixed_omega_in_the_scenario_reaches_every_user():
    from mobigen.scenario import preset
    from mobigen.workload import SlotSampler

    try:
        sampler = SlotSampler(preset("paper").replace(omega=(0.7, 0.3)))
    except FileNotFoundError as exc:  # pragma: no cover - the profile ships with the package
        pytest.skip(f"shipped profile missing: {exc}")
    slot = sampler.sample(np.random.default_rng(3))
    np.testing.assert_allclose(slot.omega_I, 0.7)
    free = SlotSampler(preset("paper")).sample(np.random.default_rng(3))
    assert not np.allclose(free.omega_I, 0.7)
    np.testing.assert_array_equal(slot.qoe_threshold, free.qoe_threshold)  # the rest of the stream is unchanged

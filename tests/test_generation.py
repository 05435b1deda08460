"""Split denoising (Sec. IV-C, eqs. 4-5): edge(k) then device(T-k) equals the monolithic T-step run.

Tiny random-weight components built in code; no hub is ever contacted. Small latents (8x8) are used
where the property does not depend on size; one test runs the full 512x512 condition / 64x64 latent.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from mobigen.generation.components import (
    CONDITION_TYPES,
    SD15_SCHEDULER_CONFIG,
    load_components,
    tiny_components,
    tiny_tokenizer,
)
from mobigen.generation.denoise import (
    REFUSED_SCHEDULERS,
    decode,
    denoise,
    encode_prompt,
    generate,
    initial_latents,
    make_scheduler,
    prepare_condition,
)
from mobigen.generation.wire import MAX_CONTROLNET_SCALE, MAX_GUIDANCE_SCALE, decode_payload, encode_latent
from _generation_support import FP16_AMPLIFICATION, FP16_PIXEL_ATOL, condition_pattern  # noqa: F401
from _generation_support import no_network, one_torch_thread  # noqa: F401 - fixtures

# diffusers' Euler scheduler calls np.array(copy=False) on a tensor under numpy 2 (library-internal).
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

# fp16 handoff tolerance, stated: rounding the handed-over latent z_k to float16 moves it by at most
# max|z_k| * 2**-11; the remaining T-k steps may amplify that, and we require the final latents to stay
# within FP16_AMPLIFICATION times that rounding bound of the monolithic run (measured worst on these
# tiny components: 6.0x at T=12, k=0; 4.1x at T=6), never above FP16_LATENT_ATOL in absolute terms,
# and the decoded 8-bit images within FP16_PIXEL_ATOL grey levels (measured: 1).
FP16_LATENT_ATOL = 5e-2


@pytest.fixture(scope="module")
def tiny():
    return tiny_components(seed=0, conditions=("canny", "depth"))


@pytest.fixture(scope="module")
def setup(tiny):
    cond = prepare_condition(tiny, condition_pattern(64))
    z = initial_latents(tiny, seed=3, height=64, width=64)
    emb = encode_prompt(tiny, "a dog surrounded by sunflowers", "blurry")
    return cond, z, emb


def _run(c, z, emb, cond, start, end, total, scheduler_name="ddim", condition_type="canny"):
    return denoise(c, latents=z, start=start, end=end, total_steps=total, embeddings=emb, condition_image=cond,
                   condition_type=condition_type, scheduler_name=scheduler_name)


@pytest.mark.parametrize(
    "total, scheduler_name", [(1, "ddim"), (4, "ddim"), (7, "ddim"), (12, "ddim"), (1, "euler"), (7, "euler")]
)
def test_split_equals_monolithic_bit_exact_every_k(tiny, setup, total, scheduler_name):
    cond, z, emb = setup
    mono = _run(tiny, z, emb, cond, 0, total, total, scheduler_name)
    assert torch.isfinite(mono).all()
    assert not torch.equal(mono, z)
    for k in range(total + 1):  # k = ⌊o T⌋ edge steps (eq. 4), T - k device steps (eq. 5)
        edge = _run(tiny, z, emb, cond, 0, k, total, scheduler_name)
        # fp32 handoff through the wire format: header + raw float32, must be lossless
        msg = decode_payload(encode_latent(edge, steps_done=k, total_steps=total, seed=3, condition_type="canny",
                                           scheduler_config=tiny.scheduler_config, mode="fp32"))
        assert msg.steps_done == k
        device = _run(tiny, msg.latents, emb, cond, msg.steps_done, msg.total_steps, msg.total_steps, scheduler_name)
        assert torch.equal(device, mono), f"T={total} k={k}: max diff {(device - mono).abs().max().item()}"


def test_split_in_three_slices_equals_monolithic(tiny, setup):
    cond, z, emb = setup
    mono = _run(tiny, z, emb, cond, 0, 6, 6)
    a = _run(tiny, z, emb, cond, 0, 2, 6)
    b = _run(tiny, a, emb, cond, 2, 5, 6)
    assert torch.equal(_run(tiny, b, emb, cond, 5, 6, 6), mono)


def test_split_through_fp16_wire_within_stated_tolerance(tiny, setup):
    cond, z, emb = setup
    total = 6
    mono = _run(tiny, z, emb, cond, 0, total, total)
    mono_img = decode(tiny, mono)
    worst = 0.0
    for k in range(total + 1):
        edge = _run(tiny, z, emb, cond, 0, k, total)
        msg = decode_payload(encode_latent(edge, steps_done=k, total_steps=total, seed=3, condition_type="canny",
                                           scheduler_config=tiny.scheduler_config, mode="fp16"))
        out = _run(tiny, msg.latents, emb, cond, k, total, total)
        diff = float((out - mono).abs().max())
        rounding = float(edge.abs().max()) * 2**-11
        worst = max(worst, diff)
        assert diff <= FP16_AMPLIFICATION * rounding, f"k={k}: {diff} vs fp16 rounding bound {rounding}"
        assert diff <= FP16_LATENT_ATOL, f"k={k}: {diff}"
        img_diff = np.abs(decode(tiny, out).astype(int) - mono_img.astype(int)).max()
        assert img_diff <= FP16_PIXEL_ATOL, f"k={k}: {img_diff}"
    assert worst > 0  # the fp16 handoff is really lossy at some split, so the tolerance is exercised


def test_same_seed_same_image_and_seed_matters(tiny):
    cond = condition_pattern(64)
    kw = dict(prompt="a red clock", condition_rgb_uint8=cond, condition_type="canny", total_steps=3)
    a = generate(tiny, seed=5, **kw)
    b = generate(tiny, seed=5, **kw)
    c = generate(tiny, seed=6, **kw)
    assert a.dtype == np.uint8 and a.shape == (64, 64, 3)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_condition_and_prompt_steer_the_result(tiny, setup):
    cond, z, emb = setup
    base = _run(tiny, z, emb, cond, 0, 3, 3)
    other_cond = prepare_condition(tiny, condition_pattern(64, seed=9)[::-1].copy())
    assert not torch.equal(_run(tiny, z, emb, other_cond, 0, 3, 3), base)
    assert not torch.equal(_run(tiny, z, emb, cond, 0, 3, 3, condition_type="depth"), base)
    emb2 = encode_prompt(tiny, "an old house in stormy weather", "blurry")
    assert not torch.equal(_run(tiny, z, emb2, cond, 0, 3, 3), base)


def test_end_to_end_512_condition_64_latent_split_via_fp16_wire(tiny):
    cond = prepare_condition(tiny, condition_pattern(512))
    z = initial_latents(tiny, seed=11)
    assert z.shape == (1, 4, 64, 64)
    emb = encode_prompt(tiny, "a dog surrounded by sunflowers")
    total, k = 3, 1
    mono = _run(tiny, z, emb, cond, 0, total, total)
    edge = _run(tiny, z, emb, cond, 0, k, total)
    data = encode_latent(edge, steps_done=k, total_steps=total, seed=11, condition_type="canny",
                         scheduler_config=tiny.scheduler_config)
    assert 32_768 < len(data) < 33_792  # fp16 4x64x64 + header (paper: ≈ 33 KB)
    msg = decode_payload(data)
    out = _run(tiny, msg.latents, emb, cond, k, total, total)
    assert float((out - mono).abs().max()) <= FP16_AMPLIFICATION * float(edge.abs().max()) * 2**-11
    img, mono_img = decode(tiny, out), decode(tiny, mono)
    assert img.shape == (512, 512, 3) and img.dtype == np.uint8
    assert np.abs(img.astype(int) - mono_img.astype(int)).max() <= FP16_PIXEL_ATOL


@pytest.mark.parametrize("family", ["sd21", "sdxl"])
def test_other_families_split_equals_monolithic(family):
    c = tiny_components(seed=1, conditions=("depth",), family=family)
    cond = prepare_condition(c, condition_pattern(64))
    z = initial_latents(c, seed=2, height=64, width=64)
    emb = encode_prompt(c, "a cat", "")
    if family == "sdxl":
        assert emb.pooled_positive is not None
    total = 4
    mono = _run(c, z, emb, cond, 0, total, total, condition_type="depth")
    for k in range(total + 1):
        edge = _run(c, z, emb, cond, 0, k, total, condition_type="depth")
        assert torch.equal(_run(c, edge, emb, cond, k, total, total, condition_type="depth"), mono)
    assert decode(c, mono).shape == (64, 64, 3)


def test_tiny_components_are_seeded_and_leave_global_rng_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = tiny_components(seed=4, conditions=("seg",))
    after = torch.rand(1)
    assert torch.equal(before, after)
    b = tiny_components(seed=4, conditions=("seg",))
    c = tiny_components(seed=5, conditions=("seg",))
    for (n, pa), (_, pb), (_, pc) in zip(a.denoiser.named_parameters(), b.denoiser.named_parameters(),
                                          c.denoiser.named_parameters()):
        assert torch.equal(pa, pb), n
    assert any(not torch.equal(pa, pc) for pa, pc in zip(a.denoiser.parameters(), c.denoiser.parameters()))
    # the zero-initialised ControlNet projections were given weights, so the condition matters
    assert torch.count_nonzero(a.controlnets["seg"].controlnet_mid_block.weight) > 0


def test_tokenizer_is_local_and_complete():
    tok = tiny_tokenizer()
    ids = tok(["Ünïcode prompt, with punctuation!"], padding="max_length", max_length=77,
              truncation=True, return_tensors="pt").input_ids
    assert ids.shape == (1, 77)
    assert int(ids[0, 0]) == 512 and int(ids.max()) <= 513


def test_refuses_bad_arguments(tiny, setup):
    cond, z, emb = setup
    for name in REFUSED_SCHEDULERS:
        with pytest.raises(ValueError, match="cannot be split"):
            make_scheduler(tiny, 10, name)
    with pytest.raises(ValueError, match="scheduler_name"):
        make_scheduler(tiny, 10, "karras-magic")
    with pytest.raises(ValueError, match="total_steps"):
        make_scheduler(tiny, 0)
    with pytest.raises(ValueError, match="start <= end"):
        _run(tiny, z, emb, cond, 3, 2, 5)
    with pytest.raises(ValueError, match="start <= end"):
        _run(tiny, z, emb, cond, 0, 6, 5)
    with pytest.raises(ValueError, match="no ControlNet loaded"):
        _run(tiny, z, emb, cond, 0, 1, 5, condition_type="seg")
    with pytest.raises(ValueError, match="does not match latents"):
        _run(tiny, z, emb, prepare_condition(tiny, condition_pattern(128)), 0, 1, 5)
    with pytest.raises(ValueError, match="NaN or Inf"):
        _run(tiny, torch.full_like(z, float("nan")), emb, cond, 0, 1, 5)
    with pytest.raises(ValueError, match="uint8"):
        prepare_condition(tiny, np.zeros((64, 64, 3), np.float32))
    with pytest.raises(ValueError, match="multiples of 64"):
        prepare_condition(tiny, np.zeros((100, 64, 3), np.uint8))
    with pytest.raises(ValueError, match="height"):
        initial_latents(tiny, seed=0, height=100)
    with pytest.raises(ValueError, match="seed"):
        initial_latents(tiny, seed=-1)
    with pytest.raises(ValueError, match="family"):
        tiny_components(family="flux")


@pytest.mark.parametrize("field", ["guidance_scale", "controlnet_scale"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), -0.5, 1e30, True, "2", None])
def test_refuses_non_finite_or_out_of_range_scales(tiny, setup, field, value):
    from mobigen.generation.split import edge_run

    cond, z, emb = setup
    with pytest.raises(ValueError, match=field):
        denoise(tiny, latents=z, start=0, end=1, total_steps=2, embeddings=emb, condition_image=cond,
                condition_type="canny", **{field: value})
    with pytest.raises(ValueError, match=field):  # refused before any step, also for a zero-step slice
        edge_run(tiny, prompt="a cat", condition_rgb_uint8=condition_pattern(64), condition_type="canny", seed=1,
                 total_steps=2, edge_steps=0, **{field: value})


def test_scales_at_the_edges_of_their_range_are_accepted(tiny, setup):
    cond, z, emb = setup
    run = dict(latents=z, start=0, end=2, total_steps=2, embeddings=emb, condition_image=cond, condition_type="canny")
    no_cn = denoise(tiny, controlnet_scale=0.0, guidance_scale=np.float32(1.0), **run)
    assert torch.isfinite(no_cn).all()
    assert not torch.equal(no_cn, denoise(tiny, controlnet_scale=1, guidance_scale=1.0, **run))
    assert torch.isfinite(denoise(tiny, controlnet_scale=MAX_CONTROLNET_SCALE, guidance_scale=MAX_GUIDANCE_SCALE,
                                  **run)).all()


# ------------------------------------------------------------------ loading local weights


def _save_hf_cache_entry(save, cache, repo_id, revision="abc123"):
    """Write one repository the way huggingface_hub caches it: refs/main naming a snapshot folder."""
    entry = cache / ("models--" + repo_id.replace("/", "--"))
    (entry / "refs").mkdir(parents=True)
    (entry / "refs" / "main").write_text(revision)
    save(entry / "snapshots" / revision)
    return entry


def _save_base(c, folder):
    """Write tiny SD1.5 base components as a diffusers-format folder."""
    from diffusers import DDIMScheduler

    c.denoiser.save_pretrained(folder / "unet")
    c.vae.save_pretrained(folder / "vae")
    c.text_encoder.save_pretrained(folder / "text_encoder")
    c.tokenizer.save_pretrained(folder / "tokenizer")
    DDIMScheduler.from_config(dict(c.scheduler_config)).save_pretrained(folder / "scheduler")
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))


def _save_layout(c, root, hf_cache_controlnet: bool = False):
    """Write tiny components in the documented on-disk layout (diffusers format)."""
    base = root / "stable-diffusion-v1-5"
    _save_base(c, base)
    if hf_cache_controlnet:
        _save_hf_cache_entry(c.controlnets["canny"].save_pretrained, root, "lllyasviel/control_v11p_sd15_canny")
    else:
        c.controlnets["canny"].save_pretrained(root / "control_v11p_sd15_canny")
    return base


def _same_latents(a, b):
    cond = prepare_condition(a, condition_pattern(64))
    z = initial_latents(a, seed=1, height=64, width=64)
    out = [_run(comp, z, encode_prompt(comp, "a teapot"), cond, 0, 2, 2) for comp in (a, b)]
    return torch.equal(out[0], out[1])


@pytest.mark.parametrize("hf_cache", [False, True])
def test_load_components_from_local_layout_reproduces_tiny(tmp_path, hf_cache, no_network):
    c = tiny_components(seed=2, conditions=("canny",))
    _save_layout(c, tmp_path, hf_cache_controlnet=hf_cache)
    loaded = load_components(tmp_path, conditions=("canny",))
    assert loaded.family == "sd15" and loaded.conditions == ("canny",)
    assert _same_latents(c, loaded)


def test_load_components_from_default_hf_cache_offline(tmp_path, monkeypatch, no_network):
    """No path: MOBIGEN_SD_DIR unset, so huggingface_hub's cache folder is searched, with its own
    revision resolution (refs/main), and no network call is attempted although HF_HUB_OFFLINE is unset."""
    from huggingface_hub import constants as hf_constants

    cache = tmp_path / "hub"
    monkeypatch.delenv("MOBIGEN_SD_DIR", raising=False)
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(cache))
    with pytest.raises(FileNotFoundError, match=f"stable-diffusion-v1-5.*Searched: {re.escape(str(cache))}.*Nothing is downloaded"):
        load_components(conditions=("canny",))
    c = tiny_components(seed=2, conditions=("canny",))
    entry = _save_hf_cache_entry(lambda d: _save_base(c, d), cache, "stable-diffusion-v1-5/stable-diffusion-v1-5")
    (entry / "snapshots" / "zzz999").mkdir()  # a newer snapshot that refs/main does not name
    (entry / "snapshots" / "zzz999" / "model_index.json").write_text("not json")
    with pytest.raises(FileNotFoundError, match="ControlNet lllyasviel/control_v11p_sd15_canny"):
        load_components(conditions=("canny",))
    _save_hf_cache_entry(c.controlnets["canny"].save_pretrained, cache, "lllyasviel/control_v11p_sd15_canny")
    loaded = load_components(conditions=("canny",))
    assert loaded.extra["base_dir"] == str(entry / "snapshots" / "abc123")
    assert _same_latents(c, loaded)


@pytest.mark.parametrize("flag", [None, True, False])
def test_load_sdxl_reads_the_pipeline_empty_prompt_flag(tmp_path, flag, no_network):
    from diffusers import DDIMScheduler

    c = tiny_components(seed=2, conditions=("canny",), family="sdxl")
    base = tmp_path / "stable-diffusion-xl-base-1.0"
    for name in ("denoiser", "vae", "text_encoder", "tokenizer", "text_encoder_2", "tokenizer_2"):
        getattr(c, name).save_pretrained(base / ("unet" if name == "denoiser" else name))
    DDIMScheduler.from_config(dict(c.scheduler_config)).save_pretrained(base / "scheduler")
    index = {"_class_name": "StableDiffusionXLPipeline"}
    if flag is not None:
        index["force_zeros_for_empty_prompt"] = flag
    (base / "model_index.json").write_text(json.dumps(index))
    c.controlnets["canny"].save_pretrained(tmp_path / "controlnet-canny-sdxl-1.0")
    loaded = load_components(tmp_path, conditions=("canny",), family="sdxl")
    assert loaded.force_zeros_for_empty_prompt is (flag is not False)  # diffusers' default: true
    assert bool(torch.count_nonzero(encode_prompt(loaded, "a cat").negative) == 0) is (flag is not False)
    if flag is not False:
        assert _same_latents(c, loaded)


def test_load_components_names_what_is_missing(tmp_path):
    c = tiny_components(seed=2, conditions=("canny",))
    _save_layout(c, tmp_path)
    with pytest.raises(FileNotFoundError, match="control_v11f1p_sd15_depth.*'depth'"):
        load_components(tmp_path, conditions=("canny", "depth"))
    with pytest.raises(FileNotFoundError, match="stable-diffusion-v1-5"):
        load_components(tmp_path / "control_v11p_sd15_canny", conditions=("canny",))
    with pytest.raises(FileNotFoundError, match="not a directory"):
        load_components(tmp_path / "nope")
    with pytest.raises(ValueError, match="family"):
        load_components(tmp_path, family="flux")
    with pytest.raises(ValueError, match="no known ControlNet"):
        load_components(tmp_path, family="sdxl", conditions=("seg",))
    with pytest.raises(ValueError, match="unknown condition"):
        load_components(tmp_path, conditions=("sketch",))
    assert set(CONDITION_TYPES) == {"canny", "hed", "depth", "seg"}
    assert SD15_SCHEDULER_CONFIG["num_train_timesteps"] == 1000


# ------------------------------------------------------------------ the two-call edge/device API


@pytest.mark.parametrize("edge_steps", [0, 2, 4])
def test_edge_run_device_run_equals_monolithic(tiny, edge_steps):
    from mobigen.generation.split import device_run, edge_run

    cond_img = condition_pattern(64)
    req = dict(prompt="a dog surrounded by sunflowers", condition_rgb_uint8=cond_img)
    mono = generate(tiny, condition_type="depth", seed=8, total_steps=4, guidance_scale=5.0, **req)
    data = edge_run(tiny, condition_type="depth", seed=8, total_steps=4, edge_steps=edge_steps,
                    guidance_scale=5.0, latent_mode="fp32", **req)
    msg = decode_payload(data)
    assert msg.kind == ("image" if edge_steps == 4 else "latent")
    assert msg.guidance_scale == 5.0 and msg.scheduler_config["_class_name"] == "DDIMScheduler"
    img = device_run(tiny, data, expected_seed=8, **req)
    assert np.array_equal(img, mono)


def test_device_run_refuses_mismatched_schedule_or_seed(tiny):
    from mobigen.generation.split import check_compatible, device_run, edge_run
    from mobigen.generation.wire import WireFormatError

    req = dict(prompt="a cat", condition_rgb_uint8=condition_pattern(64))
    data = edge_run(tiny, condition_type="canny", seed=1, total_steps=3, edge_steps=1, **req)
    with pytest.raises(WireFormatError, match="seed"):
        device_run(tiny, data, expected_seed=2, **req)
    other = dict(tiny.scheduler_config, _class_name="DDIMScheduler", prediction_type="v_prediction")
    with pytest.raises(WireFormatError, match="prediction_type"):
        check_compatible(tiny, other)
    with pytest.raises(WireFormatError, match="splittable"):
        check_compatible(tiny, dict(tiny.scheduler_config, _class_name="DPMSolverMultistepScheduler"))
    with pytest.raises(WireFormatError, match="does not fit"):
        device_run(tiny, data, prompt="a cat", condition_rgb_uint8=condition_pattern(128))


@pytest.mark.parametrize("family, dtype", [("sd15", torch.bfloat16), ("sdxl", torch.float16)])
def test_half_precision_networks_keep_fp32_trajectory_and_exact_split(family, dtype):
    c = tiny_components(seed=0, conditions=("canny",), family=family, dtype=dtype)
    cond = prepare_condition(c, condition_pattern(64))
    assert cond.dtype == dtype
    z = initial_latents(c, seed=1, height=64, width=64)
    emb = encode_prompt(c, "a dog")
    mono = _run(c, z, emb, cond, 0, 4, 4)
    assert mono.dtype == torch.float32
    assert torch.equal(_run(c, _run(c, z, emb, cond, 0, 2, 4), emb, cond, 2, 4, 4), mono)
    img = decode(c, mono)  # SDXL + float16: decoded in float32, then the VAE is put back
    assert img.shape == (64, 64, 3) and c.vae.dtype == dtype


def test_plain_scheduler_config_means_ddim(tiny):
    from mobigen.generation.split import check_compatible

    assert check_compatible(tiny, tiny.scheduler_config) == "ddim"
    assert check_compatible(tiny, dict(tiny.scheduler_config, _class_name="EulerDiscreteScheduler")) == "euler"


def test_tiny_components_built_in_parallel_threads_are_identical():
    """An edge worker and a device may build the tiny weights at the same time in one process: the
    seeded build must not interleave its random draws (same seed -> same weights, whatever the threads)."""
    import threading

    from mobigen.generation.components import tiny_components

    built: dict[int, object] = {}
    errors: list[BaseException] = []

    def build(i: int) -> None:
        try:
            built[i] = tiny_components(3, conditions=("canny",))
        except BaseException as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)

    threads = [threading.Thread(target=build, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors and len(built) == 4
    ref = tiny_components(3, conditions=("canny",))
    for c in built.values():
        for name in ("denoiser", "vae", "text_encoder"):
            a, b = getattr(ref, name).state_dict(), getattr(c, name).state_dict()
            assert all(torch.equal(a[k], b[k]) for k in a), name
        a, b = ref.controlnet("canny").state_dict(), c.controlnet("canny").state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a)

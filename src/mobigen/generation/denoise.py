"""ControlNet-guided denoising over an explicit slice [start, end) of a T-step schedule (Sec. IV-C).

The paper's distributed denoising runs eq. (3) on the edge for 0 < t ≤ ⌊o_k T_k⌋ (eq. 4) and on the
device for ⌊o_k T_k⌋ < t ≤ T_k (eq. 5); the device then decodes z_0 with the VAE. diffusers' SD1.5
ControlNet pipeline cannot resume mid-schedule, so this module owns the loop: edge and device call
the same :func:`denoise` with different slices of one schedule, and the split run equals the
monolithic one (bit-exactly with an fp32 handoff on a deterministic backend; see tests).

Conventions
- ``initial_latents`` returns z_T ~ N(0, I) *unscaled*; executing step 0 multiplies by the
  scheduler's ``init_noise_sigma`` (1.0 for DDIM). A zero-step edge slice therefore hands over the
  raw noise and the device's step 0 scales it exactly once.
- The latent trajectory and all scheduler arithmetic are kept in float32 whatever the network
  dtype; only the network inputs are cast to ``components.dtype``. The fp32 handoff is then exact
  even with half-precision weights on a GPU.
- Schedulers: ``ddim`` (η = 0, the default) and ``euler`` (EulerDiscrete) depend only on the step
  index, so a fresh scheduler on the device continues exactly. Multistep solvers (DPM-Solver++,
  UniPC, PNDM/PLMS, LMS, DEIS) keep previous model outputs in the scheduler object; that history
  would be lost at the split and the device's steps would silently differ from a monolithic run,
  so they are refused (:data:`REFUSED_SCHEDULERS`).
- SD3.5 (``family="sd35"``) is a rectified-flow model: its only scheduler is ``flowmatch_euler``
  (FlowMatchEulerDiscreteScheduler, z ← z + (σ_{i+1} − σ_i)·v), whose update also depends on the step
  index alone (``set_begin_index(start)``), so it splits exactly like DDIM. DDIM/Euler are refused
  for sd35 and ``flowmatch_euler`` for the UNet families. The SD3 ControlNet takes the condition
  image VAE-encoded, as diffusers' ``StableDiffusion3ControlNetPipeline`` does; mobigen encodes it
  with the posterior *mean* (the pipeline samples without a generator), so edge and device derive
  the identical control latent from the identical condition image.
- An empty negative prompt means "none" (diffusers' ``negative_prompt=None``): SDXL base's pipeline
  sets ``force_zeros_for_empty_prompt`` and then guides against zero embeddings, not against the
  text ""; :func:`encode_prompt` follows the flag the weights' ``model_index.json`` carries.
- ``guidance_scale`` and ``controlnet_scale`` must be finite and within the bounds the downlink
  message accepts (:func:`check_scales`); NaN would otherwise silently switch guidance off.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from mobigen.generation.components import FLOW_FAMILIES, T5_MAX_SEQUENCE_LENGTH, Components, cast_quietly
from mobigen.generation.wire import MAX_CONTROLNET_SCALE, MAX_GUIDANCE_SCALE

log = logging.getLogger(__name__)

#: Schedulers whose state at step i is a function of i alone (safe to split), by name.
SPLITTABLE_SCHEDULERS: tuple[str, ...] = ("ddim", "euler", "flowmatch_euler")

#: Schedulers usable with the flow-matching families (``FLOW_FAMILIES``); the rest are for UNets.
FLOW_SCHEDULERS: tuple[str, ...] = ("flowmatch_euler",)

#: Multistep schedulers and why they cannot be split without carrying solver history.
REFUSED_SCHEDULERS: dict[str, str] = {
    "dpm++": "DPMSolverMultistepScheduler keeps the last model outputs (solver order 2)",
    "dpmsolver": "DPMSolverMultistepScheduler keeps the last model outputs (solver order 2)",
    "unipc": "UniPCMultistepScheduler keeps previous model outputs for its predictor-corrector",
    "pndm": "PNDMScheduler (PLMS) keeps the last 4 noise predictions",
    "lms": "LMSDiscreteScheduler keeps previous derivatives",
    "deis": "DEISMultistepScheduler keeps previous model outputs",
    "heun": "HeunDiscreteScheduler spreads one step over two calls with state in between",
}


@dataclass(frozen=True)
class PromptEmbeddings:
    """Text conditioning (the prompt part of z_c in eq. 3) for classifier-free guidance."""

    positive: torch.Tensor
    """Encoder hidden states of the prompt, shape (1, tokens, dim), network dtype."""
    negative: torch.Tensor
    """Encoder hidden states of the negative prompt, same shape (zeros for an empty negative prompt
    when ``Components.force_zeros_for_empty_prompt``, SDXL base's convention)."""
    pooled_positive: torch.Tensor | None = None
    """SDXL and SD3.5: pooled projection of the prompt, shape (1, dim2)."""
    pooled_negative: torch.Tensor | None = None
    """SDXL and SD3.5: pooled projection of the negative prompt."""


def _validate_scheduler_name(name: str) -> None:
    if name in REFUSED_SCHEDULERS:
        raise ValueError(
            f"scheduler_name {name!r} cannot be split between edge and device: "
            f"{REFUSED_SCHEDULERS[name]}, which a split would lose. Use one of {SPLITTABLE_SCHEDULERS}."
        )
    if name not in SPLITTABLE_SCHEDULERS:
        raise ValueError(f"scheduler_name must be one of {SPLITTABLE_SCHEDULERS}, got {name!r}")


def default_scheduler_name(components: Components) -> str:
    """The family's default splittable scheduler: ``flowmatch_euler`` for sd35, ``ddim`` otherwise."""
    return "flowmatch_euler" if components.family in FLOW_FAMILIES else "ddim"


def resolve_scheduler_name(components: Components, scheduler_name: str | None) -> str:
    """``scheduler_name`` checked against the family (``None`` means the family default)."""
    if scheduler_name is None:
        return default_scheduler_name(components)
    _validate_scheduler_name(scheduler_name)
    flow = components.family in FLOW_FAMILIES
    if flow != (scheduler_name in FLOW_SCHEDULERS):
        allowed = FLOW_SCHEDULERS if flow else tuple(n for n in SPLITTABLE_SCHEDULERS if n not in FLOW_SCHEDULERS)
        raise ValueError(f"scheduler_name {scheduler_name!r} does not fit family {components.family!r} "
                         f"({'rectified flow' if flow else 'UNet noise prediction'}); use one of {allowed}")
    return scheduler_name


def make_scheduler(components: Components, num_steps: int, scheduler_name: str | None = None) -> Any:
    """A fresh scheduler of ``components.scheduler_config`` set to a ``num_steps``-step schedule.

    ``scheduler_name=None`` picks the family default (:func:`default_scheduler_name`)."""
    scheduler_name = resolve_scheduler_name(components, scheduler_name)
    n_train = int(components.scheduler_config.get("num_train_timesteps", 1000))
    if isinstance(num_steps, bool) or not isinstance(num_steps, (int, np.integer)) or not 1 <= num_steps <= n_train:
        raise ValueError(f"total_steps must be an integer in [1, {n_train}], got {num_steps!r}")
    from diffusers import DDIMScheduler, EulerDiscreteScheduler, FlowMatchEulerDiscreteScheduler

    cls = {"ddim": DDIMScheduler, "euler": EulerDiscreteScheduler,
           "flowmatch_euler": FlowMatchEulerDiscreteScheduler}[scheduler_name]
    scheduler = cls.from_config(dict(components.scheduler_config))
    scheduler.set_timesteps(int(num_steps), device="cpu")
    return scheduler


def _tokenize(tokenizer: Any, text: str, max_length: int | None = None) -> torch.Tensor:
    return tokenizer(
        [text],
        padding="max_length",
        max_length=tokenizer.model_max_length if max_length is None else max_length,
        truncation=True,
        return_tensors="pt",
    ).input_ids


@torch.no_grad()
def encode_prompt(components: Components, prompt: str, negative_prompt: str = "") -> PromptEmbeddings:
    """CLIP-encode a prompt and a negative prompt (SDXL: both encoders, hidden state -2, pooled;
    SD3.5: CLIP-L + CLIP-G hidden states zero-padded to T5's width and followed by T5's tokens).

    An empty ``negative_prompt`` means "no negative prompt" (diffusers' ``negative_prompt=None``):
    components with ``force_zeros_for_empty_prompt`` (SDXL base) then get zero negative embeddings,
    as diffusers' SDXL pipelines give them; the other families encode the text "" as their pipelines do.
    """
    if not isinstance(prompt, str) or not isinstance(negative_prompt, str):
        raise ValueError("prompt and negative_prompt must be strings")
    if components.family in FLOW_FAMILIES:
        encode = _encode_sd3
    elif components.family == "sdxl":
        encode = _encode_sdxl
    else:
        return PromptEmbeddings(positive=_encode_clip(components, prompt),
                                negative=_encode_clip(components, negative_prompt))
    pos, pooled_pos = encode(components, prompt)
    if negative_prompt == "" and components.force_zeros_for_empty_prompt:
        neg, pooled_neg = torch.zeros_like(pos), torch.zeros_like(pooled_pos)
    else:
        neg, pooled_neg = encode(components, negative_prompt)
    return PromptEmbeddings(positive=pos, negative=neg, pooled_positive=pooled_pos, pooled_negative=pooled_neg)


def _encode_clip(components: Components, text: str) -> torch.Tensor:
    """SD1.5 / SD2.1: the last hidden state of the one CLIP text encoder."""
    ids = _tokenize(components.tokenizer, text).to(components.device)
    return components.text_encoder(ids)[0].to(components.dtype)


def _encode_sdxl(components: Components, text: str) -> tuple[torch.Tensor, torch.Tensor]:
    """SDXL: both encoders' hidden state -2 concatenated, and the second encoder's pooled projection."""
    dev = components.device
    out1 = components.text_encoder(_tokenize(components.tokenizer, text).to(dev), output_hidden_states=True)
    out2 = components.text_encoder_2(_tokenize(components.tokenizer_2, text).to(dev), output_hidden_states=True)
    hidden = torch.cat([out1.hidden_states[-2], out2.hidden_states[-2]], dim=-1)
    return hidden.to(components.dtype), out2.text_embeds.to(components.dtype)


def _encode_sd3(components: Components, text: str) -> tuple[torch.Tensor, torch.Tensor]:
    """One prompt as diffusers' SD3 pipelines encode it (``encode_prompt``, clip_skip=None)."""
    dev = components.device
    hidden, pooled = [], []
    for enc, tok in ((components.text_encoder, components.tokenizer),
                     (components.text_encoder_2, components.tokenizer_2)):
        out = enc(_tokenize(tok, text, max_length=77).to(dev), output_hidden_states=True)
        hidden.append(out.hidden_states[-2])
        pooled.append(out.text_embeds)
    clip = torch.cat(hidden, dim=-1)
    t5_len = min(int(components.tokenizer_3.model_max_length), T5_MAX_SEQUENCE_LENGTH)
    t5 = components.text_encoder_3(_tokenize(components.tokenizer_3, text, max_length=t5_len).to(dev))[0]
    clip = torch.nn.functional.pad(clip.to(t5.dtype), (0, t5.shape[-1] - clip.shape[-1]))
    return torch.cat([clip, t5], dim=-2).to(components.dtype), torch.cat(pooled, dim=-1).to(components.dtype)


def initial_latents(components: Components, seed: int, height: int = 512, width: int = 512) -> torch.Tensor:
    """z_T ~ N(0, I), shape (1, C, height/8, width/8), float32, drawn on the CPU from a seeded generator.

    Drawing on the CPU makes z_T identical on every machine for one seed; it is then moved to
    ``components.device``. Scaling by ``init_noise_sigma`` happens in step 0 of :func:`denoise`.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**63:
        raise ValueError(f"seed must be a non-negative integer below 2**63, got {seed!r}")
    f = components.vae_scale_factor
    for name, v in (("height", height), ("width", width)):
        if not isinstance(v, (int, np.integer)) or v <= 0 or v % (8 * f) != 0:
            raise ValueError(f"{name} must be a positive multiple of {8 * f} pixels, got {v!r}")
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    shape = (1, components.latent_channels, height // f, width // f)
    return torch.randn(shape, generator=gen, dtype=torch.float32).to(components.device)


def prepare_condition(components: Components, condition_rgb_uint8: np.ndarray) -> torch.Tensor:
    """A visual condition image (H, W, 3) or (H, W) uint8 -> tensor (1, 3, H, W) in [0, 1], network dtype.

    This is what diffusers' ControlNet image processor does for SD1.5 (no normalisation to [-1, 1]).
    The device must feed the *same* condition the edge used (the decoded uplink bytes, not its
    uncompressed original) or the two halves of a split run condition differently.
    """
    arr = np.asarray(condition_rgb_uint8)
    if arr.dtype != np.uint8:
        raise ValueError(f"condition image must be uint8, got dtype {arr.dtype}")
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"condition image must have shape (H, W, 3) or (H, W), got {arr.shape}")
    f = 8 * components.vae_scale_factor
    if arr.shape[0] % f or arr.shape[1] % f or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"condition image sides must be positive multiples of {f}, got {arr.shape[:2]}")
    t = torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1)[None].to(torch.float32) / 255.0
    return t.to(device=components.device, dtype=components.dtype)


def _check_slice(start: int, end: int, total_steps: int) -> None:
    for name, v in (("start", start), ("end", end), ("total_steps", total_steps)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise ValueError(f"{name} must be an integer, got {v!r}")
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}")
    if not 0 <= start <= end <= total_steps:
        raise ValueError(f"need 0 <= start <= end <= total_steps, got start={start}, end={end}, total_steps={total_steps}")


def check_scales(guidance_scale: float, controlnet_scale: float) -> None:
    """``ValueError`` naming the field unless ``guidance_scale`` is a real number in
    [0, MAX_GUIDANCE_SCALE] and ``controlnet_scale`` one in [0, MAX_CONTROLNET_SCALE] (the bounds the
    downlink message accepts, so a run is refused before its steps rather than at the handoff).

    ``guidance_scale`` is classifier-free guidance's w (guidance is off for w <= 1, as in diffusers);
    ``controlnet_scale`` weights the ControlNet residuals. NaN would silently switch guidance off
    (every comparison with it is false) and inf turns the latents non-finite."""
    bounds = (("guidance_scale", guidance_scale, MAX_GUIDANCE_SCALE),
              ("controlnet_scale", controlnet_scale, MAX_CONTROLNET_SCALE))
    for name, v, hi in bounds:
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise ValueError(f"{name} must be a real number, got {v!r}")
        if not math.isfinite(v) or not 0 <= v <= hi:
            raise ValueError(f"{name} must be finite and in [0, {hi:g}], got {v!r}")


def _check_latents(components: Components, latents: torch.Tensor, condition_image: torch.Tensor) -> None:
    """``ValueError`` unless ``latents`` is a finite (1, C, h, w) tensor and the condition is (1, 3, 8h, 8w)."""
    if not isinstance(latents, torch.Tensor) or latents.ndim != 4 or latents.shape[0] != 1:
        raise ValueError(f"latents must be a tensor of shape (1, C, h, w), got {getattr(latents, 'shape', type(latents))}")
    if latents.shape[1] != components.latent_channels:
        raise ValueError(f"latents must have {components.latent_channels} channels, got {latents.shape[1]}")
    f = components.vae_scale_factor
    want = (1, 3, latents.shape[2] * f, latents.shape[3] * f)
    if tuple(condition_image.shape) != want:
        raise ValueError(f"condition_image shape {tuple(condition_image.shape)} does not match latents: expected {want}")
    if not torch.isfinite(latents).all():
        raise ValueError("latents contain NaN or Inf")


@torch.no_grad()
def denoise(
    components: Components,
    *,
    latents: torch.Tensor,
    start: int,
    end: int,
    total_steps: int,
    embeddings: PromptEmbeddings,
    condition_image: torch.Tensor,
    condition_type: str,
    guidance_scale: float = 7.5,
    controlnet_scale: float = 1.0,
    scheduler_name: str | None = None,
) -> torch.Tensor:
    """Run steps ``[start, end)`` of the ``total_steps``-step schedule; return the float32 latents.

    Edge: ``start=0, end=⌊o T⌋`` (eq. 4). Device: ``start=⌊o T⌋, end=T`` (eq. 5). Each step is one
    application of eq. (3): ControlNet residuals + denoiser prediction with classifier-free guidance,
    then the scheduler's deterministic update. ``scheduler_name=None`` is the family default (DDIM,
    :func:`_unet_steps`; flow-matching Euler for sd35, :func:`_flow_steps`).
    """
    _check_slice(start, end, total_steps)  # 1. arguments
    check_scales(guidance_scale, controlnet_scale)
    scheduler = make_scheduler(components, total_steps, scheduler_name)
    controlnet = components.controlnet(condition_type)
    _check_latents(components, latents, condition_image)
    z = latents.to(device=components.device, dtype=torch.float32)  # 2. the fp32 trajectory
    if start == end:
        return z
    steps = _flow_steps if components.family in FLOW_FAMILIES else _unet_steps  # 3. the family's loop
    return steps(components, scheduler, controlnet, z, start, end, embeddings, condition_image,
                 float(guidance_scale), float(controlnet_scale))


def _guided(prediction: torch.Tensor, guidance_scale: float, cfg: bool) -> torch.Tensor:
    """Classifier-free guidance on a [negative, positive] batch: p_u + w (p_c - p_u); as is without CFG."""
    if not cfg:
        return prediction
    uncond, text = prediction.chunk(2)
    return uncond + guidance_scale * (text - uncond)


def _cfg_batch(negative: torch.Tensor, positive: torch.Tensor, cfg: bool) -> torch.Tensor:
    """The [negative, positive] batch under classifier-free guidance, else the positive alone."""
    return torch.cat([negative, positive]) if cfg else positive


def _sdxl_added_conditioning(components: Components, embeddings: PromptEmbeddings, height: int, width: int,
                             cfg: bool) -> dict[str, torch.Tensor]:
    """SDXL's extra UNet inputs: pooled text and the size/crop ids (original size, crop top-left
    (0, 0), target size), as diffusers' SDXL pipelines build them for an uncropped image."""
    if embeddings.pooled_positive is None or embeddings.pooled_negative is None:
        raise ValueError("SDXL needs pooled prompt embeddings (use encode_prompt with SDXL components)")
    dev, dt = components.device, components.dtype
    pooled = _cfg_batch(embeddings.pooled_negative, embeddings.pooled_positive, cfg).to(device=dev, dtype=dt)
    time_ids = torch.tensor([[height, width, 0, 0, height, width]], device=dev, dtype=dt)
    return {"text_embeds": pooled, "time_ids": time_ids.repeat(pooled.shape[0], 1)}


def _unet_steps(components: Components, scheduler: Any, controlnet: Any, z: torch.Tensor, start: int, end: int,
                embeddings: PromptEmbeddings, condition_image: torch.Tensor, guidance_scale: float,
                controlnet_scale: float) -> torch.Tensor:
    """Steps [start, end) of a UNet run (SD1.5, 2.1, XL): eq. (3) with ControlNet residuals and the
    UNet's noise prediction (the loop of ``StableDiffusion(XL)ControlNetPipeline``)."""
    dev, dt = components.device, components.dtype
    if start == 0:
        z = z * scheduler.init_noise_sigma  # z_T enters the first application of eq. (3)
    if hasattr(scheduler, "set_begin_index"):
        scheduler.set_begin_index(start)  # Euler: step index = start (DDIM ignores it)
    cfg = guidance_scale > 1.0
    text = _cfg_batch(embeddings.negative, embeddings.positive, cfg).to(device=dev, dtype=dt)
    cond = condition_image.to(device=dev, dtype=dt)
    extra: dict[str, Any] = {}
    if components.family == "sdxl":
        extra["added_cond_kwargs"] = _sdxl_added_conditioning(components, embeddings, cond.shape[2],
                                                              cond.shape[3], cfg)
    cond = _cfg_batch(cond, cond, cfg)
    timesteps = scheduler.timesteps
    for i in range(start, end):  # eq. (4) on the edge, eq. (5) on the device
        t = timesteps[i]
        z_in = scheduler.scale_model_input(_cfg_batch(z, z, cfg), t).to(dt)
        down, mid = controlnet(z_in, t, encoder_hidden_states=text, controlnet_cond=cond,
                               conditioning_scale=controlnet_scale, return_dict=False, **extra)
        eps = components.denoiser(z_in, t, encoder_hidden_states=text, down_block_additional_residuals=down,
                                  mid_block_additional_residual=mid, return_dict=False, **extra)[0]
        eps = _guided(eps.to(torch.float32), guidance_scale, cfg)
        z = scheduler.step(eps, t, z, return_dict=False)[0]  # mean of eq. (3), deterministic (DDIM η=0)
    return z


@torch.no_grad()
def control_latents(components: Components, condition_image: torch.Tensor, controlnet: Any) -> torch.Tensor:
    """SD3 ControlNet input: the [0, 1] condition image mapped to [-1, 1] and VAE-encoded (posterior
    mean), then ``(z - shift) * scaling`` as in diffusers' SD3 ControlNet pipeline (shift 0 for
    ControlNets with ``force_zeros_for_pooled_projection``, the InstantX convention)."""
    vae = components.vae
    shift = 0.0 if controlnet.config.force_zeros_for_pooled_projection else float(vae.config.shift_factor or 0.0)
    x = (condition_image.to(device=components.device, dtype=components.dtype) * 2.0 - 1.0)
    z = vae.encode(x).latent_dist.mode().to(torch.float32)
    return ((z - shift) * float(vae.config.scaling_factor)).to(components.dtype)


def _flow_steps(components: Components, scheduler: Any, controlnet: Any, z: torch.Tensor, start: int, end: int,
                embeddings: PromptEmbeddings, condition_image: torch.Tensor, guidance_scale: float,
                controlnet_scale: float) -> torch.Tensor:
    """Steps [start, end) of an SD3.5 rectified-flow run: eq. (3) with the MMDiT velocity predictor
    and SD3 ControlNet block residuals (the loop of ``StableDiffusion3ControlNetPipeline``)."""
    if embeddings.pooled_positive is None or embeddings.pooled_negative is None:
        raise ValueError("SD3.5 needs pooled prompt embeddings (use encode_prompt with sd35 components)")
    dev, dt = components.device, components.dtype
    scheduler.set_begin_index(start)  # the flow Euler update at index i uses σ_i, σ_{i+1} only
    cfg = guidance_scale > 1.0
    text = _cfg_batch(embeddings.negative, embeddings.positive, cfg).to(device=dev, dtype=dt)
    pooled = _cfg_batch(embeddings.pooled_negative, embeddings.pooled_positive, cfg).to(device=dev, dtype=dt)
    cn_cfg = controlnet.config
    cn_text = text if cn_cfg.joint_attention_dim is not None else None  # SD3.5 Large ControlNets: no text
    cn_pooled = torch.zeros_like(pooled) if cn_cfg.force_zeros_for_pooled_projection else pooled
    cond = control_latents(components, condition_image, controlnet)
    cond = _cfg_batch(cond, cond, cfg)
    timesteps = scheduler.timesteps
    for i in range(start, end):  # eq. (4) on the edge, eq. (5) on the device
        t = timesteps[i]
        z_in = _cfg_batch(z, z, cfg).to(dt)
        t_in = t.expand(z_in.shape[0]).to(dev)
        blocks = controlnet(hidden_states=z_in, timestep=t_in, encoder_hidden_states=cn_text,
                            pooled_projections=cn_pooled, controlnet_cond=cond,
                            conditioning_scale=controlnet_scale, return_dict=False)[0]
        v = components.denoiser(hidden_states=z_in, timestep=t_in, encoder_hidden_states=text,
                                pooled_projections=pooled, block_controlnet_hidden_states=blocks,
                                return_dict=False)[0]
        v = _guided(v.to(torch.float32), guidance_scale, cfg)
        z = scheduler.step(v, t, z, return_dict=False)[0]  # z + (σ_{i+1} - σ_i) v, deterministic
    return z


@torch.no_grad()
def decode(components: Components, latents: torch.Tensor, as_pil: bool = False) -> Any:
    """VAE-decode z_0 into the image x_0 (Sec. IV-C): uint8 array (H, W, 3), or a PIL image."""
    if not isinstance(latents, torch.Tensor) or latents.ndim != 4 or latents.shape[0] != 1:
        raise ValueError("latents must be a tensor of shape (1, C, h, w)")
    if not torch.isfinite(latents).all():
        raise ValueError("latents contain NaN or Inf")
    vae = components.vae
    z = latents.to(components.device, torch.float32) / float(vae.config.scaling_factor)
    shift = getattr(vae.config, "shift_factor", None)
    if shift:
        z = z + float(shift)
    # The SDXL VAE overflows in float16 (its config sets force_upcast); decode it in float32 as
    # diffusers' SDXL pipeline does. This briefly changes the shared module's dtype: not thread-safe.
    upcast = (components.family == "sdxl" and components.dtype == torch.float16
              and bool(getattr(vae.config, "force_upcast", False)))
    if upcast:
        cast_quietly(vae, torch.float32)
    try:
        x = vae.decode(z.to(torch.float32 if upcast else components.dtype), return_dict=False)[0].to(torch.float32)
    finally:
        if upcast:
            cast_quietly(vae, components.dtype)
    x = (x / 2 + 0.5).clamp(0, 1)
    img = (x[0].permute(1, 2, 0).cpu().numpy() * 255.0).round().astype(np.uint8)
    if as_pil:
        from PIL import Image

        return Image.fromarray(img)
    return img


def generate(
    components: Components,
    *,
    prompt: str,
    condition_rgb_uint8: np.ndarray,
    condition_type: str,
    seed: int,
    total_steps: int,
    negative_prompt: str = "",
    guidance_scale: float = 7.5,
    controlnet_scale: float = 1.0,
    scheduler_name: str | None = None,
) -> np.ndarray:
    """One monolithic generation (all T steps in one place, then decode): the o_k = 1 path."""
    cond = prepare_condition(components, condition_rgb_uint8)
    z = initial_latents(components, seed, cond.shape[2], cond.shape[3])
    emb = encode_prompt(components, prompt, negative_prompt)
    z = denoise(
        components,
        latents=z,
        start=0,
        end=total_steps,
        total_steps=total_steps,
        embeddings=emb,
        condition_image=cond,
        condition_type=condition_type,
        guidance_scale=guidance_scale,
        controlnet_scale=controlnet_scale,
        scheduler_name=scheduler_name,
    )
    return decode(components, z)

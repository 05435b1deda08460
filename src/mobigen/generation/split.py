"""The two halves of distributed denoising as two calls: edge (eq. 4 + wire) and device (wire + eq. 5 + VAE).

``edge_run`` runs the first ``edge_steps`` = ⌊o_k T_k⌋ steps (the caller computes it, e.g. with
``mobigen.system.offload.edge_steps``) and returns the downlink message: the intermediate latent when
edge_steps < T_k (eq. 6), the encoded final image when edge_steps = T_k (eq. 7, o_k = 1).
``device_run`` accepts that message, checks it against its own components and request, runs the
remaining steps and decodes with the VAE. Both sides must use the same condition image (the decoded
uplink bytes), prompt and weights; the header carries the schedule, scales and seed so a mismatch
is refused instead of silently producing a different image.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from mobigen.generation.components import Components
from mobigen.generation.denoise import (
    decode,
    default_scheduler_name,
    denoise,
    encode_prompt,
    initial_latents,
    prepare_condition,
    resolve_scheduler_name,
)
from mobigen.generation.wire import WireFormatError, decode_payload, encode_image, encode_latent

#: diffusers class name carried in the header's scheduler config, per splittable scheduler name.
SCHEDULER_CLASS: dict[str, str] = {"ddim": "DDIMScheduler", "euler": "EulerDiscreteScheduler",
                                   "flowmatch_euler": "FlowMatchEulerDiscreteScheduler"}


def wire_scheduler_config(components: Components, scheduler_name: str | None = None) -> dict[str, Any]:
    """The scheduler config as sent in a header: the family's config plus diffusers' ``_class_name``
    (``scheduler_name=None``: the family default)."""
    if scheduler_name is not None and scheduler_name not in SCHEDULER_CLASS:
        raise ValueError(f"scheduler_name must be one of {tuple(SCHEDULER_CLASS)}, got {scheduler_name!r}")
    scheduler_name = resolve_scheduler_name(components, scheduler_name)
    return {**dict(components.scheduler_config), "_class_name": SCHEDULER_CLASS[scheduler_name]}


def edge_run(
    components: Components,
    *,
    prompt: str,
    condition_rgb_uint8: np.ndarray,
    condition_type: str,
    seed: int,
    total_steps: int,
    edge_steps: int,
    negative_prompt: str = "",
    guidance_scale: float = 7.5,
    controlnet_scale: float = 1.0,
    scheduler_name: str | None = None,
    latent_mode: str = "fp16",
    image_fmt: str = "png",
    request_digest: str | None = None,
) -> bytes:
    """Edge side: z_T, steps [0, edge_steps) (eq. 4), then the downlink message (latent or image);
    ``request_digest`` (``wire.request_digest`` of the request) goes into the header when given."""
    cond = prepare_condition(components, condition_rgb_uint8)
    z = initial_latents(components, seed, cond.shape[2], cond.shape[3])
    emb = encode_prompt(components, prompt, negative_prompt)
    z = denoise(components, latents=z, start=0, end=edge_steps, total_steps=total_steps, embeddings=emb,
                condition_image=cond, condition_type=condition_type, guidance_scale=guidance_scale,
                controlnet_scale=controlnet_scale, scheduler_name=scheduler_name)
    return edge_message(components, z, condition_type=condition_type, seed=seed, total_steps=total_steps,
                        edge_steps=edge_steps, guidance_scale=guidance_scale, controlnet_scale=controlnet_scale,
                        scheduler_name=scheduler_name, latent_mode=latent_mode, image_fmt=image_fmt,
                        request_digest=request_digest)


def edge_message(components: Components, z: Any, *, condition_type: str, seed: int, total_steps: int,
                 edge_steps: int, guidance_scale: float = 7.5, controlnet_scale: float = 1.0,
                 scheduler_name: str | None = None, latent_mode: str = "fp16", image_fmt: str = "png",
                 request_digest: str | None = None) -> bytes:
    """The downlink message after the edge's ``edge_steps`` steps (z the fp32 latents): the latent
    (eq. 6), or the decoded image when edge_steps = total_steps (eq. 7); the batched edge builds its
    replies with it too (``serving.batched_worker``)."""
    meta = dict(total_steps=total_steps, seed=seed, condition_type=condition_type,
                scheduler_config=wire_scheduler_config(components, scheduler_name),
                guidance_scale=guidance_scale, controlnet_scale=controlnet_scale, request_digest=request_digest)
    if edge_steps == total_steps:  # o_k = 1: the edge decodes and sends x_0 (eq. 7)
        return encode_image(decode(components, z), fmt=image_fmt, **meta)
    return encode_latent(z, steps_done=edge_steps, mode=latent_mode, **meta)


def check_compatible(components: Components, scheduler_config: Mapping[str, Any]) -> str:
    """Refuse a message whose schedule differs from this side's; return the scheduler name to use.

    A config without ``_class_name`` means the family default: DDIM, or flow-matching Euler for sd35
    (what ``encode_latent`` callers that pass ``components.scheduler_config`` as is produce)."""
    cfg = dict(scheduler_config)
    cls = cfg.pop("_class_name", SCHEDULER_CLASS[default_scheduler_name(components)])
    names = {v: k for k, v in SCHEDULER_CLASS.items()}
    if cls not in names:
        raise WireFormatError(f"scheduler_config._class_name {cls!r} is not a splittable scheduler {tuple(names)}")
    mine = dict(components.scheduler_config)
    mine.pop("_class_name", None)

    def canon(v: Any) -> str:  # JSON form: a tuple here and the list it became on the wire compare equal
        return json.dumps(v, sort_keys=True, default=str)

    diff = sorted(k for k in set(cfg) | set(mine) if canon(cfg.get(k)) != canon(mine.get(k)))
    if diff:
        raise WireFormatError(f"scheduler_config differs from this device's weights in {diff}; refusing to continue")
    try:
        return resolve_scheduler_name(components, names[cls])
    except ValueError as exc:
        raise WireFormatError(f"scheduler_config._class_name {cls!r}: {exc}") from None


def device_run(
    components: Components,
    data: bytes,
    *,
    prompt: str,
    condition_rgb_uint8: np.ndarray,
    negative_prompt: str = "",
    expected_seed: int | None = None,
) -> np.ndarray:
    """Device side: decode the message; image -> return it; latent -> steps [k, T) (eq. 5) + VAE decode."""
    msg = decode_payload(data)
    if expected_seed is not None and msg.seed != expected_seed:
        raise WireFormatError(f"message seed {msg.seed} differs from the request's seed {expected_seed}")
    if msg.kind == "image":
        if msg.image is None:  # pragma: no cover - decode_payload always fills it for images
            raise WireFormatError("image message without an image")
        return msg.image
    scheduler_name = check_compatible(components, msg.scheduler_config)
    if msg.latents is None:  # pragma: no cover - decode_payload always fills it for latents
        raise WireFormatError("latent message without latents")
    if msg.shape[1] != components.latent_channels:
        raise WireFormatError(f"latent has {msg.shape[1]} channels, these weights use {components.latent_channels}")
    cond = prepare_condition(components, condition_rgb_uint8)
    f = components.vae_scale_factor
    if (cond.shape[2], cond.shape[3]) != (msg.shape[2] * f, msg.shape[3] * f):
        raise WireFormatError(f"latent shape {msg.shape} does not fit the {cond.shape[2]}x{cond.shape[3]} condition")
    emb = encode_prompt(components, prompt, negative_prompt)
    z = denoise(components, latents=msg.latents, start=msg.steps_done, end=msg.total_steps,
                total_steps=msg.total_steps, embeddings=emb, condition_image=cond, condition_type=msg.condition_type,
                guidance_scale=7.5 if msg.guidance_scale is None else msg.guidance_scale,
                controlnet_scale=1.0 if msg.controlnet_scale is None else msg.controlnet_scale,
                scheduler_name=scheduler_name)
    return decode(components, z)

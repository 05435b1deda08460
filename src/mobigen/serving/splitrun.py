"""Both halves of the split generation as the live system runs them (eqs. 4-5, Sec. IV-C).

The edge runs steps [0, ⌊o_k T_k⌋) and sends the latent, or all T_k steps and the image when
o_k = 1; the device (or the edge, taking over after a missed deadline) continues from the latent
with the same components, prompt, decoded condition and seed, then VAE-decodes. Both sides must
hold identical weights: tiny components built from one seed, or the same local weights directory.
All the numerical work is ``mobigen.generation``'s; this module only wires it to requests.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GenerationSpec:
    """Which components generate, and how payloads are written."""

    components: str = "tiny"
    """'tiny' (random weights built in code from ``components_seed``) or a local weights directory."""
    components_seed: int = 0
    """Seed of the tiny components (server and client must agree)."""
    image_size: int = 512
    """Generated image side (pixels, multiple of 64)."""
    wire_mode: str = "fp16"
    """Latent wire mode (generation.wire.LATENT_MODES)."""
    image_format: str = "png"
    """Image wire format for o_k = 1 (generation.wire.IMAGE_FORMATS)."""

    @property
    def label(self) -> str:
        """How outputs name the weights: 'tiny(seed=N)' or the directory."""
        return f"tiny(seed={self.components_seed})" if self.components == "tiny" else self.components


def condition_for_generation(condition_rgb: np.ndarray, image_size: int) -> np.ndarray:
    """The decoded 512² condition resized to ``image_size`` (INTER_AREA), identically on both sides."""
    arr = np.asarray(condition_rgb)
    if arr.shape[0] == image_size and arr.shape[1] == image_size:
        return arr
    import cv2

    return cv2.resize(arr, (image_size, image_size), interpolation=cv2.INTER_AREA)


class SplitRunner:
    """Runs edge or device slices of one request's denoising with lazily loaded components."""

    def __init__(self, spec: GenerationSpec, components: Any = None) -> None:
        self.spec = spec
        self._components = components
        self._lock = threading.RLock()
        self._warm = False

    @property
    def components(self) -> Any:
        """The loaded ``generation.components.Components`` (built on first use)."""
        with self._lock:
            if self._components is None:
                from mobigen.generation.components import load_components, tiny_components

                if self.spec.components == "tiny":
                    self._components = tiny_components(self.spec.components_seed)
                else:
                    self._components = load_components(self.spec.components)
                logger.info("generation components: %s", self.spec.label)
            return self._components

    def ensure_ready(self) -> None:
        """Load the weights and run one step + VAE decode on a blank condition, once.

        The first forward pass at a new size is several times slower than the next ones (kernel
        selection and allocation in the backend); a server or a phone has done it before serving, so
        measured latencies do not charge it to the first request."""
        from mobigen.generation.denoise import decode, denoise, initial_latents

        c = self.components
        with self._lock:
            if self._warm:
                return
            size = self.spec.image_size
            _, emb, cond = self._inputs("", np.zeros((size, size, 3), np.uint8))
            z = denoise(c, latents=initial_latents(c, 0, size, size), start=0, end=1, total_steps=1, embeddings=emb,
                        condition_image=cond, condition_type=c.conditions[0])
            decode(c, z)
            self._warm = True

    def _inputs(self, prompt: str, condition_rgb: np.ndarray):  # noqa: ANN202
        from mobigen.generation.denoise import encode_prompt, prepare_condition

        c = self.components
        cond = prepare_condition(c, condition_for_generation(condition_rgb, self.spec.image_size))
        return c, encode_prompt(c, prompt), cond

    def request_digest(self, *, prompt: str, condition_bytes: bytes, seed: int, total_steps: int,
                       edge_steps: int) -> str:
        """``wire.request_digest`` of one request as this side runs it (empty negative prompt, this side's
        default scheduler): the edge puts it in the header, the device recomputes it from its own request."""
        from mobigen.generation.denoise import default_scheduler_name
        from mobigen.generation.wire import request_digest

        return request_digest(prompt=prompt, negative_prompt="", condition=condition_bytes, seed=seed,
                              scheduler=default_scheduler_name(self.components), total_steps=total_steps,
                              steps_done=edge_steps)

    def run_edge(self, *, prompt: str, condition_rgb: np.ndarray, condition_type: str, seed: int,
                 total_steps: int, edge_steps: int, condition_bytes: bytes | None = None) -> tuple[str, bytes]:
        """Edge share: steps [0, e) then the latent (e < T), or all T steps then the image (o_k = 1).

        Returns (kind, wire bytes) with kind 'latent' or 'image'; the work is ``generation.split.edge_run``.
        ``condition_bytes`` (the uploaded condition) binds the message to its request (``request_digest``).
        """
        from mobigen.generation.split import edge_run

        if not 0 <= edge_steps <= total_steps:
            raise ValueError(f"field 'edge_steps' must lie in 0..{total_steps}, got {edge_steps}")
        digest = None if condition_bytes is None else self.request_digest(
            prompt=prompt, condition_bytes=condition_bytes, seed=seed, total_steps=total_steps, edge_steps=edge_steps)
        data = edge_run(self.components, prompt=prompt,
                        condition_rgb_uint8=condition_for_generation(condition_rgb, self.spec.image_size),
                        condition_type=condition_type, seed=seed, total_steps=total_steps, edge_steps=edge_steps,
                        latent_mode=self.spec.wire_mode, image_fmt=self.spec.image_format,
                        request_digest=digest)  # eqs. (4), (6)/(7)
        return ("image" if edge_steps == total_steps else "latent"), data

    def finish(self, payload: Any, *, prompt: str, condition_rgb: np.ndarray,
               expected_digest: str | None = None) -> np.ndarray:
        """Device share (or an edge take-over): continue a decoded latent ``Payload`` to T, decode x_0.

        A payload whose scheduler config differs from this side's components is refused
        (``generation.split.check_compatible``: edge and device must load identical weights), and so is
        one whose ``request_digest`` differs from ``expected_digest`` (this side's digest of its request)."""
        import torch

        from mobigen.generation.denoise import decode, denoise
        from mobigen.generation.split import check_compatible
        from mobigen.generation.wire import WireFormatError, check_request_digest

        if expected_digest is not None:
            check_request_digest(payload, expected_digest)
        if payload.kind == "image":
            return payload.image
        scheduler_name = check_compatible(self.components, payload.scheduler_config)
        c, emb, cond = self._inputs(prompt, condition_rgb)
        z = denoise(c, latents=payload.latents, start=payload.steps_done, end=payload.total_steps,
                    total_steps=payload.total_steps, embeddings=emb, condition_image=cond,
                    condition_type=payload.condition_type, scheduler_name=scheduler_name,
                    guidance_scale=7.5 if payload.guidance_scale is None else payload.guidance_scale,
                    controlnet_scale=1.0 if payload.controlnet_scale is None else payload.controlnet_scale)  # eq. (5)
        if not bool(torch.isfinite(z).all()):
            raise WireFormatError("the local denoising steps produced NaN/Inf from this message's latent and scales; "
                                  "refusing to decode an invalid image")
        return decode(c, z)


__all__ = ["GenerationSpec", "SplitRunner", "condition_for_generation"]

"""Soft edges ("hed" condition): PiDiNet as ControlNet v1.1's softedge annotator runs it, or a
weight-free Sobel fallback when the checkpoint is absent (``backend`` says which)."""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

import numpy as np

from mobigen.conditions.base import Extractor, grey3

log = logging.getLogger(__name__)

CHECKPOINT = Path("pidinet") / "table5_pidinet.pth"
"""PiDiNet checkpoint, relative to the weights folder."""

SOBEL_SCALE = 4.0 * 255.0 / 4.0
"""Fallback: Sobel magnitude (of a [0, 255] grey image, 3x3 kernels) that maps to full white.
A step of 255 gives magnitude 4·255; a quarter of that saturates (soft edges stay visible)."""


class PidinetExtractor(Extractor):
    """PiDiNet fused output (``mobigen.conditions.pidinet``); input as in ControlNet's annotator:
    BGR channel order, scaled to [0, 1] (no mean/std normalisation); output ``edge·255`` as uint8."""

    name = "hed"
    backend = "pidinet"

    def __init__(self, checkpoint: Path, *, num_threads: int | None = None) -> None:
        super().__init__()
        import torch

        from mobigen.conditions.pidinet import load_checkpoint

        self.checkpoint = Path(checkpoint)
        # channels-last memory layout: ~30 % faster on CPU (oneDNN), same maths (max |Δ| ~1e-6)
        self.net = load_checkpoint(self.checkpoint, strict=True).to(memory_format=torch.channels_last)
        self.num_threads = num_threads

    def _run(self, rgb: np.ndarray) -> np.ndarray:
        import torch

        x = torch.from_numpy(np.ascontiguousarray(rgb[:, :, ::-1])).float().div_(255.0)
        x = x.permute(2, 0, 1).unsqueeze(0).contiguous(memory_format=torch.channels_last)
        prev = torch.get_num_threads()
        if self.num_threads:
            torch.set_num_threads(self.num_threads)
        try:
            with torch.inference_mode():
                edge = self.net(x)[-1][0, 0].numpy()
        finally:
            if self.num_threads:
                torch.set_num_threads(prev)
        return grey3(np.clip(edge * 255.0, 0, 255).astype(np.uint8))


class SobelSoftEdgeExtractor(Extractor):
    """Weight-free fallback: Gaussian-smoothed (σ = 1) grey image, 3x3 Sobel gradient magnitude,
    scaled by ``SOBEL_SCALE`` and clipped: a soft edge map, NOT PiDiNet (``backend`` says so)."""

    name = "hed"
    backend = "pidinet-fallback-sobel"

    def _run(self, rgb: np.ndarray) -> np.ndarray:
        import cv2

        g = cv2.GaussianBlur(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32), (0, 0), 1.0)
        gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
        mag = np.sqrt(gx * gx + gy * gy) * (255.0 / SOBEL_SCALE)
        return grey3(np.clip(mag, 0, 255).astype(np.uint8))


def make_hed(weights: Path, *, num_threads: int | None = None) -> Extractor:
    """PiDiNet when ``weights/pidinet/table5_pidinet.pth`` exists, else the Sobel fallback (logged)."""
    ckpt = Path(weights) / CHECKPOINT
    if ckpt.is_file():
        try:
            return PidinetExtractor(ckpt, num_threads=num_threads)
        except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as exc:  # corrupt / truncated / wrong file
            raise ValueError(f"hed: PiDiNet checkpoint '{ckpt}' could not be loaded ({exc})") from exc
    log.warning("PiDiNet checkpoint %s not found: 'hed' uses the weight-free Sobel fallback", ckpt)
    return SobelSoftEdgeExtractor()

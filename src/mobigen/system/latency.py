"""Latency model of Section IV: eq. (2) for VCE and eqs. (6)-(7) for distributed denoising.

All functions are pure and vectorised: arguments broadcast with numpy rules, so the same
call serves one user, K users of a slot, or (slots, K) arrays. Denoising latency takes the
integer edge steps e_k (``system.offload``), not the ratio o_k.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import ArrayLike

from mobigen.system.offload import is_full_offload, local_steps


def transfer_time_s(nbytes: ArrayLike, bandwidth_bps: ArrayLike) -> np.ndarray:
    """Seconds to move ``nbytes`` over a link of ``bandwidth_bps`` bits per second."""
    return 8.0 * np.asarray(nbytes, dtype=float) / np.asarray(bandwidth_bps, dtype=float)


def extraction_latency(extraction_flops: ArrayLike, f_device: ArrayLike) -> np.ndarray:
    """L⁰_k(f_k): condition extraction time on the device (s), FLOPs over FLOPS (eq. 2)."""
    return np.asarray(extraction_flops, dtype=float) / np.asarray(f_device, dtype=float)


def vce_latency(extraction_s: ArrayLike, condition_bytes: ArrayLike, uplink_bps: ArrayLike) -> np.ndarray:
    """L¹_k = L⁰_k(f_k) + D(I_k(ν_k)) / B↑  — eq. (2) (s)."""
    return np.asarray(extraction_s, dtype=float) + transfer_time_s(condition_bytes, uplink_bps)


@dataclass(frozen=True)
class DenoiseLatency:
    """L²_k and its parts (s), each an array shaped like the broadcast inputs."""

    edge_s: np.ndarray
    """ε₀ e_k / f_E: edge denoising time (s)."""
    downlink_s: np.ndarray
    """D(z or x₀) / B↓: latent (e_k < T_k) or image (e_k = T_k) transfer time (s)."""
    local_s: np.ndarray
    """ε₀ d_k / f_k: device denoising time (s); zero when e_k = T_k."""

    @cached_property
    def total_s(self) -> np.ndarray:
        """L²_k (s), computed once (the parts are read-only: ``denoise_latency`` makes them so)."""
        total = self.edge_s + self.downlink_s + self.local_s
        total.setflags(write=False)
        return total


def denoise_latency(
    T: ArrayLike,
    e: ArrayLike,
    *,
    f_device: ArrayLike,
    f_edge: float,
    eps0: float,
    downlink_bps: ArrayLike,
    latent_bytes: float,
    image_bytes: float,
) -> DenoiseLatency:
    """L²_k of eq. (6) when e_k < T_k and eq. (7) when e_k = T_k (full offload), for e_k edge steps."""
    T = np.asarray(T, dtype=np.int64)
    e = np.asarray(e, dtype=np.int64)
    full = is_full_offload(T, e)
    d = local_steps(T, e)  # eq. (5); 0 when full
    edge_s = eps0 * e / f_edge  # eq. (6)/(7), first term
    payload = np.where(full, float(image_bytes), float(latent_bytes))  # x₀ when e_k = T_k, else z after e_k steps
    downlink_s = transfer_time_s(payload, downlink_bps)
    local_s = eps0 * d / np.asarray(f_device, dtype=float)  # eq. (6), third term
    edge_s, downlink_s, local_s = np.broadcast_arrays(edge_s, downlink_s, local_s)
    parts = [np.asarray(x, dtype=float).copy() for x in (edge_s, downlink_s, local_s)]
    for x in parts:
        x.setflags(write=False)
    return DenoiseLatency(edge_s=parts[0], downlink_s=parts[1], local_s=parts[2])

"""Latency model of Section IV: eq. (2) for VCE and eqs. (6)-(7) for distributed denoising.

All functions are pure and vectorised: arguments broadcast with numpy rules, so the same
call serves one user, K users of a slot, or (slots, K) arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

_FLOOR_EPS = 1e-9  # o*T computed in floating point (0.3*10 = 2.9999999999999996) must floor to 3


def edge_steps(T: ArrayLike, o: ArrayLike) -> np.ndarray:
    """e_k = ⌊o_k T_k⌋, the steps run on the edge (eq. 4), robust to float round-off."""
    T = np.asarray(T)
    o = np.asarray(o, dtype=float)
    return np.floor(o * T + _FLOOR_EPS).astype(np.int64)


def local_steps(T: ArrayLike, o: ArrayLike) -> np.ndarray:
    """d_k = T_k - ⌊o_k T_k⌋, the steps the device runs after the edge (eq. 5).

    The paper's eq. (6)/(13) write ⌊(1 - o_k) T_k⌋, which is one short when o_k T_k is fractional;
    the split denoiser really runs T_k - ⌊o_k T_k⌋ steps on the device (see scenario.OPEN_CHOICES).
    """
    return np.asarray(T).astype(np.int64) - edge_steps(T, o)


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
    """ε₀⌊o_k T_k⌋ / f_E: edge denoising time (s)."""
    downlink_s: np.ndarray
    """D(z or x₀) / B↓: latent (o_k < 1) or image (o_k = 1) transfer time (s)."""
    local_s: np.ndarray
    """ε₀ d_k / f_k: device denoising time (s); zero when o_k = 1."""

    @property
    def total_s(self) -> np.ndarray:
        """L²_k (s)."""
        return self.edge_s + self.downlink_s + self.local_s


def denoise_latency(
    T: ArrayLike,
    o: ArrayLike,
    *,
    f_device: ArrayLike,
    f_edge: float,
    eps0: float,
    downlink_bps: ArrayLike,
    latent_bytes: float,
    image_bytes: float,
) -> DenoiseLatency:
    """L²_k of eq. (6) when o_k < 1 and eq. (7) when o_k = 1."""
    T = np.asarray(T)
    o = np.asarray(o, dtype=float)
    full = o >= 1.0
    e = edge_steps(T, o)
    d = np.where(full, 0, local_steps(T, o))
    edge_s = eps0 * e / f_edge  # eq. (6)/(7), first term
    payload = np.where(full, float(image_bytes), float(latent_bytes))  # x₀ when o_k = 1, else z(⌊o_k T_k⌋)
    downlink_s = transfer_time_s(payload, downlink_bps)
    local_s = eps0 * d / np.asarray(f_device, dtype=float)  # eq. (6), third term
    edge_s, downlink_s, local_s = np.broadcast_arrays(edge_s, downlink_s, local_s)
    return DenoiseLatency(edge_s=edge_s.astype(float), downlink_s=downlink_s.astype(float), local_s=local_s.astype(float))

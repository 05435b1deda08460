"""Build the system model's ``Slot`` from the live requests of one closed time slot.

Each request carries ν_k = (λ, α, β), the real condition bytes D(I_k(ν_k)), ω_k, Q̃_k, the device's
(f_k, C_k) and its bandwidth estimate (B↑, B↓). The quality tables come from the server's quality
model for each request's ν_k over every allowed T (``system.quality_tables``); the extraction time
L⁰_k(f_k) is the scenario's model value (eq. 2), the same one the simulator uses, so the live
server's controllers see exactly the slots they were built for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mobigen.scenario import CONDITIONS, Scenario
from mobigen.serving.schemas import GenerateMeta
from mobigen.system import QualityModel, Slot, SystemParams, extraction_latency, quality_tables
from mobigen.serving.shaping import bits_per_second


@dataclass(frozen=True)
class SlotRequest:
    """What the slot builder needs of one request."""

    meta: GenerateMeta
    """The validated uplink metadata."""
    condition_bytes: int
    """D(I_k(ν_k)): bytes of the condition part actually received (bytes)."""


def build_slot(requests: Sequence[SlotRequest], scenario: Scenario, params: SystemParams, quality: QualityModel) -> Slot:
    """The ``Slot`` of these requests (K = len(requests) users)."""
    if not requests:
        raise ValueError("slot field 'condition' is empty: a slot needs at least one request")
    metas = [r.meta for r in requests]
    cond = np.array([CONDITIONS.index(m.condition) for m in metas], dtype=np.int64)
    alpha = np.array([m.alpha for m in metas], dtype=float)
    beta = np.array([m.beta for m in metas], dtype=float)
    f_dev = np.array([m.device.f_flops for m in metas], dtype=float)
    q_I, q_T = quality_tables(quality, cond, alpha, beta, params.steps_values)
    extraction_flops = scenario.extraction_flops_ratio * scenario.eps0_flops
    return Slot(
        params=params,
        condition=cond,
        alpha=alpha,
        beta=beta,
        condition_bytes=np.array([r.condition_bytes for r in requests], dtype=float),
        omega_I=np.array([m.omega_I for m in metas], dtype=float),
        qoe_threshold=np.array([m.qoe_threshold for m in metas], dtype=float),
        f_device=f_dev,
        device_budget=np.array([m.device.budget_flops for m in metas], dtype=float),
        uplink_bps=np.array([bits_per_second(m.uplink_mbps) for m in metas], dtype=float),
        downlink_bps=np.array([bits_per_second(m.downlink_mbps) for m in metas], dtype=float),
        extraction_s=extraction_latency(np.full(len(metas), extraction_flops), f_dev),  # L⁰_k(f_k), eq. (2)
        q_I=q_I,
        q_T=q_T,
        quality_backend=str(getattr(quality, "backend", "unknown")),
    )


__all__ = ["SlotRequest", "build_slot"]

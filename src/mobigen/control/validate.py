"""Input checks every learned controller runs before deciding: a bad slot is refused with a
message naming the field, never answered with a silently wrong decision."""

from __future__ import annotations

import numpy as np

from mobigen.system.slot import Slot


class SlotSizeError(ValueError):
    """The slot has a number of users the policy was not trained for."""


def validate_slot(slot: Slot, expected_K: int | None = None) -> None:
    """Raise ``ValueError`` naming the field when ``slot`` holds NaN/Inf, negative or out-of-range
    values, K = 0, or (with ``expected_K``) a K other than the trained one (``SlotSizeError``)."""
    if not isinstance(slot, Slot):
        raise ValueError(f"slot must be a mobigen.system.Slot, got {type(slot).__name__}")
    K = slot.K
    if K == 0:
        raise ValueError("slot field 'condition' is empty: K = 0 users")
    fields = ("alpha", "beta", "condition_bytes", "omega_I", "qoe_threshold", "f_device", "device_budget",
              "uplink_bps", "downlink_bps", "extraction_s", "q_I", "q_T")
    for name in fields:
        v = np.asarray(getattr(slot, name), dtype=float)
        if not np.all(np.isfinite(v)):
            raise ValueError(f"slot field '{name}' holds NaN or Inf")
        if np.any(v < 0):
            raise ValueError(f"slot field '{name}' holds a negative value")
    for name in ("alpha", "beta", "omega_I", "qoe_threshold", "q_I", "q_T"):
        v = np.asarray(getattr(slot, name), dtype=float)
        if np.any(v > 1.0):
            raise ValueError(f"slot field '{name}' must lie in [0, 1]")
    for name in ("f_device", "uplink_bps", "downlink_bps"):
        if np.any(np.asarray(getattr(slot, name)) <= 0):
            raise ValueError(f"slot field '{name}' must be > 0")
    cond = np.asarray(slot.condition)
    if cond.dtype.kind not in "iu" or np.any(cond < 0) or np.any(cond >= 4):
        raise ValueError("slot field 'condition' must hold condition indices 0..3")
    if expected_K is not None and K != expected_K:
        raise SlotSizeError(f"slot field 'condition': K = {K} users, but the policy was trained for K = {expected_K}")

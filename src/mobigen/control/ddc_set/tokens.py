"""The set-structured DDC's state: one token per user (eq. 24's per-user part plus the slot-wide
numbers), every entry scaled by a FIXED physical constant — never by the training scenario — so a
scenario file with other numbers (C_E, f_E, L̃, η, δ, bandwidths, device speeds and budgets) is an
input the policy reads, not a reason to fall back.

Per user (``USER_FEATURES`` numbers): one-hot λ (4), α, β, ω^I, Q̃, Q_k(T) at ``Q_POINTS`` step
counts evenly spaced over steps_min..steps_max (eq. 1), and, in seconds / ``TIME_S`` or steps /
``STEPS``: C_k/ε₀ (device budget, steps), ε₀/f_k (one device step, s), L¹_k (eq. 2, s), latent and
image download times D(z)·8/B↓, D(x₀)·8/B↓ (eq. 7, s), and B↑, B↓ in Mbps / ``MBPS``.
Slot-wide (``SLOT_FEATURES``, the same in every token): ε₀/f_E (one edge step, s), C_E/ε₀ per user
and in total (steps), L̃ (s), η (1/s), δ₁..δ₄, steps_min, steps_max (steps) and 1/K.
Entries are clipped to ±``control.observation.OBS_BOUND``.
"""

from __future__ import annotations

import numpy as np

from mobigen.control.observation import OBS_BOUND, Q_POINTS, q_point_indices
from mobigen.scenario import CONDITIONS
from mobigen.system.slot import Slot

TIME_S = 1.0
"""Times are divided by this (s)."""
STEPS = 30.0
"""Step counts are divided by this (steps; Table I's largest T)."""
STEPS_TOTAL = 100.0
"""The slot's total edge budget C_E/ε₀ is divided by this (steps)."""
MBPS = 20.0
"""Bandwidths are divided by this (Mbps; the top of Table I's range)."""
L_SCALE_S = 10.0
"""L̃ is divided by this (s; Table I's value)."""
ETA_SCALE = 0.01
"""η is divided by this (1/s; the default of eq. 8)."""

USER_FEATURES = len(CONDITIONS) + 4 + Q_POINTS + 7
"""Numbers per user in a token."""
SLOT_FEATURES = 12
"""Slot-wide numbers appended to every token."""
TOKEN_DIM = USER_FEATURES + SLOT_FEATURES
"""Length of one token."""


def _q_points(slot: Slot) -> np.ndarray:
    n_T = len(slot.params.steps_values)
    idx = q_point_indices(n_T)
    if len(idx) < Q_POINTS:
        idx = np.concatenate([idx, np.full(Q_POINTS - len(idx), idx[-1])])
    return slot.Q_table[:, idx]


def tokens(slot: Slot) -> np.ndarray:
    """The K tokens of one slot, shape (K, TOKEN_DIM), float32 (see the module docstring)."""
    p, K = slot.params, slot.K
    onehot = np.zeros((K, len(CONDITIONS)))
    onehot[np.arange(K), np.asarray(slot.condition, dtype=np.int64)] = 1.0
    down = slot.downlink_bps
    user = np.column_stack([
        onehot, slot.alpha, slot.beta, slot.omega_I, slot.qoe_threshold, _q_points(slot),
        slot.device_budget / p.eps0 / STEPS,  # C_k in steps
        p.eps0 / slot.f_device / TIME_S,  # one local step (eq. 6)
        slot.vce_latency_s / TIME_S,  # L¹_k (eq. 2)
        p.latent_bytes * 8.0 / down / TIME_S,  # latent download (eq. 6)
        p.image_bytes * 8.0 / down / TIME_S,  # image download (eq. 7)
        slot.uplink_bps / 1e6 / MBPS, down / 1e6 / MBPS,
    ])
    d1, d2, d3, d4 = p.delta
    glob = np.array([
        p.eps0 / p.f_edge / TIME_S, p.edge_budget_steps / K / STEPS, p.edge_budget_steps / STEPS_TOTAL,
        p.latency_threshold_s / L_SCALE_S, p.eta / ETA_SCALE, d1, d2, d3, d4,
        p.steps_min / STEPS, p.steps_max / STEPS, 1.0 / K,
    ])
    out = np.concatenate([user, np.broadcast_to(glob, (K, SLOT_FEATURES))], axis=1)
    return np.clip(out, -OBS_BOUND, OBS_BOUND).astype(np.float32)

EDGE_SHARE = USER_FEATURES + 1
"""Token index of C_E/(ε₀K)/STEPS (the critic's edge-load feature reads it)."""
STEPS_MIN = USER_FEATURES + 9
"""Token index of steps_min/STEPS."""
STEPS_MAX = USER_FEATURES + 10
"""Token index of steps_max/STEPS."""

# Token indices the critics' action features read (``networks.action_features``).
QOE_THRESHOLD = len(CONDITIONS) + 3
"""Q̃_k."""
Q_FIRST = len(CONDITIONS) + 4
"""First of the ``Q_POINTS`` samples of Q_k(T)."""
DEVICE_BUDGET = Q_FIRST + Q_POINTS
"""C_k/ε₀/STEPS."""
DEVICE_STEP_S = DEVICE_BUDGET + 1
"""ε₀/f_k/TIME_S."""
VCE_S = DEVICE_BUDGET + 2
"""L¹_k/TIME_S."""
LATENT_DOWN_S = DEVICE_BUDGET + 3
"""D(z)·8/B↓/TIME_S."""
IMAGE_DOWN_S = DEVICE_BUDGET + 4
"""D(x₀)·8/B↓/TIME_S."""
EDGE_STEP_S = USER_FEATURES
"""ε₀/f_E/TIME_S."""
LATENCY_THRESHOLD = USER_FEATURES + 3
"""L̃/L_SCALE_S."""
ETA = USER_FEATURES + 4
"""η/ETA_SCALE."""

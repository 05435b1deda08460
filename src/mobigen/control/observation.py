"""The DRL state of eq. (24) as a fixed-size float32 vector for K users.

Eq. (24) lists s = {ν_k, Q̃_k, C_k}_k, L̃, C_E. We add what the system model also lets the edge
observe and what enters the reward:

* per-user bandwidth B↑_k, B↓_k (latency of eqs. 2, 6, 7) and the device speed f_k (eq. 6);
* ω_k (it weights q^I against q^T in Q_k, eq. 1);
* the VCE latency L¹_k (eq. 2; known once the condition has arrived);
* Q_k(T) sampled at ``Q_POINTS`` step counts: Q depends on ν_k, ω_k *and* the request's
  difficulty, which ν alone does not reveal; the edge holds the quality tables (``Slot.q_I/q_T``).

Per user (``PER_USER`` = 22 numbers): one-hot λ (4), α, β, ω^I, Q̃, C_k/(ε₀·T_max), f_k/f_E,
B↑/B_max, B↓/B_max, L¹/L̃, Q_k at the 9 points. Then L̃/10 s and C_E/(ε₀·K·T_max).
Every entry is scaled by scenario constants (never by data) and clipped to ±``OBS_BOUND``.
"""

from __future__ import annotations

import numpy as np

from mobigen.scenario import CONDITIONS
from mobigen.system.slot import Slot

Q_POINTS = 9
"""Q_k(T) is observed at this many step counts, evenly spaced over steps_min..steps_max."""
PER_USER = len(CONDITIONS) + 9 + Q_POINTS
"""Numbers per user in the observation."""
GLOBAL = 2
"""Slot-wide numbers (L̃, C_E)."""
OBS_BOUND = 10.0
"""Observation entries are clipped to [-OBS_BOUND, OBS_BOUND]."""
BANDWIDTH_SCALE_BPS = 20e6
"""Bandwidths are divided by this (the top of Table I's 5-20 Mbps range)."""


def obs_dim(K: int) -> int:
    """Length of the observation vector for K users."""
    return K * PER_USER + GLOBAL


def q_point_indices(n_T: int) -> np.ndarray:
    """Column indices of the quality tables that the observation samples."""
    return np.unique(np.round(np.linspace(0, n_T - 1, Q_POINTS)).astype(np.int64)) if n_T >= Q_POINTS \
        else np.minimum(np.arange(Q_POINTS), n_T - 1)


def observe(slot: Slot) -> np.ndarray:
    """The observation of one slot, shape (obs_dim(K),), float32."""
    p = slot.params
    K = slot.K
    n_T = len(p.steps_values)
    onehot = np.zeros((K, len(CONDITIONS)))
    onehot[np.arange(K), np.asarray(slot.condition, dtype=np.int64)] = 1.0
    idx = q_point_indices(n_T)
    if len(idx) < Q_POINTS:
        idx = np.concatenate([idx, np.full(Q_POINTS - len(idx), idx[-1])])
    scale_steps = p.eps0 * p.steps_max
    per_user = np.column_stack([
        onehot,
        slot.alpha, slot.beta, slot.omega_I, slot.qoe_threshold,
        slot.device_budget / scale_steps,
        slot.f_device / p.f_edge,
        slot.uplink_bps / BANDWIDTH_SCALE_BPS,
        slot.downlink_bps / BANDWIDTH_SCALE_BPS,
        slot.vce_latency_s / p.latency_threshold_s,
        slot.Q_table[:, idx],
    ])
    glob = np.array([p.latency_threshold_s / 10.0, p.edge_budget / (scale_steps * K)])
    out = np.concatenate([per_user.ravel(), glob])
    return np.clip(out, -OBS_BOUND, OBS_BOUND).astype(np.float32)

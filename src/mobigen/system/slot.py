"""One time slot of the system model: its inputs (``Slot``), a decision, and the outcome.

``Slot`` is what every controller sees (``decide(slot) -> Decision``); ``evaluate_decision``
applies eqs. (1), (2), (6)-(8), (11)-(15) and (26) to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import ArrayLike

from mobigen.system.constraints import FeasibilityReport, check_constraints
from mobigen.system.latency import DenoiseLatency, denoise_latency, vce_latency
from mobigen.system.offload import edge_steps, is_full_offload, local_steps, offload_ratio
from mobigen.system.params import SystemParams  # re-exported: callers import it from here
from mobigen.system.quality import QualityModel, qoe
from mobigen.system.reward import reward
from mobigen.system.utility import utility


@dataclass(frozen=True, eq=False)
class Slot:
    """The K requests of one time slot, after VCE has chosen each user's ν_k.

    Per-user fields are arrays of shape (K,); ``q_I``/``q_T`` are (K, n_T) tables over
    ``params.steps_values`` from the quality model named by ``quality_backend``.
    """

    params: SystemParams
    """The slot-independent constants (ε₀, f_E, C_E, L̃, η, δ, D(z), D(x₀), the T range)."""
    condition: np.ndarray
    """λ_k as an index into scenario.CONDITIONS."""
    alpha: np.ndarray
    """α_k, resolution level."""
    beta: np.ndarray
    """β_k, quality level."""
    condition_bytes: np.ndarray
    """D(I_k(ν_k)), bytes of the engineered condition (bytes)."""
    omega_I: np.ndarray
    """ω^I_k, preference for perceptual similarity (ω^T_k = 1 - ω^I_k)."""
    qoe_threshold: np.ndarray
    """Q̃_k."""
    f_device: np.ndarray
    """f_k (FLOPS)."""
    device_budget: np.ndarray
    """C_k (FLOPs per slot)."""
    uplink_bps: np.ndarray
    """B↑_k (bits/s)."""
    downlink_bps: np.ndarray
    """B↓_k (bits/s)."""
    extraction_s: np.ndarray
    """L⁰_k(f_k), extraction time on the device (s)."""
    q_I: np.ndarray
    """q^I_k(T) for T in params.steps_values, shape (K, n_T)."""
    q_T: np.ndarray
    """q^T_k(T) for T in params.steps_values, shape (K, n_T)."""
    quality_backend: str = "unknown"
    """Which quality model filled q_I/q_T (printed beside every quality number)."""
    difficulty: np.ndarray | None = None
    """Per-request difficulty offset used by the quality model (0 = average)."""

    def __post_init__(self) -> None:
        K = len(self.condition)
        n_T = len(self.params.steps_values)
        for name in ("alpha", "beta", "condition_bytes", "omega_I", "qoe_threshold", "f_device",
                     "device_budget", "uplink_bps", "downlink_bps", "extraction_s"):
            v = np.asarray(getattr(self, name))
            if v.shape != (K,):
                raise ValueError(f"slot field '{name}' must have shape ({K},), got {v.shape}")
            if not np.all(np.isfinite(v)):
                raise ValueError(f"slot field '{name}' holds NaN or Inf")
        for name in ("q_I", "q_T"):
            v = np.asarray(getattr(self, name))
            if v.shape != (K, n_T):
                raise ValueError(f"slot field '{name}' must have shape ({K}, {n_T}), got {v.shape}")
        if np.any((self.omega_I < 0) | (self.omega_I > 1)):
            raise ValueError("slot field 'omega_I' must lie in [0, 1]")
        if np.any(self.uplink_bps <= 0) or np.any(self.downlink_bps <= 0):
            raise ValueError("slot fields 'uplink_bps'/'downlink_bps' must be > 0")

    @property
    def K(self) -> int:
        """Number of users in the slot."""
        return len(self.condition)

    def quality_at(self, T: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """(q^I_k, q^T_k) at each user's T_k."""
        idx = np.asarray(T, dtype=np.int64) - self.params.steps_min
        rows = np.arange(self.K)
        return self.q_I[rows, idx], self.q_T[rows, idx]

    @property
    def Q_table(self) -> np.ndarray:
        """Q_k(T) over params.steps_values, shape (K, n_T) — eq. (1)."""
        return qoe(self.omega_I[:, None], self.q_I, self.q_T)

    @property
    def vce_latency_s(self) -> np.ndarray:
        """L¹_k, eq. (2) (s)."""
        return vce_latency(self.extraction_s, self.condition_bytes, self.uplink_bps)


def quality_tables(
    model: QualityModel,
    condition: ArrayLike,
    alpha: ArrayLike,
    beta: ArrayLike,
    steps_values: ArrayLike,
    difficulty: ArrayLike | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(K, n_T) tables of q^I and q^T for every user and every allowed T."""
    c = np.asarray(condition)[:, None]
    a = np.asarray(alpha, dtype=float)[:, None]
    b = np.asarray(beta, dtype=float)[:, None]
    T = np.asarray(steps_values)[None, :]
    d = None if difficulty is None else np.asarray(difficulty, dtype=float)[:, None]
    q_I, q_T = model.scores(c, a, b, T, d)
    shape = (c.shape[0], T.shape[1])
    return np.broadcast_to(q_I, shape).astype(float), np.broadcast_to(q_T, shape).astype(float)


def _read_only(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def _int_array(value: ArrayLike, name: str) -> np.ndarray:
    """``value`` as a 1-D int64 array; integral floats are accepted, anything else is refused."""
    v = np.asarray(value)
    if v.ndim != 1:
        raise ValueError(f"decision field '{name}' must be 1-D, got shape {v.shape}")
    if v.dtype.kind not in "iu":
        if v.dtype.kind != "f" or not np.all(np.isfinite(v)) or not np.all(v == np.round(v)):
            raise ValueError(f"decision field '{name}' must hold integers")
    return v.astype(np.int64)


@dataclass(frozen=True)
class Decision:
    """(T_k, e_k) for every user of a slot — the action of eq. (25) in integer steps.

    The edge steps e_k are the truth (``system.offload``); the paper's ratio o_k is derived.
    Build from ratios with ``Decision.from_ratio``. T and e are the decision's own read-only copies,
    so the derived arrays (o, d, full offload) are computed once and cached (read-only too).
    """

    T: np.ndarray
    """Denoising steps T_k ≥ 1 (integers)."""
    e: np.ndarray
    """Edge steps e_k ∈ 0..T_k (integers): the edge runs the first e_k steps (eq. 4)."""

    def __post_init__(self) -> None:
        T = _int_array(self.T, "T")
        e = _int_array(self.e, "e")
        if T.shape != e.shape:
            raise ValueError(f"decision: T and e must have equal length, got {T.shape[0]} and {e.shape[0]}")
        if np.any(T < 1):
            raise ValueError(f"decision field 'T' must be >= 1, got {T.tolist()}")
        if np.any(e < 0) or np.any(e > T):
            raise ValueError(f"decision field 'e' must lie in 0..T, got e={e.tolist()} for T={T.tolist()}")
        T.setflags(write=False)  # astype copied them: ours alone, and fixed so the caches below hold
        e.setflags(write=False)
        object.__setattr__(self, "T", T)
        object.__setattr__(self, "e", e)

    @classmethod
    def from_ratio(cls, T: ArrayLike, o: ArrayLike) -> "Decision":
        """The decision with e_k = ⌊o_k T_k⌋ (eq. 4) for ratios o_k ∈ [0, 1] (``system.offload.edge_steps``)."""
        T = _int_array(T, "T")
        o = np.asarray(o, dtype=float)
        if o.shape != T.shape:
            raise ValueError(f"decision: T and o must have equal length, got {T.shape} and {o.shape}")
        return cls(T=T, e=edge_steps(T, o))

    @cached_property
    def o(self) -> np.ndarray:
        """The canonical offloading ratio o_k ∈ (0, 1] (eq. 11) realising e_k; 1 iff e_k = T_k."""
        return _read_only(offload_ratio(self.T, self.e))

    @property
    def edge_steps(self) -> np.ndarray:
        """e_k (eq. 4), the same array as ``e``."""
        return self.e

    @cached_property
    def local_steps(self) -> np.ndarray:
        """d_k = T_k - e_k (eq. 5)."""
        return _read_only(local_steps(self.T, self.e))

    @cached_property
    def full_offload(self) -> np.ndarray:
        """e_k = T_k: the edge runs every step and returns the image (eq. 7)."""
        return _read_only(is_full_offload(self.T, self.e))


@dataclass(frozen=True, eq=False)
class SlotOutcome:
    """Everything the system model says about one decision on one slot."""

    decision: Decision
    """The decision evaluated."""
    q_I: np.ndarray
    """q^I_k at each user's T_k, perceptual similarity (quality-model units, ``Slot.quality_backend``)."""
    q_T: np.ndarray
    """q^T_k at each user's T_k, text alignment (quality-model units)."""
    Q: np.ndarray
    """QoE, eq. (1)."""
    vce_s: np.ndarray
    """L¹_k, eq. (2) (s)."""
    denoise: DenoiseLatency
    """L²_k and its parts, eqs. (6)-(7) (s)."""
    U: np.ndarray
    """Utility, eq. (8)."""
    report: FeasibilityReport
    """Constraints (11)-(15)."""
    reward: float
    """Eq. (26)."""

    @property
    def L(self) -> np.ndarray:
        """L_k = L¹_k + L²_k (s)."""
        return self.vce_s + self.denoise.total_s

    @property
    def satisfied(self) -> np.ndarray:
        """Q_k ≥ Q̃_k per user (the satisfaction-rate indicator)."""
        return self.report.qoe <= 0.0


def evaluate_decision(slot: Slot, decision: Decision) -> SlotOutcome:
    """Apply the system model to one decision: eqs. (1), (2), (6)-(8), (11)-(15), (26)."""
    p = slot.params
    if decision.T.shape != (slot.K,):
        raise ValueError(f"decision has {decision.T.shape[0]} users, slot has {slot.K}")
    if np.any(decision.T < p.steps_min) or np.any(decision.T > p.steps_max):
        raise ValueError(f"decision field 'T' must lie in {p.steps_min}..{p.steps_max}, got {decision.T.tolist()}")
    q_I, q_T = slot.quality_at(decision.T)
    Q = qoe(slot.omega_I, q_I, q_T)  # eq. (1)
    L1 = slot.vce_latency_s  # eq. (2)
    L2 = denoise_latency(  # eqs. (6)-(7)
        decision.T, decision.e, f_device=slot.f_device, f_edge=p.f_edge, eps0=p.eps0,
        downlink_bps=slot.downlink_bps, latent_bytes=p.latent_bytes, image_bytes=p.image_bytes,
    )
    L = L1 + L2.total_s
    U = utility(Q, L, p.eta)  # eq. (8)
    report = check_constraints(
        T=decision.T, e=decision.e, Q=Q, L=L, qoe_threshold=slot.qoe_threshold,
        device_budget=slot.device_budget, params=p,
    )
    r = reward(U, report, p.delta, p.eps0)  # eq. (26)
    return SlotOutcome(decision=decision, q_I=q_I, q_T=q_T, Q=Q, vce_s=L1, denoise=L2, U=U, report=report, reward=float(r))

"""Section VI metrics: per-request accounting of one method on one slot, and the summaries that the
figures and the report print.

Per request: QoE (eq. 1), DS (q^I) and IR (q^T), whether Q_k ≥ Q̃_k (satisfaction, eq. 14), bytes on the
uplink and the downlink, and the latency split as in Fig. 11: extraction, uplink (eq. 2), edge denoising,
downlink, local denoising (eqs. 6-7). 1 KB = 1000 bytes.

Beyond the paper: ``serial_edge_completion`` re-times a slot with an edge that denoises its users one
after another (as a real edge GPU and ``serving/worker.py``'s single FIFO worker do); the paper's eq. (6)
charges each user ε₀⌊o_kT_k⌋/f_E as if the edge served every user at once, i.e. it has no edge queueing.
``SlotRecord.latency_batched_s`` re-times it with an edge that batches the users' steps
(``system.batching``: a batch-time curve, measured by ``mobigen bench edge`` or given in the scenario).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np
import pandas as pd

from mobigen.system import Decision, Slot, SlotOutcome, transfer_time_s
from mobigen.system.batching import BatchTimeModel, batched_edge_completion

LATENCY_PARTS: tuple[str, ...] = ("extraction_s", "uplink_s", "edge_s", "downlink_s", "local_s")
"""The five parts of Fig. 11(a), in the order of the request's life."""

SERIAL_ORDERS: tuple[str, ...] = ("arrival", "sjf")
"""Orders in which a serial edge runs a slot's jobs (beyond the paper): ``arrival`` = upload arrival order
(ascending L¹_k, ties by user index), the order in which ``serving/batcher.py`` collects a slot's items and
``serving/edge.py`` submits them to ``serving/worker.py``'s FIFO worker; ``sjf`` = shortest edge job first
(ties by arrival)."""

QUALITY_KEYS: tuple[str, ...] = ("qoe", "q_I", "q_T", "satisfaction")
"""Summary keys whose values come from the quality model (labelled with its backend everywhere)."""


@dataclass(frozen=True, eq=False)
class SlotRecord:
    """How one method served the K requests of one slot; every array has shape (K,)."""

    slot_index: int
    """Index of the slot in the evaluation's seeded sequence."""
    condition: np.ndarray
    """λ_k as an index into scenario.CONDITIONS."""
    alpha: np.ndarray
    """α_k, resolution level of the uploaded condition."""
    beta: np.ndarray
    """β_k, quality level of the uploaded condition."""
    T: np.ndarray
    """T_k, denoising steps (steps)."""
    edge_steps: np.ndarray
    """⌊o_k T_k⌋, steps run on the edge (steps)."""
    local_steps: np.ndarray
    """Steps run on the device (steps)."""
    omega_I: np.ndarray
    """ω^I_k, the user's weight on perceptual similarity."""
    difficulty: np.ndarray
    """δ_k, the request's difficulty offset used by the quality model (0 = average)."""
    q_I: np.ndarray
    """DS score q^I_k (quality-model units, [0, 1])."""
    q_T: np.ndarray
    """IR score q^T_k (quality-model units, [0, 1])."""
    Q: np.ndarray
    """QoE Q_k, eq. (1)."""
    qoe_threshold: np.ndarray
    """Q̃_k."""
    uplink_bytes: np.ndarray
    """Bytes the device sends (condition, or raw image for AaaS, 0 for local-only generation) (bytes)."""
    downlink_bytes: np.ndarray
    """Bytes the edge returns (latent, image, or 0 for local-only generation) (bytes)."""
    extraction_s: np.ndarray
    """Condition extraction time, on the device or (AaaS) on the edge (s)."""
    uplink_s: np.ndarray
    """Uplink transfer time (s)."""
    edge_s: np.ndarray
    """Edge denoising time (s)."""
    downlink_s: np.ndarray
    """Downlink transfer time (s)."""
    local_s: np.ndarray
    """Device denoising time (s)."""
    reward: float
    """Eq. (26) of the executed decision (system model's accounting)."""
    repairs: int
    """Users whose decision the feasibility guard changed."""
    hard_feasible: bool
    """The executed decision meets the compute budgets (11)-(13)."""

    @property
    def K(self) -> int:
        """Users in the slot."""
        return len(self.Q)

    @property
    def latency_s(self) -> np.ndarray:
        """L_k, the sum of the five parts (s)."""
        return self.extraction_s + self.uplink_s + self.edge_s + self.downlink_s + self.local_s

    @property
    def satisfied(self) -> np.ndarray:
        """Q_k ≥ Q̃_k (eq. 14)."""
        return self.Q >= self.qoe_threshold - 1e-12

    @property
    def uses_edge(self) -> np.ndarray:
        """Users that contact the edge (everyone but OQC+'s local-only users, who transfer nothing)."""
        return (self.edge_steps > 0) | (self.uplink_bytes > 0) | (self.downlink_bytes > 0)

    def latency_serial_s(self, order: str = "arrival") -> np.ndarray:
        """Completion time of each request when the edge denoises the slot's users one after another
        (beyond the paper; see ``serial_edge_completion``) (s)."""
        return serial_edge_completion(self.extraction_s + self.uplink_s, self.edge_s, self.downlink_s, self.local_s,
                                      uses_edge=self.uses_edge, order=order)

    def latency_batched_s(self, model: BatchTimeModel) -> np.ndarray:
        """Completion time of each request when the edge batches the slot's users' steps (beyond the
        paper; ``system.batching.batched_edge_completion`` with the batch-time curve of ``model``) (s)."""
        return batched_edge_completion(self.extraction_s + self.uplink_s, self.edge_steps, self.downlink_s,
                                       self.local_s, model=model, uses_edge=self.uses_edge)


def account(
    slot: Slot,
    decision: Decision,
    outcome: SlotOutcome,
    *,
    slot_index: int,
    repairs: int = 0,
    local_only: np.ndarray | None = None,
) -> SlotRecord:
    """Per-request accounting of an executed decision.

    By default the paper's split framework: the engineered condition goes up (eq. 2) and the latent
    (o_k < 1) or the image (o_k = 1) comes down (eqs. 6-7), exactly as ``evaluate_decision`` charges.
    ``local_only`` marks users that generate entirely on their device without contacting the edge
    (OQC's binary offloading, local branch): no uplink, no downlink, only extraction and local steps.
    """
    K = slot.K
    up_bytes = np.asarray(slot.condition_bytes, dtype=float).copy()
    up_s = transfer_time_s(up_bytes, slot.uplink_bps)  # eq. (2), second term
    full = decision.full_offload  # e_k = T_k
    p = slot.params
    down_bytes = np.where(full, float(p.image_bytes), float(p.latent_bytes))  # eq. (7) / eq. (6)
    den = outcome.denoise
    down_s = np.asarray(den.downlink_s, dtype=float).copy()
    edge_s = np.asarray(den.edge_s, dtype=float).copy()
    local_s = np.asarray(den.local_s, dtype=float).copy()
    e = decision.edge_steps
    d = np.where(full, 0, decision.local_steps)
    if local_only is not None:
        lo = np.asarray(local_only, dtype=bool)
        if lo.shape != (K,):
            raise ValueError(f"local_only must have shape ({K},), got {lo.shape}")
        if np.any(e[lo] != 0):
            raise ValueError("local_only users must run no edge steps")
        up_bytes[lo] = 0.0
        up_s[lo] = 0.0
        down_bytes[lo] = 0.0
        down_s[lo] = 0.0
    return SlotRecord(
        slot_index=int(slot_index),
        condition=np.asarray(slot.condition).copy(),
        alpha=np.asarray(slot.alpha, dtype=float).copy(),
        beta=np.asarray(slot.beta, dtype=float).copy(),
        T=decision.T.copy(),
        edge_steps=e,
        local_steps=d,
        omega_I=np.asarray(slot.omega_I, dtype=float).copy(),
        difficulty=np.zeros(K) if slot.difficulty is None else np.asarray(slot.difficulty, dtype=float).copy(),
        q_I=np.asarray(outcome.q_I, dtype=float),
        q_T=np.asarray(outcome.q_T, dtype=float),
        Q=np.asarray(outcome.Q, dtype=float),
        qoe_threshold=np.asarray(slot.qoe_threshold, dtype=float).copy(),
        uplink_bytes=up_bytes,
        downlink_bytes=down_bytes.astype(float),
        extraction_s=np.asarray(slot.extraction_s, dtype=float).copy(),
        uplink_s=up_s,
        edge_s=edge_s,
        downlink_s=down_s,
        local_s=local_s,
        reward=float(outcome.reward),
        repairs=int(repairs),
        hard_feasible=bool(outcome.report.hard_feasible),
    )


def serial_edge_completion(
    vce_s: np.ndarray,
    edge_s: np.ndarray,
    downlink_s: np.ndarray,
    local_s: np.ndarray,
    *,
    uses_edge: np.ndarray | None = None,
    order: str = "arrival",
) -> np.ndarray:
    """Per-user completion time of one slot when the edge runs its users' denoising serially (s).

    Beyond the paper: eq. (6) charges user k's edge part ε₀⌊o_kT_k⌋/f_E from its own L¹_k on, as if the
    edge served all users at once (no edge queueing). Here the slot is batched: it closes when the last
    edge user's upload has arrived, t₀ = max_k L¹_k (eq. 2; for AaaS L¹_k includes the edge's extraction
    of all K conditions, which is the same for every user, so t₀ also marks the end of that extraction);
    the edge then runs each edge user's job (``edge_s[k]`` = ε₀⌊o_kT_k⌋/f_E, possibly 0 s) one after
    another in ``order`` (see ``SERIAL_ORDERS``); each user's downlink and local steps follow its own job
    as in eqs. (6)/(7). Users with ``uses_edge`` False (local-only generation) never wait for the edge:
    their completion is L¹_k + downlink_s + local_s, exactly their eq. latency.

    Every completion is ≥ the eq. (6)/(7) latency L¹_k + edge_s + downlink_s + local_s, with equality for
    the only edge user of a slot.
    """
    vce = np.asarray(vce_s, dtype=float)
    K = vce.shape[0] if vce.ndim == 1 else -1
    if K < 0:
        raise ValueError(f"vce_s must be one-dimensional, got shape {vce.shape}")
    arrays = {"edge_s": edge_s, "downlink_s": downlink_s, "local_s": local_s}
    conv: dict[str, np.ndarray] = {}
    for name, a in arrays.items():
        v = np.asarray(a, dtype=float)
        if v.shape != (K,):
            raise ValueError(f"{name} must have shape ({K},), got {v.shape}")
        conv[name] = v
    for name, v in (("vce_s", vce), *conv.items()):
        if not np.all(np.isfinite(v)) or np.any(v < 0):
            raise ValueError(f"{name} must be finite and non-negative")
    edge, down, local = conv["edge_s"], conv["downlink_s"], conv["local_s"]
    mask = np.ones(K, dtype=bool) if uses_edge is None else np.asarray(uses_edge, dtype=bool)
    if mask.shape != (K,):
        raise ValueError(f"uses_edge must have shape ({K},), got {mask.shape}")
    if np.any(edge[~mask] > 0):
        raise ValueError("uses_edge: users that do not use the edge must have edge_s = 0")
    if order not in SERIAL_ORDERS:
        raise ValueError(f"order: unknown '{order}' (known: {', '.join(SERIAL_ORDERS)})")
    done = vce + edge + down + local  # local-only users: their eq. latency
    users = np.flatnonzero(mask)
    if users.size == 0:
        return done
    t0 = vce[users].max()  # the batched slot closes at the last upload (max_k L¹_k)
    if order == "arrival":
        seq = users[np.lexsort((users, vce[users]))]
    else:  # sjf
        seq = users[np.lexsort((users, vce[users], edge[users]))]
    finish = t0 + np.cumsum(edge[seq])  # one job after another
    done[seq] = finish + down[seq] + local[seq]  # eq. (6)/(7): downlink, then the local steps
    return done


def records_frame(records: Iterable[SlotRecord], batch_model: BatchTimeModel | None = None) -> pd.DataFrame:
    """One row per request (slot, user); with ``batch_model`` also ``latency_batched_s`` (beyond the paper)."""
    rows: list[pd.DataFrame] = []
    for r in records:
        batched = {} if batch_model is None else {"latency_batched_s": r.latency_batched_s(batch_model)}
        rows.append(pd.DataFrame({
            "slot": np.full(r.K, r.slot_index), "user": np.arange(r.K), "condition": r.condition,
            "alpha": r.alpha, "beta": r.beta, "T": r.T, "edge_steps": r.edge_steps, "local_steps": r.local_steps,
            "omega_I": r.omega_I, "difficulty": r.difficulty, "q_I": r.q_I, "q_T": r.q_T, "qoe": r.Q, "qoe_threshold": r.qoe_threshold,
            "satisfied": r.satisfied, "uplink_bytes": r.uplink_bytes, "downlink_bytes": r.downlink_bytes,
            "extraction_s": r.extraction_s, "uplink_s": r.uplink_s, "edge_s": r.edge_s,
            "downlink_s": r.downlink_s, "local_s": r.local_s, "latency_s": r.latency_s,
            "latency_serial_s": r.latency_serial_s("arrival"), "latency_serial_sjf_s": r.latency_serial_s("sjf"),
            "slot_reward": np.full(r.K, r.reward), "slot_repairs": np.full(r.K, r.repairs),
            "slot_hard_feasible": np.full(r.K, r.hard_feasible),
        } | batched))
    if not rows:
        raise ValueError("records: no slots to summarise")
    return pd.concat(rows, ignore_index=True)


def summarize(frame: pd.DataFrame, latency_threshold_s: float) -> dict[str, float]:
    """Means over all requests (and over slots for slot-level values).

    ``latency_s`` is the mean per-request latency L_k; ``round_latency_s`` the mean over slots of the
    slowest user of the slot; ``latency_ok`` the share of requests with L_k ≤ L̃ (eq. 15).

    Beyond the paper (when the frame has the columns of ``records_frame``): ``latency_serial_s`` and
    ``round_latency_serial_s`` are the same two means with a serial edge (``serial_edge_completion``,
    arrival order, as the live server runs them); ``*_sjf_s`` with shortest-edge-job-first.
    ``latency_batched_s`` / ``round_latency_batched_s`` (when the frame has the column: ``records_frame``
    with a ``batch_model``) with a batching edge (``system.batching``).
    """
    if len(frame) == 0:
        raise ValueError("frame: no requests to summarise")
    per_slot = frame.groupby("slot")
    out: dict[str, float] = {
        "requests": int(len(frame)),
        "slots": int(per_slot.ngroups),
        "satisfaction": float(frame["satisfied"].mean()),
        "qoe": float(frame["qoe"].mean()),
        "q_I": float(frame["q_I"].mean()),
        "q_T": float(frame["q_T"].mean()),
        "uplink_kb": float(frame["uplink_bytes"].mean() / 1000.0),
        "downlink_kb": float(frame["downlink_bytes"].mean() / 1000.0),
        "latency_s": float(frame["latency_s"].mean()),
        "round_latency_s": float(per_slot["latency_s"].max().mean()),
        "latency_ok": float((frame["latency_s"] <= latency_threshold_s + 1e-9).mean()),
        "steps": float(frame["T"].mean()),
        "edge_steps": float(frame["edge_steps"].mean()),
        "local_steps": float(frame["local_steps"].mean()),
        "reward": float(per_slot["slot_reward"].first().mean()),
        "repairs_per_slot": float(per_slot["slot_repairs"].first().mean()),
        "hard_feasible": float(per_slot["slot_hard_feasible"].first().mean()),
    }
    for part in LATENCY_PARTS:
        out[part] = float(frame[part].mean())
    for col in ("latency_serial_s", "latency_serial_sjf_s", "latency_batched_s"):
        if col in frame:
            out[col] = float(frame[col].mean())
            out["round_" + col] = float(per_slot[col].max().mean())
    return out


def per_user(frame: pd.DataFrame) -> pd.DataFrame:
    """Means per user index (device type) — the x-axis of Fig. 10."""
    cols = ["uplink_bytes", "downlink_bytes", "latency_s", "qoe", "satisfied", *LATENCY_PARTS]
    return frame.groupby("user")[cols].mean()


def bootstrap_ci(values: np.ndarray, *, seed: int, n_boot: int = 500, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean (seeded), for the report's uncertainty column."""
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        raise ValueError("values: empty")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, v.size, size=(n_boot, v.size))
    means = v[idx].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)

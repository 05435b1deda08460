"""The M-edge system model (issue 11; the paper's future work, Sec. VII): user-edge association x_km.

A scenario may list M edge sites (``Scenario.edges``), each with its own f_E^m and C_E^m. A slot of
K users then carries each user's uplink B↑_km and downlink B↓_km to every edge (``MultiEdgeSlot``).
A decision associates every user with exactly one edge (x_km ∈ {0, 1}, Σ_m x_km = 1, stored as the
edge index of each user) and gives its (T_k, e_k) (``MultiDecision``). Each edge m is then the
paper's one-edge model on its own users: eqs. (1), (2), (6)-(8), (13)-(15) per user with the links
to edge m and f_E^m, and the budget (12) with C_E^m. The slot reward is Σ_m of eq. (26) over the
edges (``evaluate_multi``).

Channel model (documented choice). Table I gives one interval per link, U(5, 20) Mbps, and no
geometry; every link k→m is drawn independently each slot, B↑_km = s↑_m · U(uplink range),
B↓_km = s↓_m · U(downlink range), with a per-edge scale s_m (``EdgeSpec.uplink_scale`` /
``downlink_scale``, default 1: a site placed farther away gets s < 1). This keeps every link's
marginal in the paper's range without inventing path-loss exponents, transmit powers and noise
floors the paper does not give, and with M = 1, s = 1 it is exactly today's draw.

VCE's uplink (documented rule). The device engineers its condition before the association is known,
so ν_k is chosen (Algorithms 1-2) with its best uplink max_m B↑_km; the uplink term of eq. (2) in the
reward uses the link to the edge it is associated with: L¹_km = L⁰_k + D(I_k(ν_k)) / B↑_km.
With one edge both are today's B↑_k.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from mobigen.scenario import EdgeSpec, Scenario
from mobigen.system.params import SystemParams
from mobigen.system.slot import Decision, Slot, SlotOutcome, evaluate_decision

_PER_USER = ("condition", "alpha", "beta", "condition_bytes", "omega_I", "qoe_threshold", "f_device",
             "device_budget", "uplink_bps", "downlink_bps", "extraction_s", "q_I", "q_T")
"""The per-user fields of ``Slot`` (first axis = users)."""


def edge_specs(sc: Scenario) -> tuple[EdgeSpec, ...]:
    """The scenario's edge sites: ``sc.edges``, or the one edge of its top-level fields."""
    if sc.edges is not None:
        return sc.edges
    return (EdgeSpec(edge_step_time_s=sc.edge_step_time_s, edge_budget_steps=sc.edge_budget_steps),)


def edge_params(sc: Scenario) -> tuple[SystemParams, ...]:
    """One ``SystemParams`` per edge site: the scenario's constants with that edge's f_E^m and C_E^m."""
    base = SystemParams.from_scenario(sc)
    return tuple(dataclasses.replace(base, f_edge=sc.eps0_flops / e.edge_step_time_s,
                                     edge_budget=e.edge_budget_steps * sc.eps0_flops) for e in edge_specs(sc))


def with_edges(sc: Scenario, n_edges: int, *, name: str | None = None) -> Scenario:
    """``sc`` with ``n_edges`` copies of its one edge (same f_E and C_E, scale 1)."""
    if not 1 <= n_edges <= 64:
        raise ValueError(f"n_edges: must lie in 1..64, got {n_edges!r}")
    spec = EdgeSpec(edge_step_time_s=sc.edge_step_time_s, edge_budget_steps=sc.edge_budget_steps)
    return sc.replace(edges=(spec,) * n_edges, name=name or f"{sc.name}-x{n_edges}")


def sub_slot(slot: Slot, users: ArrayLike, **changes: object) -> Slot:
    """The ``Slot`` of some of ``slot``'s users (indices ``users``, in that order), with field ``changes``."""
    idx = np.asarray(users, dtype=np.int64)
    fields = {name: np.asarray(getattr(slot, name))[idx] for name in _PER_USER}
    if slot.difficulty is not None:
        fields["difficulty"] = np.asarray(slot.difficulty)[idx]
    fields.update(changes)
    return dataclasses.replace(slot, **fields)


@dataclass(frozen=True, eq=False)
class MultiEdgeSlot:
    """The K requests of one slot and their links to M edge sites."""

    base: Slot
    """The users' fields (ν_k, ω_k, Q̃_k, device, quality tables); its links are the ones VCE chose with."""
    edges: tuple[SystemParams, ...]
    """Per edge m: the system constants with f_E^m and C_E^m."""
    uplink_bps: np.ndarray
    """B↑_km, shape (K, M) (bits/s)."""
    downlink_bps: np.ndarray
    """B↓_km, shape (K, M) (bits/s)."""

    def __post_init__(self) -> None:
        shape = (self.base.K, len(self.edges))
        if not self.edges:
            raise ValueError("multi-edge slot field 'edges' must hold at least one edge")
        for name in ("uplink_bps", "downlink_bps"):
            v = np.asarray(getattr(self, name), dtype=float)
            if v.shape != shape:
                raise ValueError(f"multi-edge slot field '{name}' must have shape {shape}, got {v.shape}")
            if not np.all(np.isfinite(v)) or np.any(v <= 0):
                raise ValueError(f"multi-edge slot field '{name}' must be finite and > 0")
            object.__setattr__(self, name, v)

    @classmethod
    def single(cls, slot: Slot) -> "MultiEdgeSlot":
        """Today's one-edge slot as a multi-edge slot with M = 1."""
        return cls(base=slot, edges=(slot.params,), uplink_bps=slot.uplink_bps[:, None],
                   downlink_bps=slot.downlink_bps[:, None])

    @property
    def K(self) -> int:
        """Number of users."""
        return self.base.K

    @property
    def M(self) -> int:
        """Number of edge sites."""
        return len(self.edges)

    def edge_slot(self, m: int, users: ArrayLike | None = None) -> Slot:
        """Edge m's one-edge ``Slot`` for ``users`` (default: every user): its f_E^m, C_E^m and links."""
        if not 0 <= m < self.M:
            raise ValueError(f"edge index must lie in 0..{self.M - 1}, got {m}")
        idx = np.arange(self.K) if users is None else np.asarray(users, dtype=np.int64)
        return sub_slot(self.base, idx, params=self.edges[m], uplink_bps=self.uplink_bps[idx, m],
                        downlink_bps=self.downlink_bps[idx, m])


@dataclass(frozen=True)
class MultiDecision:
    """The association and (T_k, e_k) of every user: user k runs on edge ``edge[k]`` (x_k,edge[k] = 1)."""

    edge: np.ndarray
    """Associated edge index per user, shape (K,) (Σ_m x_km = 1 by construction)."""
    decision: Decision
    """(T_k, e_k) per user, on its associated edge."""

    def __post_init__(self) -> None:
        edge = np.asarray(self.edge)
        if edge.ndim != 1 or edge.dtype.kind not in "iu":
            raise ValueError(f"multi-edge decision field 'edge' must be a 1-D integer array, got {edge.dtype} "
                             f"shape {edge.shape}")
        if edge.shape != self.decision.T.shape:
            raise ValueError(f"multi-edge decision: 'edge' has {edge.shape[0]} users, the decision has "
                             f"{self.decision.T.shape[0]}")
        object.__setattr__(self, "edge", edge.astype(np.int64))

    def x(self, n_edges: int) -> np.ndarray:
        """x_km ∈ {0, 1}, shape (K, M)."""
        return (self.edge[:, None] == np.arange(n_edges)[None, :]).astype(np.int64)

    def users_of(self, m: int) -> np.ndarray:
        """The users associated with edge m, ascending."""
        return np.flatnonzero(self.edge == m)


@dataclass(frozen=True, eq=False)
class MultiEdgeOutcome:
    """The system model's verdict on one multi-edge decision."""

    per_edge: tuple[SlotOutcome | None, ...]
    """Edge m's outcome on its users (None when no user is associated with it)."""
    Q: np.ndarray
    """Q_k, eq. (1), per user (K,)."""
    L: np.ndarray
    """L_k = L¹_km + L²_km on the associated edge (s), per user (K,)."""
    satisfied: np.ndarray
    """Q_k ≥ Q̃_k per user (K,)."""
    hard_feasible: bool
    """(12) on every edge and (13) for every user hold."""
    reward: float
    """Σ_m eq. (26) over the edges, each with its own budget (12)."""


def check_decision(mslot: MultiEdgeSlot, md: MultiDecision) -> None:
    """ValueError naming the field when ``md`` does not fit ``mslot`` (user count, edge indices)."""
    if md.edge.shape != (mslot.K,):
        raise ValueError(f"multi-edge decision has {md.edge.shape[0]} users, slot has {mslot.K}")
    if mslot.K and (md.edge.min() < 0 or md.edge.max() >= mslot.M):
        raise ValueError(f"multi-edge decision field 'edge' must lie in 0..{mslot.M - 1}, got {md.edge.tolist()}")


def evaluate_multi(mslot: MultiEdgeSlot, md: MultiDecision) -> MultiEdgeOutcome:
    """Apply the one-edge model per edge to its users and sum eq. (26) over the edges."""
    check_decision(mslot, md)
    K = mslot.K
    Q, L, sat = np.zeros(K), np.zeros(K), np.zeros(K, dtype=bool)
    outs: list[SlotOutcome | None] = []
    total, feasible = 0.0, True
    for m in range(mslot.M):
        users = md.users_of(m)
        if users.size == 0:  # an idle edge: no user term, Σe = 0 ≤ C_E^m, no penalty
            outs.append(None)
            continue
        sub = Decision(T=md.decision.T[users], e=md.decision.e[users])
        out = evaluate_decision(mslot.edge_slot(m, users), sub)
        outs.append(out)
        Q[users], L[users], sat[users] = out.Q, out.L, out.satisfied
        total += out.reward  # eq. (26) with C_E^m in (12)
        feasible = feasible and out.report.hard_feasible
    return MultiEdgeOutcome(per_edge=tuple(outs), Q=Q, L=L, satisfied=sat, hard_feasible=feasible, reward=total)


__all__ = ["MultiDecision", "MultiEdgeOutcome", "MultiEdgeSlot", "check_decision", "edge_params", "edge_specs",
           "evaluate_multi", "sub_slot", "with_edges"]

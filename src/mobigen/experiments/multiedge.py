"""Beyond the paper (issue 11): many edges, user-edge association, per-edge denoising control.

Two experiments on the M-edge model of ``system.multiedge`` (slots from ``workload_multiedge``):

* ``run_sweep``: satisfaction and round latency (max_k L_k of a slot) against the number of users for
  M = 1, 2, 4 edges and each association policy, mean over slots with a 95% Student-t interval over the
  slots (few slots per point: it runs inside ``mobigen evaluate``);
* ``run_bench``: per policy, reward / the MILP oracle's reward on held-out slots with K ≤ 16, M ≤ 4,
  satisfaction and decision latency; decision latency at K = 64, M = 4; the scaling check (M edges with
  11·M users against one edge with 11); the gain of joint association over best channel.

Edges. ``same``: M copies of the scenario's edge (f_E, C_E = 60 ε₀, link scale 1). ``mixed``: unlike
sites, edge m with step time 0.11 s × (1, 1.5, 0.8, 2)[m], budget 60 × (1, 0.5, 1.5, 0.75)[m] steps and
link scale (1, 0.6, 1.4, 0.8)[m] — a documented choice: one site slower with less budget and a worse
channel, one faster with more, so that association has something to decide.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict
from scipy import stats

from mobigen.control.multiedge import make_multiedge_controller
from mobigen.experiments.multiedge_results import Interval, MultiEdgePoint, MultiEdgeSweep
from mobigen.scenario import EdgeSpec, Scenario, resolve
from mobigen.system.multiedge import MultiEdgeSlot, evaluate_multi, with_edges
from mobigen.workload_multiedge import MultiEdgeSampler

log = logging.getLogger(__name__)

POLICIES = ("fast", "best-channel", "least-loaded", "random", "fast+ddc")
"""Association policies of the sweep (each followed by the exact per-edge DP; fast+ddc: DDC per edge)."""
SWEEP_USERS = (10, 11, 16, 22, 32, 44, 64)
"""Users per slot of the sweep (10 to 64; 11, 22, 44 = 11·M for the scaling check)."""
SWEEP_EDGES = (1, 2, 4)
"""Edge counts of the sweep."""
_MIX = {"time": (1.0, 1.5, 0.8, 2.0), "budget": (1.0, 0.5, 1.5, 0.75), "link": (1.0, 0.6, 1.4, 0.8)}


def edge_scenario(base: Scenario, users: int, n_edges: int, kind: str = "same") -> Scenario:
    """``base`` with ``users`` users and ``n_edges`` edge sites of ``kind`` ("same" or "mixed")."""
    sc = base.replace(num_users=users, name=f"{base.name}-K{users}")
    if kind == "same":
        return with_edges(sc, n_edges)
    if kind != "mixed":
        raise ValueError(f"edges_kind: must be 'same' or 'mixed', got {kind!r}")
    if not 1 <= n_edges <= len(_MIX["time"]):
        raise ValueError(f"n_edges: 'mixed' defines 1..{len(_MIX['time'])} edges, got {n_edges}")
    specs = tuple(EdgeSpec(edge_step_time_s=base.edge_step_time_s * _MIX["time"][m],
                           edge_budget_steps=base.edge_budget_steps * _MIX["budget"][m],
                           uplink_scale=_MIX["link"][m], downlink_scale=_MIX["link"][m]) for m in range(n_edges))
    return sc.replace(edges=specs, name=f"{sc.name}-mixed{n_edges}")


class _Samplers:
    """One ``MultiEdgeSampler`` per scenario, sharing the first one's VCE (same base scenario)."""

    def __init__(self) -> None:
        self.vce: Any = None

    def __call__(self, sc: Scenario) -> MultiEdgeSampler:
        s = MultiEdgeSampler(sc) if self.vce is None else MultiEdgeSampler(sc, vce=self.vce)
        self.vce = s.base.vce
        return s


def _interval(v: np.ndarray, lo: float = -np.inf, hi: float = np.inf) -> Interval:
    """Mean and 95% Student-t interval over the entries, clipped to [lo, hi] (the quantity's range; a
    point interval for one entry)."""
    v = np.asarray(v, dtype=float)
    m = float(v.mean())
    if v.size < 2:
        return Interval(mean=m, lo=m, hi=m)
    half = float(stats.t.ppf(0.975, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size))
    return Interval(mean=m, lo=max(lo, m - half), hi=min(hi, m + half))


def _slots(sampler: MultiEdgeSampler, n: int, seed: int) -> list[MultiEdgeSlot]:
    rng = np.random.default_rng(seed)
    return [sampler.sample(rng) for _ in range(n)]


def _point(users: int, n_edges: int, policy: str, ctrl: Any, slots: list[MultiEdgeSlot]) -> MultiEdgePoint:
    sat, rnd, lat, rew = [], [], [], []
    for ms in slots:
        out = evaluate_multi(ms, ctrl.decide(ms))
        sat.append(out.satisfied.mean())
        rnd.append(out.L.max())
        lat.append(out.L.mean())
        rew.append(out.reward)
    return MultiEdgePoint(users=users, edges=n_edges, policy=policy, satisfaction=_interval(np.array(sat), 0.0, 1.0),
                      round_latency_s=_interval(np.array(rnd), 0.0), latency_s=float(np.mean(lat)),
                      reward=float(np.mean(rew)))


def run_sweep(base: Scenario | str = "paper", *, users: Sequence[int] = SWEEP_USERS,
              edges: Sequence[int] = SWEEP_EDGES, policies: Sequence[str] = POLICIES, slots: int = 6,
              seed: int = 11, kind: str = "same") -> MultiEdgeSweep:
    """The sweep of the module docstring (``slots`` slots per (users, edges), the same for every policy)."""
    if slots < 1:
        raise ValueError(f"slots: must be >= 1, got {slots}")
    base_sc = resolve(base)
    samplers = _Samplers()
    points: list[MultiEdgePoint] = []
    notes: dict[str, str] = {}
    backend = "unknown"
    for n_edges in edges:
        for K in users:
            sc = edge_scenario(base_sc, K, n_edges, kind)
            drawn = _slots(samplers(sc), slots, seed + 1000 * n_edges + K)
            backend = drawn[0].base.quality_backend
            for policy in (policies[:1] if n_edges == 1 else policies):
                ctrl = make_multiedge_controller(policy, sc, seed=seed)
                reason = getattr(ctrl, "fallback_reason", None)
                if reason:
                    notes[policy] = f"ran the exact DP per edge: {reason}"
                points.append(_point(K, n_edges, policy, ctrl, drawn))
    return MultiEdgeSweep(scenario=base_sc.name, edges_kind=kind, slots_per_point=slots, quality_backend=backend,
                          points=points, notes=notes)


# ---- the benchmark ---------------------------------------------------------------------------------------

class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class PolicyBench(_Frozen):
    """One policy on one (K, M, edges kind) case."""

    reward_vs_oracle: float
    """Mean over slots of reward / the oracle's reward (ratio)."""
    min_reward_vs_oracle: float
    """Worst slot's reward / the oracle's (ratio)."""
    satisfaction: float
    """Share of users with Q_k ≥ Q̃_k (share; quality backend)."""
    decision_p50_ms: float
    """Median decision time (ms)."""
    decision_p99_ms: float
    """99th-percentile decision time (ms)."""


class BenchCase(_Frozen):
    """Every policy on the held-out slots of one case."""

    users: int
    """K."""
    edges: int
    """M."""
    edges_kind: str
    """"same" or "mixed"."""
    slots: int
    """Held-out slots."""
    policies: dict[str, PolicyBench]
    """Policy (and "oracle") → its numbers."""


class TimingCase(_Frozen):
    """Decision latency on a case too large for the oracle."""

    users: int
    """K."""
    edges: int
    """M."""
    edges_kind: str
    """"same" or "mixed"."""
    slots: int
    """Slots timed."""
    p50_ms: dict[str, float]
    """Policy → median decision time (ms)."""
    p99_ms: dict[str, float]
    """Policy → 99th-percentile decision time (ms)."""
    cpu_p50_ms: dict[str, float]
    """Policy → median decision CPU time of the deciding thread (ms): what one core spends, without the
    waits of a shared machine."""
    reward_vs_fast: dict[str, float]
    """Policy → mean reward / the fast controller's (ratio)."""


class ScalingRow(_Frozen):
    """Satisfaction with M edges and 11·M users against one edge with 11."""

    edges: int
    """M."""
    users: int
    """11·M."""
    satisfaction: float
    """Share satisfied with the fast controller (share; quality backend)."""
    delta_pp: float
    """satisfaction − one edge's with 11 users (percentage points)."""


class MultiEdgeBench(_Frozen):
    """What ``mobigen bench multiedge`` measured."""

    scenario: str
    """Base scenario."""
    quality_backend: str
    """Quality model behind the satisfaction numbers."""
    seed: int
    """Seed of the held-out slots (distinct from the evaluation's)."""
    cases: list[BenchCase]
    """The oracle cases."""
    timing: TimingCase
    """The K = 64, M = 4 timing case."""
    scaling: list[ScalingRow]
    """The scaling check (edges kind "same")."""
    fast_min_ratio: float
    """Lowest mean reward / oracle of the fast controller over the cases (ratio)."""
    fast_worst_slot_ratio: float
    """Lowest single-slot reward / oracle of the fast controller (ratio)."""
    joint_gain_vs_best_channel: dict[str, float]
    """Case "K×M kind" → (fast − best channel) / |best channel| mean reward (ratio)."""
    notes: dict[str, str] = {}
    """Policy → why it ran as something else."""


def _timed(ctrl: Any, slots: list[MultiEdgeSlot]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(rewards, satisfaction shares, decision wall seconds, decision thread-CPU seconds) per slot."""
    r, s, t, c = [], [], [], []
    for ms in slots:
        c0, t0 = time.thread_time(), time.perf_counter()
        md = ctrl.decide(ms)
        t.append(time.perf_counter() - t0)
        c.append(time.thread_time() - c0)
        out = evaluate_multi(ms, md)
        r.append(out.reward)
        s.append(out.satisfied.mean())
    return np.array(r), np.array(s), np.array(t), np.array(c)


def _case(sc: Scenario, K: int, M: int, kind: str, slots: list[MultiEdgeSlot], policies: Sequence[str],
          seed: int, notes: dict[str, str]) -> BenchCase:
    results = {}
    for name in ("oracle", *policies):
        ctrl = make_multiedge_controller(name, sc, seed=seed)
        if getattr(ctrl, "fallback_reason", None):
            notes[name] = f"ran the exact DP per edge: {ctrl.fallback_reason}"
        results[name] = _timed(ctrl, slots)
    ref = results["oracle"][0]
    out = {}
    for name, (r, s, t, _) in results.items():
        ratio = r / ref
        out[name] = PolicyBench(reward_vs_oracle=float(ratio.mean()), min_reward_vs_oracle=float(ratio.min()),
                                satisfaction=float(s.mean()), decision_p50_ms=float(1e3 * np.median(t)),
                                decision_p99_ms=float(1e3 * np.quantile(t, 0.99)))
    return BenchCase(users=K, edges=M, edges_kind=kind, slots=len(slots), policies=out)


def run_bench(base: Scenario | str = "paper", *, cases: Sequence[tuple[int, int]] = ((4, 2), (8, 2), (16, 2),
              (8, 4), (16, 4)), kinds: Sequence[str] = ("same", "mixed"), slots: int = 100,
              timing_slots: int = 50, scaling_slots: int = 40, policies: Sequence[str] = POLICIES,
              seed: int = 90_210, progress: Callable[[str], None] | None = None) -> MultiEdgeBench:
    """The benchmark of the module docstring (``slots`` held-out slots per case and edges kind)."""
    if min(slots, timing_slots, scaling_slots) < 1:
        raise ValueError("slots, timing_slots, scaling_slots: must be >= 1")
    base_sc = resolve(base)
    samplers = _Samplers()
    notes: dict[str, str] = {}
    say = progress or (lambda msg: None)
    out_cases = []
    for kind in kinds:
        for K, M in cases:
            say(f"oracle case K={K} M={M} {kind}")
            sc = edge_scenario(base_sc, K, M, kind)
            out_cases.append(_case(sc, K, M, kind, _slots(samplers(sc), slots, seed + 100 * K + M), policies, seed,
                                   notes))
    say("timing case K=64 M=4")
    sc = edge_scenario(base_sc, 64, 4, "same")
    tslots = _slots(samplers(sc), timing_slots, seed + 6404)
    runs = {n: _timed(make_multiedge_controller(n, sc, seed=seed), tslots) for n in policies}
    fast_r = runs["fast"][0] if "fast" in runs else None
    timing = TimingCase(users=64, edges=4, edges_kind="same", slots=timing_slots,
                        p50_ms={n: float(1e3 * np.median(v[2])) for n, v in runs.items()},
                        p99_ms={n: float(1e3 * np.quantile(v[2], 0.99)) for n, v in runs.items()},
                        cpu_p50_ms={n: float(1e3 * np.median(v[3])) for n, v in runs.items()},
                        reward_vs_fast={n: float(np.mean(v[0] / fast_r)) for n, v in runs.items()}
                        if fast_r is not None else {})
    say("scaling check")
    scaling = _scaling(base_sc, samplers, scaling_slots, seed)
    fast = [c.policies["fast"] for c in out_cases if "fast" in c.policies]
    gains = {f"{c.users}x{c.edges} {c.edges_kind}": _gain(c) for c in out_cases
             if {"fast", "best-channel"} <= set(c.policies)}
    backend = tslots[0].base.quality_backend
    return MultiEdgeBench(scenario=base_sc.name, quality_backend=backend, seed=seed, cases=out_cases, timing=timing,
                          scaling=scaling, fast_min_ratio=min((f.reward_vs_oracle for f in fast), default=float("nan")),
                          fast_worst_slot_ratio=min((f.min_reward_vs_oracle for f in fast), default=float("nan")),
                          joint_gain_vs_best_channel=gains, notes=notes)


def _gain(case: BenchCase) -> float:
    """(fast − best channel) / |best channel| from the two ratios to the same oracle."""
    f, b = case.policies["fast"].reward_vs_oracle, case.policies["best-channel"].reward_vs_oracle
    return float((f - b) / abs(b))


def _scaling(base: Scenario, samplers: _Samplers, n: int, seed: int) -> list[ScalingRow]:
    """Fast-controller satisfaction for M = 1, 2, 4 edges with 11·M users."""
    rows, ref = [], None
    for M in (1, 2, 4):
        sc = edge_scenario(base, 11 * M, M, "same")
        _, s, _, _ = _timed(make_multiedge_controller("fast", sc), _slots(samplers(sc), n, seed + 11 * M))
        sat = float(s.mean())
        ref = sat if ref is None else ref
        rows.append(ScalingRow(edges=M, users=11 * M, satisfaction=sat, delta_pp=100.0 * (sat - ref)))
    return rows

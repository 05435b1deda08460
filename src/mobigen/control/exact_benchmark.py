"""The exact solver's benchmark behind ``mobigen bench exact`` (issue 14, point 7).

On the same seeded slots of each K it times ``control.exact.solve`` with the bounded E axis (the
default) against the untruncated DP (``bound=False``), interleaved slot by slot so that a load change
on the machine hits both alike, checks that both return the same decision and reward on every slot
(the bound is exact, not a heuristic), and reports decision-latency percentiles, the speed-up and the
E_cap the bound left. Slots come from the caller (control imports no workload)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mobigen.control.exact import solve
from mobigen.system.slot import Slot

TARGET_K = 64
"""Issue 14's target: the exact decision's p50 at this K ..."""
TARGET_P50_MS = 2.0
"""... at most this (ms)."""
WARMUP = 3
"""Untimed solves per K before timing (first-call allocation)."""


def bench_k(slots: Sequence[Slot]) -> dict[str, Any]:
    """One K: p50/p99 of both solvers (ms), speed-up of the p50s, E_cap, and disagreements (must be 0)."""
    for s in slots[:WARMUP]:
        solve(s)
        solve(s, bound=False)
    bounded, full, caps, budget_steps = [], [], [], []
    mismatches = 0
    for s in slots:
        t0 = time.perf_counter()
        a = solve(s)
        t1 = time.perf_counter()
        b = solve(s, bound=False)
        t2 = time.perf_counter()
        bounded.append(t1 - t0)
        full.append(t2 - t1)
        caps.append(a.e_cap)
        budget_steps.append(float(s.params.edge_budget_steps))
        same = (a.reward == b.reward and np.array_equal(a.decision.T, b.decision.T)
                and np.array_equal(a.decision.e, b.decision.e))
        mismatches += int(not same)
    ms_b, ms_f = np.array(bounded) * 1e3, np.array(full) * 1e3
    K = slots[0].K
    return {
        "K": K, "slots": len(slots),
        "bounded_ms_p50": float(np.percentile(ms_b, 50)), "bounded_ms_p99": float(np.percentile(ms_b, 99)),
        "unbounded_ms_p50": float(np.percentile(ms_f, 50)), "unbounded_ms_p99": float(np.percentile(ms_f, 99)),
        "speedup_p50": float(np.percentile(ms_f, 50) / np.percentile(ms_b, 50)),
        "e_cap_median": float(np.median(caps)), "e_axis_full": K * int(slots[0].params.steps_max),
        "edge_budget_steps": float(np.median(budget_steps)),
        "disagreements": mismatches,
    }


def bench_exact(slots_by_k: Mapping[int, Sequence[Slot]]) -> dict[str, Any]:
    """Every K of ``slots_by_k`` (each a non-empty list of slots of that K); JSON-ready."""
    rows = []
    for K, slots in sorted(slots_by_k.items()):
        if not slots:
            raise ValueError(f"slots_by_k[{K}] is empty")
        rows.append(bench_k(slots))
    target = next((r for r in rows if r["K"] == TARGET_K), None)
    return {"rows": rows,
            "target": {"K": TARGET_K, "p50_ms_max": TARGET_P50_MS,
                       "p50_ms": None if target is None else target["bounded_ms_p50"],
                       "met": None if target is None else bool(target["bounded_ms_p50"] <= TARGET_P50_MS)}}


def format_exact_table(result: Mapping[str, Any]) -> str:
    """The human-readable summary."""
    lines = ["exact solver: bounded E axis vs the DP over every E (same slots, interleaved)",
             f"{'K':>4} {'bounded p50/p99 ms':>19} {'unbounded p50/p99 ms':>21} {'speed-up':>8} {'E_cap':>6} "
             f"{'E axis':>6} {'differ':>6}"]
    for r in result["rows"]:
        lines.append(f"{r['K']:>4} {r['bounded_ms_p50']:>9.2f}/{r['bounded_ms_p99']:<9.2f} "
                     f"{r['unbounded_ms_p50']:>10.2f}/{r['unbounded_ms_p99']:<10.2f} {r['speedup_p50']:>8.1f} "
                     f"{r['e_cap_median']:>6.0f} {r['e_axis_full']:>6} {r['disagreements']:>6}")
    t = result["target"]
    if t["p50_ms"] is not None:
        lines.append(f"target: p50 <= {t['p50_ms_max']:g} ms at K = {t['K']}: {t['p50_ms']:.2f} ms "
                     f"({'met' if t['met'] else 'missed'})")
    return "\n".join(lines)


__all__ = ["bench_exact", "format_exact_table"]

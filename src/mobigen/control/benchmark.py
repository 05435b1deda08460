"""The controller benchmark: every controller on the same held-out seeded slots — mean reward,
reward as a fraction of Exact's, hard-constraint violations (11)-(13) before and after
``guard``, and decision latency percentiles. A controller that fell back is reported as what ran."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from tqdm import tqdm

from mobigen.control.base import Controller
from mobigen.control.guard import guard
from mobigen.system.slot import Slot, evaluate_decision

WARMUP = 10
"""Untimed decisions before timing (first-call allocation, torch dispatch caches)."""


def bench_one(controller: Controller, slots: list[Slot], *, progress: bool = False) -> dict[str, Any]:
    """Run one controller on ``slots``; latencies cover ``decide`` only (the guard is timed apart)."""
    for s in slots[:WARMUP]:
        controller.decide(s)
    fb0 = int(getattr(controller, "n_fallback", 0))  # registry.KFallback counts the slots Exact answered
    rewards, rewards_g, lat, lat_g = [], [], [], []
    viol = viol_g = soft = n_rep = 0
    sat = []
    for s in tqdm(slots, desc=controller.name, disable=not progress, mininterval=1.0):
        t0 = time.perf_counter()
        d = controller.decide(s)
        lat.append(time.perf_counter() - t0)
        out = evaluate_decision(s, d)
        rewards.append(out.reward)
        viol += int(not out.report.hard_feasible)
        soft += int(np.sum(out.report.qoe > 0) + np.sum(out.report.latency_s > 0))
        t0 = time.perf_counter()
        g = guard(s, d)
        lat_g.append(time.perf_counter() - t0)
        n_rep += g.n_repairs
        out_g = evaluate_decision(s, g.decision)
        rewards_g.append(out_g.reward)
        viol_g += int(not out_g.report.hard_feasible)
        sat.append(float(np.mean(out_g.satisfied)))
    ms = np.array(lat) * 1e3
    n_fb = int(getattr(controller, "n_fallback", 0)) - fb0
    if n_fb:  # never scored as itself: which controller ran, on how many slots, and no reward
        ran = getattr(controller, "ran_as", "exact")
        return {"controller": controller.name, "slots": len(slots), "fallback_slots": n_fb,
                "ran_as": ran if n_fb == len(slots) else f"{controller.name}+{ran}",
                "slots_by_controller": {ran: n_fb, controller.name: len(slots) - n_fb},
                "fallback_reason": getattr(controller, "reason", None),
                "latency_ms_p50": float(np.percentile(ms, 50))}
    return {
        "controller": controller.name,
        "fallback_slots": 0,
        "ran_as": controller.name,
        "slots": len(slots),
        "reward": float(np.mean(rewards)),
        "reward_std": float(np.std(rewards)),
        "reward_after_guard": float(np.mean(rewards_g)),
        "violations": viol,
        "violations_after_guard": viol_g,
        "guard_repairs": n_rep,
        "soft_violations_qoe_latency": soft,
        "satisfaction_after_guard": float(np.mean(sat)),
        "latency_ms_p50": float(np.percentile(ms, 50)),
        "latency_ms_p99": float(np.percentile(ms, 99)),
        "guard_latency_ms_p50": float(np.percentile(np.array(lat_g) * 1e3, 50)),
    }


def bench_controllers(controllers: dict[str, Controller | Exception], slots: list[Slot], *,
                      progress: bool = False) -> list[dict[str, Any]]:
    """One result object per controller; an unavailable controller (given as its exception) gets
    an ``error`` entry and the others still run. ``reward_vs_exact`` needs an ``exact`` entry.

    A controller whose fallback answered any slot (``registry.KFallback``) gets no reward fields: its
    entry says ``fallback_slots``, ``ran_as`` (the controller that really ran; "<name>+exact" when only
    some slots fell back), ``slots_by_controller`` and ``fallback_reason``."""
    results: list[dict[str, Any]] = []
    for name, ctrl in controllers.items():
        if isinstance(ctrl, Exception):
            results.append({"controller": name, "error": f"{type(ctrl).__name__}: {ctrl}"})
            continue
        try:
            r = bench_one(ctrl, slots, progress=progress)
        except Exception as exc:  # one failing controller must not stop the benchmark
            results.append({"controller": name, "error": f"{type(exc).__name__}: {exc}"})
            continue
        r["controller"] = name
        results.append(r)
    exact = next((r["reward"] for r in results if r["controller"] == "exact" and "reward" in r), None)
    for r in results:
        if "reward" in r:
            r["reward_vs_exact"] = r["reward"] / exact if exact else None
            r["quality_backend"] = slots[0].quality_backend
    return results

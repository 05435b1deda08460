"""The batched-edge benchmark behind ``mobigen bench edge`` (issue 14, points 1 and 2).

For each batch size B (default 1, 2, 5, 8) it runs the edge share of B users (B distinct seeds and
prompts, ``edge_steps`` steps of a ``steps``-step schedule each) twice on the same components:

1. serial: one user after another through :func:`mobigen.generation.denoise.denoise` (the FIFO
   worker as it was: user k's latency is the time until its own slice is done);
2. batched: all B users in one :class:`mobigen.generation.batched.BatchedDenoiser` (one denoiser
   forward per step for all of them), every user done after the last batched step.

and reports throughput (edge steps per second, all users), per-user latency (mean and max), the ratio
batched / serial throughput, the largest difference between a user's batched and serial latents, and
the *batch-time curve*: seconds per batched step against B, which ``system.batching`` turns into the
batched-edge latency view of the simulator. Timings are the best of ``repeats`` runs after a warm-up
step at every B (first-call allocation is not charged). Ratios come from one run; nothing is asserted.
"""

from __future__ import annotations

import datetime as _dt
import platform
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from mobigen.generation.batched import BatchedDenoiser, MemberSpec
from mobigen.generation.components import CONDITION_TYPES, Components, load_components, tiny_components
from mobigen.generation.denoise import denoise, encode_prompt, initial_latents, prepare_condition

TARGET_BATCH = 5
"""Issue 14's target: batched / serial throughput at this batch size ..."""
TARGET_RATIO = 2.0
"""... at least this (tiny components, CPU)."""
DEFAULT_BATCHES: tuple[int, ...] = (1, 2, 5, 8)
"""Batch sizes measured by default."""


@dataclass(frozen=True)
class EdgeBenchConfig:
    """What ``mobigen bench edge`` runs."""

    weights: str | None = None
    """Local SD + ControlNet weights folder; None: tiny random components."""
    family: str = "sd15"
    """Model family (a UNet family: sd15, sd21, sdxl)."""
    conditions: tuple[str, ...] = ("canny",)
    """Condition types the users take round-robin (one ControlNet forward per type present)."""
    steps: int = 20
    """T, every user's schedule length (steps)."""
    edge_steps: int = 10
    """⌊o T⌋, the edge steps every user runs (steps)."""
    batches: tuple[int, ...] = DEFAULT_BATCHES
    """Batch sizes B to measure (users)."""
    size: int = 512
    """Condition/image side (pixels)."""
    guidance: float = 7.5
    """Classifier-free guidance scale (w > 1 doubles each user's rows)."""
    repeats: int = 3
    """Timing repetitions per batch size (the best is kept)."""
    seed: int = 0
    """Seed of user 0's z_T (user i: seed + i)."""
    device: str = "cpu"
    """Torch device."""
    dtype: str = "float32"
    """Network dtype name (float32, float16, bfloat16)."""
    threads: int = 1
    """Torch CPU threads."""
    progress: bool = False
    """Show a progress bar."""

    def __post_init__(self) -> None:
        for name in ("steps", "edge_steps", "repeats", "threads", "size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if self.edge_steps > self.steps:
            raise ValueError(f"edge_steps must be <= steps ({self.steps}), got {self.edge_steps}")
        if not self.batches or any(isinstance(b, bool) or not isinstance(b, int) or not 1 <= b <= 64
                                   for b in self.batches):
            raise ValueError(f"batches must be batch sizes in 1..64, got {list(self.batches)!r}")
        if not self.conditions or any(c not in CONDITION_TYPES for c in self.conditions):
            raise ValueError(f"conditions must be a non-empty subset of {CONDITION_TYPES}, got {list(self.conditions)!r}")
        if self.dtype not in ("float32", "float16", "bfloat16"):
            raise ValueError(f"dtype must be float32, float16 or bfloat16, got {self.dtype!r}")


def bench_components(cfg: EdgeBenchConfig) -> Components:
    """The tiny random components, or the local weights named by ``cfg.weights``."""
    dtype = getattr(torch, cfg.dtype)
    conds = tuple(dict.fromkeys(cfg.conditions))
    if cfg.weights is None:
        return tiny_components(seed=0, conditions=conds, family=cfg.family, device=cfg.device, dtype=dtype)
    return load_components(cfg.weights, conditions=conds, family=cfg.family, device=cfg.device, dtype=dtype)


def _condition(side: int, i: int) -> np.ndarray:
    """User i's condition image: a seeded edge-like pattern (the benchmark needs no data set)."""
    rng = np.random.default_rng(1000 + i)
    yy, xx = np.mgrid[0:side, 0:side]
    img = ((((xx + 7 * i) // 16 + yy // 16) % 2) * 200).astype(np.uint8)
    img = np.stack([img] * 3, axis=2)
    img[rng.random((side, side)) < 0.03] = 255
    return img


def user_specs(comps: Components, cfg: EdgeBenchConfig, n: int) -> list[MemberSpec]:
    """The edge slices of ``n`` users: distinct seeds, prompts and conditions, one schedule length."""
    specs = []
    for i in range(n):
        cond = prepare_condition(comps, _condition(cfg.size, i))
        specs.append(MemberSpec(latents=initial_latents(comps, cfg.seed + i, cfg.size, cfg.size), start=0,
                                end=cfg.edge_steps, total_steps=cfg.steps,
                                embeddings=encode_prompt(comps, f"a photo of object number {i}"), condition_image=cond,
                                condition_type=cfg.conditions[i % len(cfg.conditions)], guidance_scale=cfg.guidance))
    return specs


def _serial(comps: Components, specs: Sequence[MemberSpec]) -> tuple[float, list[float], list[torch.Tensor]]:
    """(wall s, each user's completion s, final latents): one user after another."""
    t0 = time.perf_counter()
    done, outs = [], []
    for s in specs:
        outs.append(denoise(comps, latents=s.latents, start=s.start, end=s.end, total_steps=s.total_steps,
                            embeddings=s.embeddings, condition_image=s.condition_image, condition_type=s.condition_type,
                            guidance_scale=s.guidance_scale, controlnet_scale=s.controlnet_scale))
        done.append(time.perf_counter() - t0)
    return done[-1], done, outs


def _batched(comps: Components, specs: Sequence[MemberSpec]) -> tuple[float, list[float], list[torch.Tensor]]:
    """(wall s, each user's completion s, final latents): every user in one batch from the start."""
    t0 = time.perf_counter()
    engine = BatchedDenoiser(comps)
    keys = [engine.add(s) for s in specs]
    done: dict[int, float] = {}
    outs: dict[int, torch.Tensor] = {}
    while engine.size:
        engine.step()
        now = time.perf_counter() - t0
        for k, z in engine.pop_finished().items():
            done[k], outs[k] = now, z
    return max(done.values()), [done[k] for k in keys], [outs[k] for k in keys]


def _warm_up(comps: Components, specs: Sequence[MemberSpec]) -> None:
    """One batched step and one serial step at this batch size (kernel selection, allocation)."""
    engine = BatchedDenoiser(comps)
    for s in specs:
        engine.add(MemberSpec(**{**asdict_shallow(s), "end": min(1, s.end)}))
    engine.step()
    s = specs[0]
    denoise(comps, latents=s.latents, start=0, end=min(1, s.end), total_steps=s.total_steps, embeddings=s.embeddings,
            condition_image=s.condition_image, condition_type=s.condition_type, guidance_scale=s.guidance_scale)


def asdict_shallow(spec: MemberSpec) -> dict[str, Any]:
    """The fields of a spec without copying its tensors (``dataclasses.asdict`` deep-copies)."""
    return {f: getattr(spec, f) for f in MemberSpec.__dataclass_fields__}


def bench_batch(comps: Components, cfg: EdgeBenchConfig, n: int) -> dict[str, Any]:
    """One row of the result: batch size ``n``, serial against batched, best of ``cfg.repeats``."""
    specs = user_specs(comps, cfg, n)
    _warm_up(comps, specs)
    serial, batched = [], []
    for _ in range(cfg.repeats):  # interleaved, so a load change on the machine hits both alike
        serial.append(_serial(comps, specs))
        batched.append(_batched(comps, specs))
    best_s, best_b = min(serial, key=lambda r: r[0]), min(batched, key=lambda r: r[0])
    steps = n * cfg.edge_steps
    diff = max(float((x - y).abs().max()) for x, y in zip(best_s[2], best_b[2]))
    return {
        "batch": n,
        "edge_steps_total": steps,
        "serial_s": best_s[0],
        "batched_s": best_b[0],
        "serial_steps_per_s": steps / best_s[0],
        "batched_steps_per_s": steps / best_b[0],
        "throughput_ratio": best_s[0] / best_b[0],
        "serial_latency_mean_s": float(np.mean(best_s[1])),
        "serial_latency_max_s": float(np.max(best_s[1])),
        "batched_latency_mean_s": float(np.mean(best_b[1])),
        "batched_latency_max_s": float(np.max(best_b[1])),
        "batched_step_s": best_b[0] / cfg.edge_steps,
        "max_abs_latent_diff": diff,
        "bit_exact": diff == 0.0,
    }


def curve_origin(comps: Components, cfg: EdgeBenchConfig) -> str:
    """The label of a measured batch-time curve: what was measured, where and when."""
    when = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (f"measured by mobigen bench edge: {comps.source}, {cfg.family}, {cfg.size} px, "
            f"guidance {cfg.guidance:g}, conditions {'+'.join(cfg.conditions)}, {cfg.device} {cfg.dtype}, "
            f"{cfg.threads} thread(s), {platform.machine()}, {when}")


def run_edge_bench(cfg: EdgeBenchConfig, comps: Components | None = None) -> dict[str, Any]:
    """Run the benchmark (module docstring) and return its JSON-ready result."""
    torch.set_num_threads(cfg.threads)
    if comps is None:
        comps = bench_components(cfg)
    rows = []
    for n in tqdm(sorted(set(cfg.batches)), desc="bench edge", disable=not cfg.progress):
        rows.append(bench_batch(comps, cfg, n))
    curve = {"batch_sizes": [r["batch"] for r in rows], "step_time_s": [r["batched_step_s"] for r in rows],
             "origin": curve_origin(comps, cfg)}
    target = next((r for r in rows if r["batch"] == TARGET_BATCH), None)
    return {
        "config": {**asdict(cfg), "conditions": list(cfg.conditions), "batches": list(cfg.batches)},
        "components": comps.source,
        "torch": torch.__version__,
        "rows": rows,
        "batch_time_curve": curve,
        "target": {"batch": TARGET_BATCH, "throughput_ratio_min": TARGET_RATIO,
                   "throughput_ratio": None if target is None else target["throughput_ratio"],
                   "met": None if target is None else bool(target["throughput_ratio"] >= TARGET_RATIO)},
    }


def format_edge_table(result: dict[str, Any]) -> str:
    """The human-readable summary of a result."""
    lines = [f"batched vs serial edge denoising ({result['components']}, {result['config']['size']} px, "
             f"{result['config']['edge_steps']} edge steps of T = {result['config']['steps']} per user)",
             f"{'B':>3} {'serial st/s':>12} {'batched st/s':>13} {'ratio':>6} {'lat. serial mean/max s':>23} "
             f"{'lat. batched s':>15} {'s/step':>8} {'max|Δz|':>9}"]
    for r in result["rows"]:
        lines.append(f"{r['batch']:>3} {r['serial_steps_per_s']:>12.2f} {r['batched_steps_per_s']:>13.2f} "
                     f"{r['throughput_ratio']:>6.2f} {r['serial_latency_mean_s']:>11.3f}/{r['serial_latency_max_s']:<11.3f} "
                     f"{r['batched_latency_max_s']:>15.3f} {r['batched_step_s']:>8.4f} {r['max_abs_latent_diff']:>9.2e}")
    t = result["target"]
    if t["throughput_ratio"] is not None:
        lines.append(f"target: batched/serial throughput >= {t['throughput_ratio_min']:g} at B = {t['batch']}: "
                     f"{t['throughput_ratio']:.2f} ({'met' if t['met'] else 'missed'})")
    lines.append(f"batch-time curve: {result['batch_time_curve']['origin']}")
    return "\n".join(lines)


__all__ = ["EdgeBenchConfig", "bench_components", "format_edge_table", "run_edge_bench", "user_specs"]

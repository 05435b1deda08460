"""The evaluation of Section VI: every method on the same seeded slots, the ablations (Fig. 12), the
user sweeps (Figs. 14 and 15(b)), as typed results (``results.EvalResults``) that the report and the
figures read.

Everything is seeded from one integer: slot i of an experiment is ``default_rng([seed, i])`` (plus an
experiment offset for the sweeps), so the same seed gives the same numbers.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mobigen.experiments.builder import MethodBuilder, low_end, sweep_scenario
from mobigen.experiments.methods import METHOD_KEYS, Method
from mobigen.experiments.metrics import per_user, records_frame, summarize
from mobigen.experiments.multiedge import run_sweep as run_multiedge_sweep
from mobigen.experiments.multiedge_results import MultiEdgeSweep
from mobigen.experiments.results import (
    Diagnostics,
    EvalResults,
    Meta,
    MethodResult,
    PerUser,
    PointSummary,
    Runtime,
    SemGenTable,
    Sweep,
    SweepPoint,
)
from mobigen.scenario import Scenario, resolve
from mobigen.system.batching import BatchTimeModel

log = logging.getLogger(__name__)

EXPERIMENTS: tuple[str, ...] = ("main", "fig12a", "fig12b", "fig14", "fig15b", "multiedge")
"""The parts of an evaluation, in the order they run."""
_SWEEP_OFFSET = {"fig12a": 1_000_003, "fig12b": 2_000_003, "fig14": 3_000_017, "fig15b": 4_000_037,
                 "multiedge": 5_000_011}
MULTIEDGE_SLOTS = {False: 8, True: 3}
"""Slots per point of the multi-edge sweep (full, quick): few, it runs inside the ≤ 60 s evaluation."""


@dataclass(frozen=True)
class EvalConfig:
    """Sizes and seeds of one evaluation run."""

    scenario: str = "paper"
    """Scenario preset or file (the main comparison and the base of the sweeps)."""
    seed: int = 0
    """Seed of every random draw of the evaluation."""
    slots: int = 500
    """Slots of the main comparison (each slot = K requests)."""
    ablation_slots: int = 200
    """Slots per Fig. 12 variant."""
    sweep_slots: int = 100
    """Slots per point of Figs. 14 and 15(b)."""
    users: tuple[int, ...] = (5, 6, 7, 8, 9, 10, 11)
    """Numbers of users of Figs. 14 and 15(b)."""
    dqn_steps: int = 2000
    """SemGen's DQN training steps (trained once per run)."""
    quick: bool = False
    """The CI-sized run (set by ``EvalConfig.make(quick=True)``)."""

    @classmethod
    def make(cls, *, quick: bool = False, **kw: Any) -> "EvalConfig":
        """The full or the quick configuration, with overrides."""
        if quick:
            base = dict(slots=40, ablation_slots=15, sweep_slots=10, users=(5, 8, 11), dqn_steps=600, quick=True)
            base.update(kw)
            return cls(**base)
        return cls(**kw)

    def __post_init__(self) -> None:
        for name in ("slots", "ablation_slots", "sweep_slots"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name}: must be a positive integer, got {v!r}")
        if not self.users or any((not isinstance(n, int)) or n < 1 for n in self.users):
            raise ValueError(f"users: must be positive integers, got {self.users!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed: must be a non-negative integer, got {self.seed!r}")


# ---- running ---------------------------------------------------------------------------------------

def run_methods(methods: list[Method], n_slots: int, seed: int, *, progress: bool = True, desc: str = "slots",
                ) -> tuple[dict[str, pd.DataFrame], dict[str, float]]:
    """Serve slots 0..n_slots-1 of ``seed`` with every method; one request frame per method and the
    mean decision time per method (ms)."""
    from tqdm import tqdm

    records: dict[str, list] = {m.key: [] for m in methods}
    decide_s: dict[str, float] = {m.key: 0.0 for m in methods}
    bar = tqdm(total=n_slots * len(methods), desc=desc, unit="slot", disable=not progress, leave=False)
    try:
        for i in range(n_slots):
            for m in methods:
                rec = m.run_slot(i, seed)
                records[m.key].append(rec)
                decide_s[m.key] += m.last_decide_s
                bar.update(1)
    finally:
        bar.close()
    model = _batch_model(methods)  # beyond the paper: the batched-edge latency view
    frames = {k: records_frame(v, batch_model=model) for k, v in records.items()}
    return frames, {k: 1000.0 * v / n_slots for k, v in decide_s.items()}


def _batch_model(methods: list[Method]) -> BatchTimeModel | None:
    """The batch-time model (``system.batching``) of the methods' scenario; None without a scenario."""
    sc = getattr(methods[0].sampler, "scenario", None) if methods else None
    return BatchTimeModel.from_scenario(sc) if isinstance(sc, Scenario) else None


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """torch on one thread inside the block (restored after). The evaluation's networks (DDC's, SemGen's DQN)
    are tiny MLPs called one slot at a time: on 2 shared cores a second intra-op thread only spin-waits
    (measured: DDC's decision 1.7 ms/slot on one thread, 15-75 ms on two under load)."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        yield
        return
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def _sweep_seed(seed: int, name: str, n: int) -> int:
    return int(np.random.SeedSequence([seed, _SWEEP_OFFSET[name], n]).generate_state(1)[0] % (2**31))


def _point(frame: pd.DataFrame, threshold_s: float, backend: str) -> PointSummary:
    """An ablation or sweep point: the light subset of ``summarize``."""
    s = summarize(frame, threshold_s)
    return PointSummary(**{k: s[k] for k in PointSummary.model_fields if k in s}, quality_backend=backend)


@dataclass
class Evaluation:
    """Everything one evaluation produced: the typed ``results`` and the main comparison's frames."""

    config: EvalConfig
    """What was run."""
    results: EvalResults
    """The measurements."""
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    """Method key → one row per request of the main comparison."""


@dataclass
class _Parts:
    """What the experiment parts have produced so far (filled step by step, then frozen into EvalResults)."""

    methods: dict[str, MethodResult] = field(default_factory=dict)
    per_user: dict[str, PerUser] = field(default_factory=dict)
    semgen_dqn: SemGenTable | None = None
    ablations: dict[str, dict[str, PointSummary]] = field(default_factory=dict)
    sweeps: dict[str, Sweep] = field(default_factory=dict)
    multiedge: MultiEdgeSweep | None = None
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    decide_ms: dict[str, float] = field(default_factory=dict)
    backend: str = "unknown"


def evaluate(config: EvalConfig, *, progress: bool = True, builder: MethodBuilder | None = None,
             experiments: tuple[str, ...] = EXPERIMENTS) -> Evaluation:
    """Run the evaluation (``experiments`` picks the parts) and return its typed results."""
    from tqdm import tqdm

    unknown = [e for e in experiments if e not in EXPERIMENTS]
    if unknown:
        raise ValueError(f"experiments: unknown part '{unknown[0]}' (known: {', '.join(EXPERIMENTS)})")
    t_start = time.perf_counter()
    sc = resolve(config.scenario)
    builder = builder or MethodBuilder(seed=config.seed, dqn_steps=config.dqn_steps)
    builder.dqn_scenario = sc  # SemGen's DQN is trained once, on the run's base scenario
    parts = _Parts()
    timings: dict[str, float] = {}
    outer = tqdm(list(experiments), desc="evaluate", unit="part", disable=not progress)
    with one_torch_thread():
        for stage in outer:
            outer.set_postfix_str(stage)
            t0 = time.perf_counter()
            if stage == "main":
                _run_main(parts, builder, sc, config, progress)
            elif stage in ("fig12a", "fig12b"):
                _run_ablation(parts, stage, builder, sc, config, progress)
            elif stage == "multiedge":  # beyond the paper (issue 11)
                parts.multiedge = run_multiedge_sweep(sc, slots=MULTIEDGE_SLOTS[config.quick],
                                                      seed=_sweep_seed(config.seed, stage, 0))
            else:
                _run_sweep(parts, stage, builder, sc, config, progress)
            timings[stage] = time.perf_counter() - t0
    outer.close()
    runtime = Runtime(decide_ms=parts.decide_ms, timings_s=timings, dqn_train_s=builder.dqn_train_s,
                      dqn_trainings=builder.dqn_trainings, wall_s=time.perf_counter() - t_start)
    return Evaluation(config=config, results=_assemble(parts, config, sc, builder, runtime), frames=parts.frames)


def _run_main(parts: _Parts, builder: MethodBuilder, sc: Scenario, config: EvalConfig, progress: bool) -> None:
    """Step "main": every method on ``config.slots`` slots of the main scenario (Figs. 9-11)."""
    methods = builder.build(sc)
    frames, decide_ms = run_methods(methods, config.slots, config.seed, progress=progress, desc="main comparison")
    parts.backend = backend = _backend_of(methods)
    parts.frames, parts.decide_ms = frames, decide_ms
    for m in methods:
        parts.methods[m.key] = _method_result(m, frames[m.key], sc.latency_threshold_s, backend, config.seed)
        pu = per_user(frames[m.key])
        parts.per_user[m.key] = PerUser(
            uplink_kb=(pu["uplink_bytes"] / 1000.0).tolist(), downlink_kb=(pu["downlink_bytes"] / 1000.0).tolist(),
            latency_s=pu["latency_s"].tolist(), satisfaction=pu["satisfied"].tolist(), local_s=pu["local_s"].tolist())
    sem = next((m for m in methods if m.key == "semgen"), None)
    if sem is not None:
        parts.semgen_dqn = SemGenTable(**sem.chooser.policy.greedy_table(), quality_backend=backend)  # type: ignore[union-attr]


def _method_result(m: Method, frame: pd.DataFrame, threshold_s: float, backend: str, seed: int) -> MethodResult:
    """One method's main-comparison result: the summary, its bootstrap intervals and miss diagnostics."""
    return MethodResult(**summarize(frame, threshold_s), quality_backend=backend, label=m.label, note=m.note,
                        controller=str(m.controller.name), ran_as=m.ran_as, **_ci(frame, seed),
                        diagnostics=diagnostics(frame, m, seed))


def _run_ablation(parts: _Parts, stage: str, builder: MethodBuilder, sc: Scenario, config: EvalConfig,
                  progress: bool) -> None:
    """Steps "fig12a" / "fig12b": Fig. 12's variants on ``config.ablation_slots`` slots."""
    methods = builder.fig12a(sc) if stage == "fig12a" else builder.fig12b(sc)
    fr, _ = run_methods(methods, config.ablation_slots, _sweep_seed(config.seed, stage, sc.num_users),
                        progress=progress, desc=stage)
    parts.backend = backend = _backend_of(methods)
    parts.ablations[stage] = {m.label: _point(fr[m.key], sc.latency_threshold_s, backend) for m in methods}


def _run_sweep(parts: _Parts, stage: str, builder: MethodBuilder, sc: Scenario, config: EvalConfig,
               progress: bool) -> None:
    """Steps "fig14" / "fig15b": the methods at every user count of ``config.users`` (Fig. 15(b): low-end
    devices, OQC+ and Ours only)."""
    keys = METHOD_KEYS if stage == "fig14" else ("oqc", "ours")
    base = sc if stage == "fig14" else low_end(sc)
    series: dict[str, dict[int, SweepPoint]] = {k: {} for k in keys}
    for n in config.users:
        methods = builder.build(sweep_scenario(base, n), keys)
        fr, _ = run_methods(methods, config.sweep_slots, _sweep_seed(config.seed, stage, n), progress=progress,
                            desc=f"{stage} K={n}")
        parts.backend = backend = _backend_of(methods)
        for m in methods:
            point = _point(fr[m.key], sc.latency_threshold_s, backend)
            series[m.key][n] = SweepPoint(**point.model_dump(), controller=str(m.controller.name), ran_as=m.ran_as)
    parts.sweeps[stage] = Sweep(base_scenario=base.name, series=series)


def _assemble(parts: _Parts, config: EvalConfig, sc: Scenario, builder: MethodBuilder, runtime: Runtime) -> EvalResults:
    """The frozen results of the parts that ran."""
    meta = Meta(config=asdict(config), scenario=sc.to_dict(), quality_backend=parts.backend,
                controller_notes=dict(builder.notes), edge_batch_curve=BatchTimeModel.from_scenario(sc).origin)
    return EvalResults(meta=meta, methods=parts.methods, per_user=parts.per_user, semgen_dqn=parts.semgen_dqn,
                       fig12a=parts.ablations.get("fig12a"), fig12b=parts.ablations.get("fig12b"),
                       fig14=parts.sweeps.get("fig14"), fig15b=parts.sweeps.get("fig15b"),
                       multiedge=parts.multiedge, runtime=runtime)


def _low_end(sc: Scenario) -> Scenario:
    """The low-end variant of a scenario (``builder.low_end``)."""
    return low_end(sc)


def _backend_of(methods: list[Method]) -> str:
    names = {getattr(m.sampler, "quality", None) and getattr(m.sampler.quality, "backend", "unknown") for m in methods}
    names.discard(None)
    return ",".join(sorted(str(n) for n in names)) or "unknown"


def _ci(frame: pd.DataFrame, seed: int) -> dict[str, tuple[float, float]]:
    """95% bootstrap intervals over slots for satisfaction and QoE (slots are the independent units)."""
    from mobigen.experiments.metrics import bootstrap_ci

    g = frame.groupby("slot")
    return {"satisfaction_ci95": bootstrap_ci(g["satisfied"].mean().to_numpy(), seed=seed),
            "qoe_ci95": bootstrap_ci(g["qoe"].mean().to_numpy(), seed=seed)}


def diagnostics(frame: pd.DataFrame, method: Method, seed: int) -> Diagnostics:
    """Why requests miss their threshold: computed shares, for the report's 'where and why' section.

    * ``miss_unreachable``: share of misses whose configuration cannot reach Q̃ even at T = steps_max
      (the quality model's ceiling for that ν and request);
    * ``miss_steps``: share of misses that more steps would have fixed (a step-allocation / budget miss);
    * ``miss_fixed_by_uncompressed``: share of misses that the same condition type uncompressed would have
      met at the steps actually run (a compression miss).
    """
    miss = frame[~frame["satisfied"]]
    if len(miss) == 0:
        return Diagnostics(misses=0, miss_unreachable=0.0, miss_steps=0.0, miss_fixed_by_uncompressed=0.0)
    params = method.sampler.params  # type: ignore[attr-defined]
    q = method.sampler.quality  # type: ignore[attr-defined]
    sc = method.sampler.scenario  # type: ignore[attr-defined]
    diff = frame["difficulty"].to_numpy()[frame.index.get_indexer(miss.index)]
    w = miss["omega_I"].to_numpy()
    thr = miss["qoe_threshold"].to_numpy() - 1e-12
    # the ceiling at steps_max with the sampler's quality model on the same ν and difficulty
    qi, qt = q.scores(miss["condition"].to_numpy(), miss["alpha"].to_numpy(), miss["beta"].to_numpy(),
                      np.full(len(miss), params.steps_max), diff)
    unreachable = w * qi + (1 - w) * qt < thr
    # the same type, uncompressed (α = β = max of the scenario), at the steps actually run
    ui, ut = q.scores(miss["condition"].to_numpy(), np.full(len(miss), max(sc.alphas)),
                      np.full(len(miss), max(sc.betas)), miss["T"].to_numpy(), diff)
    fixed_by_full = w * ui + (1 - w) * ut >= thr
    return Diagnostics(misses=int(len(miss)), miss_unreachable=float(unreachable.mean()),
                       miss_steps=float((~unreachable).mean()), miss_fixed_by_uncompressed=float(fixed_by_full.mean()))

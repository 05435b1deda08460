"""The typed results of ``mobigen evaluate``: what ``runner.evaluate`` builds and ``results.json`` holds.

Every model is frozen; every field has a one-line docstring with its unit. Shares are in [0, 1], sizes in KB
(1 KB = 1000 bytes), times in seconds. Quality numbers (QoE, DS q^I, IR q^T, satisfaction) come from the
quality backend named beside them (``quality_backend``; "surrogate" here: a calibrated model, not generated
images). ``results.json`` is ``ResultsFile`` with ``schema_version``; load one with ``ResultsFile.load``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from mobigen.experiments.multiedge_results import MultiEdgeSweep

SCHEMA_VERSION = 1
"""Version of the ``results.json`` layout; raised whenever a field is renamed, removed or changes meaning."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class PointSummary(_Frozen):
    """The means of one experiment point (an ablation variant or a sweep point)."""

    satisfaction: float
    """Share of requests with Q_k ≥ Q̃_k (share; quality backend)."""
    qoe: float
    """Mean QoE Q_k, eq. (1) (quality backend units)."""
    q_I: float
    """Mean DS score q^I (quality backend units)."""
    q_T: float
    """Mean IR score q^T (quality backend units)."""
    uplink_kb: float
    """Mean uplink data per request (KB)."""
    downlink_kb: float
    """Mean downlink data per request (KB)."""
    latency_s: float
    """Mean per-request latency L_k, eqs. (2), (6), (7) (s)."""
    round_latency_s: float
    """Mean over slots of the slowest user's latency (s)."""
    reward: float
    """Mean per-slot reward, eq. (26) (reward units)."""
    repairs_per_slot: float
    """Mean decisions the feasibility guard repaired per slot (count)."""
    hard_feasible: float
    """Share of slots that met the hard constraints (11)-(13) after the guard (share)."""
    requests: int
    """Requests served (count)."""
    latency_serial_s: float | None = None
    """Beyond the paper: mean per-request latency with a serial edge, arrival order (s)."""
    round_latency_serial_s: float | None = None
    """Beyond the paper: mean over slots of the last completion with a serial edge, arrival order (s)."""
    latency_batched_s: float | None = None
    """Beyond the paper: mean per-request latency with a batching edge (``system.batching``) (s)."""
    round_latency_batched_s: float | None = None
    """Beyond the paper: mean over slots of the last completion with a batching edge (s)."""
    quality_backend: str
    """Quality model behind the quality numbers ("surrogate": calibrated model, not generated images)."""


class Summary(PointSummary):
    """All means of one method over the main comparison (``metrics.summarize``)."""

    slots: int
    """Slots served (count)."""
    latency_ok: float
    """Share of requests with L_k ≤ L̃, eq. (15) (share)."""
    steps: float
    """Mean T_k (steps)."""
    edge_steps: float
    """Mean edge steps e_k (steps)."""
    local_steps: float
    """Mean device steps T_k − e_k (steps)."""
    extraction_s: float
    """Mean condition extraction time L⁰_k (s)."""
    uplink_s: float
    """Mean upload time, eq. (2) (s)."""
    edge_s: float
    """Mean edge denoising time, eq. (6) first term (s)."""
    downlink_s: float
    """Mean latent or image download time, eq. (7) (s)."""
    local_s: float
    """Mean device denoising time, eq. (6) third term (s)."""
    latency_serial_sjf_s: float | None = None
    """Beyond the paper: mean per-request latency with a serial edge, shortest edge job first (s)."""
    round_latency_serial_sjf_s: float | None = None
    """Beyond the paper: mean over slots of the last completion, serial edge, shortest job first (s)."""


class Diagnostics(_Frozen):
    """Why requests miss their threshold (``runner.diagnostics``)."""

    misses: int
    """Requests below their QoE threshold (count)."""
    miss_unreachable: float
    """Share of misses that no step count up to steps_max could fix with the chosen condition (share)."""
    miss_steps: float
    """Share of misses that more steps would have fixed (share)."""
    miss_fixed_by_uncompressed: float
    """Share of misses that the same condition type uncompressed would have met at the same steps (share)."""


class RanAs(_Frozen):
    """Which controller really decided a method's slots, when it is not the one named."""

    controller: str
    """The controller that answered every slot instead (e.g. "exact")."""
    reason: str
    """Why (e.g. the shipped checkpoint is for another K)."""


class MethodResult(Summary):
    """One compared method over the main comparison."""

    label: str
    """Display name (``methods.LABELS``)."""
    note: str
    """What this method does where the paper is silent (one line)."""
    controller: str
    """Name of the controller the method was built with."""
    ran_as: RanAs | None = None
    """Set when the controller's documented fallback answered every slot (then the method is not what its name
    says); None when the named controller decided."""
    satisfaction_ci95: tuple[float, float]
    """95% percentile-bootstrap interval of ``satisfaction`` over slots (share)."""
    qoe_ci95: tuple[float, float]
    """95% percentile-bootstrap interval of ``qoe`` over slots (quality backend units)."""
    diagnostics: Diagnostics
    """Why its requests miss (shares of its misses)."""


class SweepPoint(PointSummary):
    """One method at one user count of Fig. 14 / 15(b)."""

    controller: str
    """Name of the controller the method was built with."""
    ran_as: RanAs | None = None
    """Set when the controller's documented fallback answered every slot at this point."""


class Sweep(_Frozen):
    """Fig. 14 or Fig. 15(b): every method over the user counts."""

    base_scenario: str
    """Name of the scenario the sweep varies the user count of."""
    series: dict[str, dict[int, SweepPoint]]
    """Method key → number of users → point."""


class PerUser(_Frozen):
    """Fig. 10's per-user means of one method (index = user k)."""

    uplink_kb: list[float]
    """Mean uplink per request of user k (KB)."""
    downlink_kb: list[float]
    """Mean downlink per request of user k (KB)."""
    latency_s: list[float]
    """Mean latency of user k (s)."""
    satisfaction: list[float]
    """Satisfaction rate of user k (share)."""
    local_s: list[float]
    """Mean device denoising time of user k (s)."""


class SemGenTable(_Frozen):
    """SemGen's learned α over a bandwidth grid."""

    metric: str
    """SemGen's one metric ("DS" or "IR")."""
    condition: str
    """The condition type it uses for that metric."""
    uplink_mbps: list[float]
    """Grid of uplink bandwidths (Mbit/s)."""
    alpha: list[float]
    """Greedy α at each grid point (resolution factor)."""
    quality_backend: str
    """Quality model its scores came from."""


class Runtime(_Frozen):
    """Wall-clock measurements: the only part of the results that differs between same-seed runs."""

    decide_ms: dict[str, float]
    """Mean decision time per slot in the main comparison, per method (ms)."""
    timings_s: dict[str, float]
    """Wall time of each experiment part (s)."""
    dqn_train_s: float
    """Time spent training SemGen's DQN (s)."""
    dqn_trainings: int
    """Times SemGen's DQN was trained in this run (count)."""
    wall_s: float
    """Wall time of the whole evaluation, figures and report excluded (s)."""


class Meta(_Frozen):
    """What was run."""

    config: dict[str, Any]
    """The ``EvalConfig`` of the run (its fields)."""
    scenario: dict[str, Any]
    """The main scenario's fields (``Scenario.to_dict``)."""
    quality_backend: str
    """Quality model behind every quality number."""
    controller_notes: dict[str, str]
    """Where a controller ran as something else or on another scenario than it was trained for: key → sentence."""
    edge_batch_curve: str | None = None
    """Origin of the batch-time curve behind the batched-edge latency view (``system.batching``; None: no view)."""


class EvalResults(_Frozen):
    """Everything ``runner.evaluate`` measured."""

    schema_version: int = SCHEMA_VERSION
    """Layout version of these results (``SCHEMA_VERSION``)."""
    meta: Meta
    """What was run."""
    methods: dict[str, MethodResult] = {}
    """Method key → its main-comparison result (Figs. 9-11)."""
    per_user: dict[str, PerUser] = {}
    """Method key → per-user means (Fig. 10)."""
    semgen_dqn: SemGenTable | None = None
    """SemGen's learned α (None when SemGen did not run)."""
    fig12a: dict[str, PointSummary] | None = None
    """Fig. 12(a): condition-selection variant → point."""
    fig12b: dict[str, PointSummary] | None = None
    """Fig. 12(b): compression strategy → point."""
    fig14: Sweep | None = None
    """Fig. 14: users sweep on the main scenario."""
    fig15b: Sweep | None = None
    """Fig. 15(b): users sweep on the low-end scenario."""
    multiedge: MultiEdgeSweep | None = None
    """Beyond the paper (issue 11): M edges, association policies, users sweep."""
    runtime: Runtime
    """Wall-clock measurements."""

    def without_runtime(self) -> dict[str, Any]:
        """The JSON form without the wall-clock part (equal for equal seeds)."""
        return self.model_dump(mode="json", exclude={"runtime"})


class Comparison(_Frozen):
    """One row of the paper-vs-ours table."""

    quantity: str
    """What is compared (with the quality backend where it is a quality number)."""
    paper: float | None
    """The paper's number (``unit``)."""
    ours: float | None
    """This run's number (``unit``)."""
    delta: float | None
    """ours − paper (``unit``)."""
    unit: str
    """"share", "ratio", "KB" or "s"."""
    quality_backend: str | None = None
    """Quality model behind ``ours`` when it is a quality number; None otherwise."""
    note: str = ""
    """How ``ours`` was measured, or why it is not what its name says."""


class Claim(_Frozen):
    """One of the paper's qualitative claims, checked on this run."""

    claim: str
    """The claim."""
    holds: bool
    """Whether this run confirms it."""
    evidence: str
    """The numbers that decide it."""


class Fig13Info(_Frozen):
    """Where Fig. 13 came from."""

    log_dir: str
    """The training logs' folder (package-relative for the shipped logs, as given otherwise)."""
    exact_mean_reward: float | None
    """The Exact line's mean reward (reward units)."""
    exact_origin: str
    """How that line was obtained."""


class Fig15a(_Frozen):
    """Fig. 15(a): which T2I families this run could evaluate."""

    families: list[tuple[str, str]]
    """(family, status): "evaluated" or why not (no invented numbers)."""
    paper_sd35_satisfaction: float
    """The paper's SD-v3.5 satisfaction rate (share)."""
    quality_backend: str
    """Quality model of the evaluated family."""


class ResultsFile(EvalResults):
    """``results.json``: the measurements plus the report's comparison, claims and prose."""

    comparison: list[Comparison] = []
    """Paper vs ours, one row per reported number this run reproduces."""
    claims: list[Claim] = []
    """The paper's claims, each checked."""
    differences: list[str] = []
    """Where and why ours differs (sentences computed from these results)."""
    paper: dict[str, Any] = {}
    """The paper's numbers (``experiments.paper.PAPER``)."""
    figures: dict[str, str] = {}
    """Figure name → PNG file name in the same folder."""
    fig15a: Fig15a | None = None
    """Fig. 15(a)'s families."""
    fig13: Fig13Info | None = None
    """Fig. 13's origin (None when it was not drawn)."""
    notes: list[str] = []
    """Other notes for the report (e.g. why a figure was not drawn)."""

    def to_json(self) -> str:
        """The file's text: sorted keys, two-space indent, UTF-8 characters kept."""
        return json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True, ensure_ascii=False)

    @classmethod
    def load(cls, path: str | Path) -> "ResultsFile":
        """Read a ``results.json``; a file of another schema version is refused with a clear error."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        version = data.get("schema_version") if isinstance(data, dict) else None
        if version != SCHEMA_VERSION:
            raise ValueError(f"schema_version: {path} has {version!r}, this mobigen reads {SCHEMA_VERSION}")
        return cls.model_validate(data)

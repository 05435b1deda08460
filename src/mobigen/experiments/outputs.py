"""Writing an evaluation's output folder: ``results.json``, ``report.md`` and the figures (PNGs)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from mobigen.experiments import figures as F
from mobigen.experiments.methods import LABELS
from mobigen.experiments.paper import PAPER
from mobigen.experiments.report import claims, comparisons, differences, write_report
from mobigen.experiments.results import EvalResults, Fig13Info, Fig15a, ResultsFile
from mobigen.experiments.runner import EvalConfig, Evaluation

log = logging.getLogger(__name__)

FAMILY_NAMES = {"sd15": "SD-v1.5", "sd21": "SD-v2.1", "sdxl": "SD-XL", "sd35": "SD-v3.5"}
"""Fig. 15(a)'s T2I families: mobigen.generation's name → the paper's."""
SHIPPED_FIG13 = Path(__file__).resolve().parents[1] / "data" / "fig13"
"""The DDC issue's training logs shipped with the package (Fig. 13)."""


def family_status(backend: str) -> list[tuple[str, str]]:
    """Fig. 15(a): which T2I families this run could evaluate, and why not the others (no invented numbers)."""
    try:
        from mobigen.generation.components import FAMILIES
    except Exception as exc:  # pragma: no cover - generation package broken
        log.warning("generation.components unavailable: %s", exc)
        FAMILIES = ()
    out: list[tuple[str, str]] = []
    for fam in ("sd15", "sd21", "sdxl", "sd35"):
        name = FAMILY_NAMES[fam]
        if fam == "sd15":
            status = "evaluated" if backend else "not evaluated"
        elif fam in FAMILIES:
            status = "loader + split denoising supported; no weights here, surrogate is SD-v1.5-only"
        else:
            status = "not supported by mobigen.generation (MMDiT / flow matching); no weights"
        out.append((name, status))
    return out


def display_path(path: Path) -> str:
    """A path for the report without this machine's folders: package-relative (``mobigen/data/...``) inside the
    installed package, as given otherwise."""
    package = Path(__file__).resolve().parents[1]
    try:
        return str(Path(package.name) / Path(path).resolve().relative_to(package))
    except ValueError:
        return str(path)


def write_all(ev: Evaluation, out_dir: str | Path, command: str, *, fig13_logs: str | Path | None = None) -> dict[str, str]:
    """Figures, results.json and report.md in ``out_dir``; returns {figure name: path}."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    figs = _main_figures(out, ev.results, ev.config)
    fam = family_status(ev.results.meta.quality_backend)
    figs["Fig. 15(a)"] = _fig15a(out, ev.results, fam)
    fig13 = _fig13(out, ev.results, fig13_logs, notes)
    if fig13 is not None:
        figs["Fig. 13"] = str(out / "fig13_drl_convergence.png")
    full = ResultsFile(
        **{name: getattr(ev.results, name) for name in EvalResults.model_fields},
        comparison=comparisons(ev.results), claims=claims(ev.results), differences=differences(ev.results),
        paper=PAPER.model_dump(mode="json"), figures={k: Path(v).name for k, v in figs.items()},
        fig15a=Fig15a(families=fam, paper_sd35_satisfaction=PAPER.fig15a_sd35_satisfaction,
                      quality_backend=ev.results.meta.quality_backend),
        fig13=fig13, notes=notes)
    (out / "results.json").write_text(full.to_json(), encoding="utf-8")
    write_report(full, out, figs, command)
    return figs


def _main_figures(out: Path, r: EvalResults, cfg: EvalConfig) -> dict[str, str]:
    """Figs. 9-12, 14 and 15(b) from the parts that ran."""
    backend = r.meta.quality_backend
    sc = r.meta.scenario
    figs: dict[str, str] = {}
    if r.methods:
        cap = f"Scenario {sc['name']}, K = {sc['num_users']}, {cfg.slots} seeded slots (seed {cfg.seed}); Exact is beyond the paper."
        m = {k: v.model_dump() for k, v in r.methods.items()}
        labels = {k: LABELS.get(k, k) for k in m}
        per_user = {k: v.model_dump() for k, v in r.per_user.items()}
        figs["Fig. 9"] = str(F.fig9_quality(m, labels, out / "fig9_quality.png", backend=backend, caption=cap))
        figs["Fig. 10"] = str(F.fig10_transmission(per_user, labels, out / "fig10_transmission.png", backend=backend,
                                                   caption=cap))
        figs["Fig. 11(a)"] = str(F.fig11a_latency(m, labels, out / "fig11a_latency.png", backend=backend, caption=cap,
                                                  threshold_s=sc["latency_threshold_s"]))
        figs["Fig. 11(b)"] = str(F.fig11b_qoe_latency(m, labels, out / "fig11b_qoe_latency.png", backend=backend,
                                                      caption=cap))
    for which, part, name, caption in (
            ("a", r.fig12a, "fig12a_condition_type.png", f"VCE / fixed types with DDC; {cfg.ablation_slots} slots per variant."),
            ("b", r.fig12b, "fig12b_compression.png",
             f"Alg. 2 restricted to each compression axis, DDC; {cfg.ablation_slots} slots per variant.")):
        if part is not None:
            figs[f"Fig. 12({which})"] = str(F.fig12_bars({k: v.model_dump() for k, v in part.items()}, out / name,
                                                         which=which, backend=backend, caption=caption))
    if r.fig14 is not None:
        figs["Fig. 14"] = str(F.fig_users(
            _series(r.fig14), {k: LABELS.get(k, k) for k in r.fig14.series}, out / "fig14_users.png",
            title="Fig. 14. Impact of user numbers on the satisfaction rate and overall latency.",
            backend=backend, caption=_sweep_caption(r, "fig14", cfg.sweep_slots)))
    if r.fig15b is not None:
        figs["Fig. 15(b)"] = str(F.fig_users(
            _series(r.fig15b), {k: LABELS.get(k, k) for k in r.fig15b.series}, out / "fig15b_low_end.png",
            title="Fig. 15(b). Impact of user numbers on the satisfaction rate where all users are computing "
                  "resource constrained.",
            backend=backend, caption=_sweep_caption(r, "fig15b", cfg.sweep_slots), with_latency=False))
    if r.multiedge is not None:  # beyond the paper (issue 11)
        me = r.multiedge
        figs["Many edges"] = str(F.fig_multiedge(
            [p.model_dump() for p in me.points], out / "multiedge_users.png", backend=me.quality_backend,
            caption=f"Base {me.scenario}, {me.edges_kind} edge sites (C_E = 60 ε₀ each); {me.slots_per_point} slots "
                    "per point, 95% Student-t intervals over slots; M = 1 needs no association."))
    return figs


def _series(sweep: Any) -> dict[str, dict[int, dict[str, Any]]]:
    return {k: {n: p.model_dump() for n, p in by_n.items()} for k, by_n in sweep.series.items()}


def _fig15a(out: Path, r: EvalResults, fam: list[tuple[str, str]]) -> str:
    ours = r.methods["ours"].model_dump() if "ours" in r.methods else None
    return str(F.fig15a_families(ours, fam, out / "fig15a_families.png", backend=r.meta.quality_backend,
                                 caption="Only SD-v1.5 (through the surrogate) is evaluated; other families "
                                         "have no weights here. Red star: the paper's reported SD-v3.5 value.",
                                 paper_points={"SD-v3.5": PAPER.fig15a_sd35_satisfaction}))


def _sweep_caption(r: EvalResults, name: str, slots: int) -> str:
    ddc = [k for k in r.meta.controller_notes if k.startswith("ddc@")]
    sweep = r.fig14 if name == "fig14" else r.fig15b
    txt = f"Base scenario {sweep.base_scenario}, users round-robin over Table I's five device types; {slots} slots per point."
    if ddc:
        txt += " DDC for K≠5 per control.registry (see report)."
    return txt


def _fig13(out: Path, r: EvalResults, log_dir: str | Path | None, notes: list[str]) -> Fig13Info | None:
    """Fig. 13 from the DDC issue's training logs (``control.fig13``), with our Exact's mean reward as a line."""
    try:
        from mobigen.control.fig13 import plot_fig13
    except ImportError as exc:
        notes.append(f"Fig. 13 not drawn: control.fig13 is unavailable ({exc}).")
        return None
    logs = Path(log_dir) if log_dir is not None else SHIPPED_FIG13
    if not logs.is_dir():
        notes.append(f"Fig. 13 not drawn: no training logs at {display_path(logs)}.")
        return None
    exact, origin = _exact_from_logs(logs)
    if exact is None:
        ex = r.methods.get("exact")
        exact = None if ex is None else ex.reward
        origin = "mean eq. (26) reward of Exact in this run's main comparison (other slots than the logs' held-out set)"
    try:
        plot_fig13(logs, out / "fig13_drl_convergence.png", exact)  # labelled with the quality backend the logs record
    except (ValueError, FileNotFoundError) as exc:
        notes.append(f"Fig. 13 not drawn: {exc}")
        return None
    return Fig13Info(log_dir=display_path(logs), exact_mean_reward=exact, exact_origin=origin)


def _exact_from_logs(logs: Path) -> tuple[float | None, str]:
    """Exact's mean reward on the logs' own held-out slots, recovered as test_reward / test_reward_vs_exact."""
    import numpy as np
    import pandas as pd

    vals = []
    for p in sorted(logs.glob("*.csv")):
        try:
            f = pd.read_csv(p)
        except (OSError, ValueError):  # a malformed log is skipped here; plot_fig13 reports it
            continue
        if {"test_reward", "test_reward_vs_exact"} <= set(f.columns):
            ok = f["test_reward_vs_exact"].abs() > 1e-12
            vals.extend((f.loc[ok, "test_reward"] / f.loc[ok, "test_reward_vs_exact"]).tolist())
    vals = [v for v in vals if v == v]  # drop NaN
    if not vals:
        return None, ""
    return float(np.median(vals)), "Exact's mean reward on the training logs' held-out slots (test_reward / test_reward_vs_exact)"

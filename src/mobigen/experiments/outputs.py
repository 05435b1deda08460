"""Writing an evaluation's output folder: ``results.json``, ``report.md`` and the figures (PNGs)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from mobigen.experiments import figures as F
from mobigen.experiments.report import PAPER, claims, comparisons, differences, write_report
from mobigen.experiments.runner import LABELS, Evaluation

log = logging.getLogger(__name__)

FAMILY_NAMES = {"sd15": "SD-v1.5", "sd21": "SD-v2.1", "sdxl": "SD-XL", "sd35": "SD-v3.5"}


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


def _json_default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, tuple):
        return list(o)
    raise TypeError(f"not JSON-serialisable: {type(o).__name__}")


def write_all(ev: Evaluation, out_dir: str | Path, command: str, *, fig13_logs: str | Path | None = None) -> dict[str, str]:
    """Figures, results.json and report.md in ``out_dir``; returns {figure name: path}."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    r = ev.results
    backend = r.get("meta", {}).get("quality_backend", "unknown")
    cfg = ev.config
    sc = r["meta"]["scenario"]
    figs: dict[str, str] = {}
    cap_main = f"Scenario {sc['name']}, K = {sc['num_users']}, {cfg.slots} seeded slots (seed {cfg.seed}); Exact is beyond the paper."
    if "methods" in r:
        m = r["methods"]
        labels = {k: LABELS.get(k, k) for k in m}
        figs["Fig. 9"] = str(F.fig9_quality(m, labels, out / "fig9_quality.png", backend=backend, caption=cap_main))
        figs["Fig. 10"] = str(F.fig10_transmission(r["per_user"], labels, out / "fig10_transmission.png", backend=backend,
                                                   caption=cap_main))
        figs["Fig. 11(a)"] = str(F.fig11a_latency(m, labels, out / "fig11a_latency.png", backend=backend, caption=cap_main,
                                                  threshold_s=sc["latency_threshold_s"]))
        figs["Fig. 11(b)"] = str(F.fig11b_qoe_latency(m, labels, out / "fig11b_qoe_latency.png", backend=backend,
                                                      caption=cap_main))
    if "fig12a" in r:
        figs["Fig. 12(a)"] = str(F.fig12_bars(r["fig12a"], out / "fig12a_condition_type.png", which="a", backend=backend,
                                              caption=f"VCE / fixed types with DDC; {cfg.ablation_slots} slots per variant."))
    if "fig12b" in r:
        figs["Fig. 12(b)"] = str(F.fig12_bars(r["fig12b"], out / "fig12b_compression.png", which="b", backend=backend,
                                              caption=f"Alg. 2 restricted to each compression axis, DDC; {cfg.ablation_slots} slots per variant."))
    if "fig14" in r:
        ser = r["fig14"]["series"]
        figs["Fig. 14"] = str(F.fig_users(ser, {k: LABELS.get(k, k) for k in ser}, out / "fig14_users.png",
                                          title="Fig. 14. Impact of user numbers on the satisfaction rate and overall latency.",
                                          backend=backend, caption=_sweep_caption(r, "fig14", cfg.sweep_slots)))
    if "fig15b" in r:
        ser = r["fig15b"]["series"]
        figs["Fig. 15(b)"] = str(F.fig_users(ser, {k: LABELS.get(k, k) for k in ser}, out / "fig15b_low_end.png",
                                             title="Fig. 15(b). Impact of user numbers on the satisfaction rate where all "
                                                   "users are computing resource constrained.",
                                             backend=backend, caption=_sweep_caption(r, "fig15b", cfg.sweep_slots),
                                             with_latency=False))
    fam = family_status(backend)
    r["fig15a"] = {"families": fam, "paper_sd35_satisfaction": PAPER["fig15a_sd35_satisfaction"],
                   "quality_backend": backend}
    ours = r.get("methods", {}).get("ours")
    figs["Fig. 15(a)"] = str(F.fig15a_families(ours, fam, out / "fig15a_families.png", backend=backend,
                                               caption="Only SD-v1.5 (through the surrogate) is evaluated; other families "
                                                       "have no weights here. Red star: the paper's reported SD-v3.5 value.",
                                               paper_points={"SD-v3.5": PAPER["fig15a_sd35_satisfaction"]}))
    f13 = _fig13(out, r, fig13_logs)
    if f13:
        figs["Fig. 13"] = f13
    r["comparison"] = comparisons(r)
    r["claims"] = claims(r)
    r["differences"] = differences(r)
    r["paper"] = PAPER
    r["figures"] = {k: Path(v).name for k, v in figs.items()}
    (out / "results.json").write_text(json.dumps(r, indent=2, sort_keys=True, default=_json_default, ensure_ascii=False),
                                      encoding="utf-8")
    write_report(r, out, figs, command)
    return figs


def _sweep_caption(r: dict[str, Any], name: str, slots: int) -> str:
    notes = r.get("meta", {}).get("controller_notes", {})
    ddc = [f"{k}: {v}" for k, v in notes.items() if k.startswith("ddc@")]
    base = r[name]["base_scenario"]
    txt = f"Base scenario {base}, users round-robin over Table I's five device types; {slots} slots per point."
    if ddc:
        txt += " DDC for K≠5 per control.registry (see report)."
    return txt


def _fig13(out: Path, r: dict[str, Any], log_dir: str | Path | None) -> str | None:
    """Fig. 13 from the DDC issue's training logs (``control.fig13``), with our Exact's mean reward as a line."""
    try:
        from mobigen.control.fig13 import plot_fig13
    except ImportError as exc:
        r.setdefault("notes", []).append(f"Fig. 13 not drawn: control.fig13 is unavailable ({exc}).")
        return None
    logs = Path(log_dir) if log_dir is not None else Path(__file__).resolve().parents[1] / "data" / "fig13"
    if not logs.is_dir():
        r.setdefault("notes", []).append(f"Fig. 13 not drawn: no training logs at {logs}.")
        return None
    exact, origin = _exact_from_logs(logs)
    if exact is None:
        exact = r.get("methods", {}).get("exact", {}).get("reward")
        origin = "mean eq. (26) reward of Exact in this run's main comparison (other slots than the logs' held-out set)"
    r["fig13"] = {"log_dir": str(logs), "exact_mean_reward": exact, "exact_origin": origin}
    p = out / "fig13_drl_convergence.png"
    try:
        plot_fig13(logs, p, exact)  # labelled with the quality backend the logs record
    except (ValueError, FileNotFoundError) as exc:
        r.setdefault("notes", []).append(f"Fig. 13 not drawn: {exc}")
        return None
    return str(p)


def _exact_from_logs(logs: Path) -> tuple[float | None, str]:
    """Exact's mean reward on the logs' own held-out slots, recovered as test_reward / test_reward_vs_exact."""
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
    import numpy as np

    return float(np.median(vals)), "Exact's mean reward on the training logs' held-out slots (test_reward / test_reward_vs_exact)"

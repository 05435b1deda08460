"""Section VI's figures as PNGs (matplotlib, Agg backend), each titled like the paper's and captioned with
the quality backend that produced its quality numbers.

Every function takes plain summaries (dicts of numbers, as in ``results.json``) and an output path, so a
figure can be redrawn from a saved ``results.json`` without rerunning anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

PART_LABELS: dict[str, str] = {
    "extraction_s": "extraction",
    "uplink_s": "uplink",
    "edge_s": "edge denoising",
    "downlink_s": "downlink",
    "local_s": "local denoising",
}
"""Fig. 11(a)'s latency parts, in order."""

COLORS: dict[str, str] = {"random": "C0", "semgen": "C1", "aaas": "C2", "oqc": "C3", "ours": "C4", "exact": "C5"}
"""One colour per method in every figure."""


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _caption(fig, text: str) -> None:
    import textwrap

    width_chars = int(fig.get_figwidth() * 17)  # ~17 characters per inch at 7.5 pt
    fig.text(0.5, 0.01, "\n".join(textwrap.wrap(text, width_chars)), ha="center", va="bottom", fontsize=7.5,
             color="#444444")


def _save(fig, out: str | Path) -> Path:
    p = Path(out)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p, dpi=130)
    _plt().close(fig)
    return p


def _backend_note(backend: str) -> str:
    if backend == "surrogate":
        return "quality backend: surrogate (calibrated model of DS/IR, not measured generation quality)"
    return f"quality backend: {backend}"


def fig9_quality(summaries: Mapping[str, Mapping[str, float]], labels: Mapping[str, str], out: str | Path,
                 *, backend: str, caption: str) -> Path:
    """Fig. 9: mean QoE, DS (q^I), IR (q^T) and satisfaction rate per method."""
    plt = _plt()
    metrics = [("qoe", "QoE"), ("q_I", "DS score (q^I)"), ("q_T", "IR score (q^T)"), ("satisfaction", "Satisfaction rate")]
    keys = list(summaries)
    fig, ax = plt.subplots(figsize=(9, 4.6))
    width = 0.8 / len(keys)
    x = np.arange(len(metrics))
    for i, k in enumerate(keys):
        vals = [summaries[k][m] for m, _ in metrics]
        bars = ax.bar(x + (i - (len(keys) - 1) / 2) * width, vals, width, label=labels.get(k, k), color=COLORS.get(k))
        for b, v in zip(bars, vals):
            ax.text(b.get_x() + b.get_width() / 2, v + 0.01, f"{v:.2f}", ha="center", va="bottom", fontsize=6, rotation=90)
    ax.set_xticks(x, [f"{n} ({backend})" for _, n in metrics], fontsize=8)
    ax.set_ylim(0, 1.25)
    ax.set_ylabel(f"value ({backend})")
    ax.legend(ncol=min(6, len(keys)), fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, 1.0))
    ax.set_title("Fig. 9. Average generation quality values under different metrics.", fontsize=10)
    fig.subplots_adjust(bottom=0.21, top=0.9)
    _caption(fig, f"{_backend_note(backend)}. {caption}")
    return _save(fig, out)


def fig10_transmission(per_user: Mapping[str, Mapping[str, Sequence[float]]], labels: Mapping[str, str],
                       out: str | Path, *, backend: str, caption: str) -> Path:
    """Fig. 10: mean uplink and downlink KB per user index, per method (log scale)."""
    plt = _plt()
    keys = list(per_user)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.4))
    for ax, field, name in ((axes[0], "uplink_kb", "Uplink"), (axes[1], "downlink_kb", "Downlink")):
        n_users = len(next(iter(per_user.values()))[field])
        width = 0.8 / len(keys)
        x = np.arange(n_users)
        floor = 0.3
        for i, k in enumerate(keys):
            raw = np.asarray(per_user[k][field], dtype=float)
            xs = x + (i - (len(keys) - 1) / 2) * width
            ax.bar(xs, np.where(raw > 0, raw, np.nan), width, label=labels.get(k, k), color=COLORS.get(k, f"C{i}"))
            for xi, v in zip(xs, raw):
                if v <= 0:
                    ax.text(xi, floor * 1.1, "0", ha="center", va="bottom", fontsize=6, color=COLORS.get(k, f"C{i}"))
        ax.set_yscale("log")
        ax.set_ylim(bottom=floor)
        ax.set_xticks(x, [f"User {u + 1}" for u in range(n_users)], fontsize=8)
        ax.set_ylabel(f"{name} data size per request (KB, log)")
        ax.set_title(name, fontsize=9)
        ax.grid(axis="y", alpha=0.3, which="both")
    axes[0].legend(fontsize=7, ncol=2)
    fig.suptitle("Fig. 10. Comparison of uplink and downlink transmitted data size of multiple users across different methods.",
                 fontsize=9.5)
    fig.subplots_adjust(bottom=0.21, top=0.86, wspace=0.25)
    _caption(fig, f"Bytes are measured/modelled, not quality numbers (1 KB = 1000 B; '0' marks no transfer, e.g. OQC+'s local generation). "
                  f"Configurations chosen with the {backend} quality model. {caption}")
    return _save(fig, out)


def fig11a_latency(summaries: Mapping[str, Mapping[str, float]], labels: Mapping[str, str], out: str | Path,
                   *, backend: str, caption: str, threshold_s: float) -> Path:
    """Fig. 11(a): mean latency per request split into extraction, uplink, edge, downlink, local."""
    plt = _plt()
    keys = list(summaries)
    fig, ax = plt.subplots(figsize=(8, 4.6))
    bottom = np.zeros(len(keys))
    x = np.arange(len(keys))
    for part, name in PART_LABELS.items():
        vals = np.array([summaries[k][part] for k in keys])
        ax.bar(x, vals, 0.6, bottom=bottom, label=name)
        bottom += vals
    for xi, tot in zip(x, bottom):
        ax.text(xi, tot + 0.1, f"{tot:.2f} s", ha="center", fontsize=8)
    ax.axhline(threshold_s, color="k", ls="--", lw=0.8, label=f"L̃ = {threshold_s:g} s")
    # beyond the paper: round latency with a serial edge (metrics.serial_edge_completion), where summarised
    top = bottom.max()
    serial = np.array([summaries[k].get("round_latency_serial_s", np.nan) for k in keys], dtype=float)
    if np.isfinite(serial).any():
        ax.scatter(x, serial, marker="D", s=28, facecolors="none", edgecolors="k", zorder=3,
                   label="round latency, serial edge (beyond the paper)")
        for xi, v in zip(x, serial):
            if np.isfinite(v):
                ax.text(xi + 0.12, v, f"{v:.1f}", va="center", fontsize=7)
        top = max(top, float(np.nanmax(serial)))
    batched = np.array([summaries[k].get("round_latency_batched_s", np.nan) for k in keys], dtype=float)
    if np.isfinite(batched).any():  # beyond the paper: a batching edge (system.batching's batch-time curve)
        ax.scatter(x, batched, marker="^", s=30, facecolors="none", edgecolors="tab:red", zorder=3,
                   label="round latency, batched edge (beyond the paper)")
        for xi, v in zip(x, batched):
            if np.isfinite(v):
                ax.text(xi - 0.12, v, f"{v:.1f}", va="center", ha="right", fontsize=7, color="tab:red")
        top = max(top, float(np.nanmax(batched)))
    ax.set_xticks(x, [labels.get(k, k) for k in keys], fontsize=8)
    ax.set_ylabel("mean latency per request (s)" if not np.isfinite(serial).any() else
                  "latency (s): bars = mean per request")
    ax.set_ylim(0, max(top, threshold_s) * 1.3)
    ax.legend(fontsize=7.5, ncol=3, loc="upper left")
    ax.set_title("Fig. 11(a). Overall latency analysis of different methods.", fontsize=10)
    fig.subplots_adjust(bottom=0.21, top=0.9)
    note = ("" if not np.isfinite(serial).any() else
            " Diamonds (beyond the paper: eq. 6 has no edge queueing): mean over slots of the last user's completion when "
            "the slot closes at the last upload and the edge denoises the users one after another in arrival order.")
    if np.isfinite(batched).any():
        note += (" Triangles (beyond the paper): the same with an edge that batches the users' steps, each batched step "
                 "timed by the batch-time curve (system.batching; origin in the report).")
    _caption(fig, f"Latency from the system model (eqs. 2, 6, 7). {_backend_note(backend)} chose the steps.{note} {caption}")
    return _save(fig, out)


def fig11b_qoe_latency(summaries: Mapping[str, Mapping[str, float]], labels: Mapping[str, str], out: str | Path,
                       *, backend: str, caption: str) -> Path:
    """Fig. 11(b): QoE-latency trade-off, one point per method, annotated with its satisfaction rate."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.8))
    for i, (k, s) in enumerate(summaries.items()):
        ax.scatter(s["latency_s"], s["qoe"], s=60, color=COLORS.get(k, f"C{i}"), marker="s" if k == "exact" else "o",
                   label=f"{labels.get(k, k)} (sat. {s['satisfaction']:.0%})")
        ax.annotate(labels.get(k, k), (s["latency_s"], s["qoe"]), textcoords="offset points",
                    xytext=(7, 5 if i % 2 == 0 else -12), fontsize=8, color=COLORS.get(k, f"C{i}"))
    ys = [s["qoe"] for s in summaries.values()]
    pad = max(0.01, 0.15 * (max(ys) - min(ys)))
    ax.set_ylim(min(ys) - pad, max(ys) + pad)
    ax.legend(fontsize=7.5, loc="best", title=f"satisfaction ({backend})", title_fontsize=7.5)
    ax.set_xlabel("mean latency per request (s)")
    ax.set_ylabel(f"mean QoE ({backend})")
    ax.grid(alpha=0.3)
    xs = [s["latency_s"] for s in summaries.values()]
    ax.set_xlim(min(xs) - 0.8, max(xs) + 1.6)
    ax.set_title("Fig. 11(b). QoE-latency trade-off of different methods.", fontsize=10)
    fig.subplots_adjust(bottom=0.21, top=0.9)
    _caption(fig, f"{_backend_note(backend)}. {caption}")
    return _save(fig, out)


def fig12_bars(summaries: Mapping[str, Mapping[str, float]], out: str | Path, *, which: str, backend: str,
               caption: str) -> Path:
    """Fig. 12(a) (satisfaction + data volume per condition-selection method) or 12(b) (QoE + data size
    per compression strategy)."""
    plt = _plt()
    keys = list(summaries)
    fig, ax = plt.subplots(figsize=(8, 4.6))
    x = np.arange(len(keys))
    if which == "a":
        metric, mname = "satisfaction", f"satisfaction rate ({backend})"
        title = "Fig. 12(a). Satisfaction rate and data volume under different visual condition selection methods."
    elif which == "b":
        metric, mname = "qoe", f"QoE ({backend})"
        title = "Fig. 12(b). QoE and visual condition data size under different compression strategies."
    else:
        raise ValueError(f"which: must be 'a' or 'b', got {which!r}")
    vals = [summaries[k][metric] for k in keys]
    bars = ax.bar(x - 0.2, vals, 0.4, color="tab:blue", label=mname)
    for b, v in zip(bars, vals):
        ax.text(b.get_x() + b.get_width() / 2, v + 0.01, f"{v:.2f}", ha="center", fontsize=7)
    if which == "b":
        sat = [summaries[k]["satisfaction"] for k in keys]
        ax.plot(x - 0.2, sat, "D", color="navy", ms=6, label=f"satisfaction rate ({backend})")
        for xi, v in zip(x - 0.2, sat):
            ax.text(xi + 0.05, v, f"{v:.0%}", fontsize=7, color="navy", va="center")
    ax.set_ylim(0, 1.35)
    ax.set_ylabel(mname)
    ax2 = ax.twinx()
    kb = [summaries[k]["uplink_kb"] for k in keys]
    bars2 = ax2.bar(x + 0.2, kb, 0.4, color="tab:orange", label="condition data size (KB)")
    for b, v in zip(bars2, kb):
        ax2.text(b.get_x() + b.get_width() / 2, v * 1.01, f"{v:.1f}", ha="center", fontsize=7)
    ax2.set_ylabel("mean uplink data per request (KB)")
    ax2.set_ylim(0, max(kb) * 1.6 if max(kb) > 0 else 1)
    ax.set_xticks(x, keys, fontsize=8)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=7.5, loc="upper center", ncol=3)
    ax.set_title(title, fontsize=9)
    fig.subplots_adjust(bottom=0.21, top=0.9, right=0.88)
    _caption(fig, f"{_backend_note(backend)}. {caption}")
    return _save(fig, out)


def fig_users(series: Mapping[str, Mapping[int, Mapping[str, float]]], labels: Mapping[str, str], out: str | Path,
              *, title: str, backend: str, caption: str, with_latency: bool = True) -> Path:
    """Fig. 14 (satisfaction and latency vs number of users) and Fig. 15(b) (satisfaction only)."""
    plt = _plt()
    ncols = 2 if with_latency else 1
    fig, axes = plt.subplots(1, ncols, figsize=(5.2 * ncols, 4.4))
    axes = np.atleast_1d(axes)
    for k, by_n in series.items():
        ns = sorted(by_n, key=int)
        style = "s--" if k == "exact" else "o-"  # Exact (beyond the paper) dashed, so it stays visible under Ours
        kw = {"label": labels.get(k, k), "color": COLORS.get(k)}
        axes[0].plot([int(n) for n in ns], [by_n[n]["satisfaction"] for n in ns], style, **kw)
        if with_latency:
            axes[1].plot([int(n) for n in ns], [by_n[n]["latency_s"] for n in ns], style, **kw)
    axes[0].set_xlabel("number of users")
    axes[0].set_ylabel(f"satisfaction rate ({backend})")
    axes[0].set_ylim(0, 1.05)
    axes[0].grid(alpha=0.3)
    axes[0].legend(fontsize=7.5)
    if with_latency:
        axes[1].set_xlabel("number of users")
        axes[1].set_ylabel("mean latency per request (s)")
        axes[1].grid(alpha=0.3)
    import textwrap

    fig.suptitle("\n".join(textwrap.wrap(title, int(fig.get_figwidth() * 13))), fontsize=10)
    fig.subplots_adjust(bottom=0.25, top=0.84, wspace=0.28)
    _caption(fig, f"{_backend_note(backend)}. {caption}")
    return _save(fig, out)


def fig15a_families(ours: Mapping[str, float] | None, families: Sequence[tuple[str, str]], out: str | Path, *,
                    backend: str, caption: str, paper_points: Mapping[str, float]) -> Path:
    """Fig. 15(a): per T2I family, our measured satisfaction where the family could be evaluated; the
    others are marked "not evaluated" with the reason — no number is invented for them."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 4.6))
    x = np.arange(len(families))
    for i, (name, status) in enumerate(families):
        if status == "evaluated" and ours is not None:
            v = ours["satisfaction"]
            ax.bar(i, v, 0.5, color="tab:blue", label=f"ours (VCE + DDC), satisfaction ({backend})" if i == 0 else None)
            ax.text(i, v + 0.01, f"{v:.1%}", ha="center", fontsize=8)
        else:
            ax.bar(i, 1.0, 0.5, color="none", edgecolor="grey", hatch="//")
            short = "not supported\nby mobigen\n(no weights)" if "not supported" in status else "not evaluated:\nno weights\nhere"
            ax.text(i, 0.5, short, ha="center", va="center", fontsize=8,
                    bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.9})
        if name in paper_points:
            ax.plot(i, paper_points[name], "r*", ms=12, label="paper (reported)" if name == next(iter(paper_points)) else None)
    ax.set_xticks(x, [n for n, _ in families], fontsize=8)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel(f"satisfaction rate ({backend})")
    ax.legend(fontsize=7.5, loc="upper left")
    ax.set_title("Fig. 15(a). Performance comparison across the different T2I models.", fontsize=10)
    fig.subplots_adjust(bottom=0.21, top=0.9)
    _caption(fig, f"{_backend_note(backend)}. {caption}")
    return _save(fig, out)


_ME_STYLE = {1: "-", 2: "--", 4: ":"}
_ME_COLOR = {"fast": "C4", "best-channel": "C1", "least-loaded": "C2", "random": "C0", "fast+ddc": "C3"}


def fig_multiedge(points: Sequence[Mapping[str, Any]], out: str | Path, *, backend: str, caption: str) -> Path:
    """Beyond the paper (issue 11): satisfaction and round latency vs users for M edges and each association
    policy, with 95% intervals (``experiments.multiedge.run_sweep`` points as dicts)."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11.0, 4.8))
    series: dict[tuple[int, str], list[Mapping[str, Any]]] = {}
    for p in points:
        series.setdefault((int(p["edges"]), str(p["policy"])), []).append(p)
    for (M, policy), pts in sorted(series.items()):
        pts = sorted(pts, key=lambda q: q["users"])
        x = np.array([q["users"] for q in pts])
        label = f"M = {M}" + ("" if M == 1 else f", {policy}")
        kw = {"color": "k" if M == 1 else _ME_COLOR.get(policy), "linestyle": _ME_STYLE.get(M, "-.")}
        for ax, key in ((axes[0], "satisfaction"), (axes[1], "round_latency_s")):
            mean = np.array([q[key]["mean"] for q in pts])
            err = np.array([[q[key]["mean"] - q[key]["lo"] for q in pts], [q[key]["hi"] - q[key]["mean"] for q in pts]])
            ax.errorbar(x, mean, yerr=err, marker="o", markersize=3, capsize=2, label=label, **kw)
    axes[0].set_ylabel(f"satisfaction rate ({backend})")
    axes[0].set_ylim(0, 1.05)
    axes[1].set_ylabel("round latency max_k L_k (s)")
    for ax in axes:
        ax.set_xlabel("number of users")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=6.5, ncol=2)
    fig.suptitle("Beyond the paper: many edges — association policy, then the exact per-edge DP", fontsize=10)
    fig.subplots_adjust(bottom=0.25, top=0.9, wspace=0.25)
    _caption(fig, f"{_backend_note(backend)}. {caption}")
    return _save(fig, out)

"""Fig. 13: test reward vs environment steps for both DDC variants, SAC and PPO (mean ± std over
seeds), with Exact's mean reward on the same held-out slots as a horizontal line.

Logs are ``<algo>_seed<S>.csv``: ``ddc`` is the paper-architecture (flat) DDC trained on ``paper``
(``mobigen train ddc-flat``), ``ddcset`` the set DDC trained on the mixture of K and scenarios
(``mobigen train ddc``) and evaluated on the same ``paper`` held-out slots."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

_NAME = re.compile(r"^(ddcset|ddc|sac|ppo)_seed(\d+)\.csv$")
ALGOS = ("ddcset", "ddc", "sac", "ppo")
"""Curves in drawing order."""
COLOURS = {"ddcset": "tab:purple", "ddc": "tab:red", "sac": "tab:blue", "ppo": "tab:green"}
LABELS = {"ddcset": "DDC, set (one policy, K 2-16 mixture)", "ddc": "DDC, flat (paper arch., K = 5)",
          "sac": "SAC", "ppo": "PPO"}


def load_curves(log_dir: str | Path) -> dict[str, pd.DataFrame]:
    """{algo: frame with columns env_steps, mean, std, n_seeds} from ``<algo>_seed<S>.csv`` files."""
    log_dir = Path(log_dir)
    runs: dict[str, list[pd.DataFrame]] = {}
    for p in sorted(log_dir.glob("*.csv")):
        m = _NAME.match(p.name)
        if m:
            runs.setdefault(m.group(1), []).append(pd.read_csv(p)[["env_steps", "test_reward"]])
    if not runs:
        raise FileNotFoundError(f"no <algo>_seed<S>.csv logs in '{log_dir}'")
    out = {}
    for algo, frames in runs.items():
        g = pd.concat(frames).groupby("env_steps")["test_reward"]
        out[algo] = pd.DataFrame({"mean": g.mean(), "std": g.std(ddof=0).fillna(0.0), "n_seeds": g.count()}).reset_index()
    return out


def log_backends(log_dir: str | Path) -> str:
    """The quality backend(s) recorded in the logs' ``quality_backend`` column (comma-joined), or "unknown"."""
    names: set[str] = set()
    for p in sorted(Path(log_dir).glob("*.csv")):
        if _NAME.match(p.name):
            f = pd.read_csv(p)
            if "quality_backend" in f.columns:
                names.update(str(v) for v in f["quality_backend"].dropna().unique())
    return ",".join(sorted(names)) or "unknown"


def plot_fig13(log_dir: str | Path, out_png: str | Path, exact_mean: float | None = None,
               quality_backend: str | None = None) -> Path:
    """Plot the curves of ``log_dir`` to ``out_png`` (Exact's mean as a dashed line). The y label names
    ``quality_backend``, by default the one the logs record (``log_backends``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = load_curves(log_dir)
    if quality_backend is None:
        quality_backend = log_backends(log_dir)
    fig, ax = plt.subplots(figsize=(6, 4))
    for algo in ALGOS:
        if algo not in curves:
            continue
        c = curves[algo]
        n = int(c["n_seeds"].min())
        ax.plot(c["env_steps"], c["mean"], color=COLOURS[algo], label=f"{LABELS[algo]} ({n} seed{'s' if n > 1 else ''})")
        ax.fill_between(c["env_steps"], c["mean"] - c["std"], c["mean"] + c["std"], color=COLOURS[algo], alpha=0.2)
    if exact_mean is not None and np.isfinite(exact_mean):
        ax.axhline(exact_mean, color="k", ls="--", label="Exact (DP optimum)")
    ax.set_xlabel("environment steps (slots)")
    ax.set_ylabel(f"test reward, eq. (26) [{quality_backend} quality]")
    ax.set_title("Fig. 13: test reward vs training steps")
    lo = min(float((c["mean"] - c["std"]).min()) for c in curves.values())
    hi = max([float((c["mean"] + c["std"]).max()) for c in curves.values()] + [exact_mean or -np.inf])
    ax.set_ylim(lo - 0.05 * abs(hi - lo), hi + 0.05 * abs(hi - lo))
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out_png, dpi=120)
    plt.close(fig)
    return out_png

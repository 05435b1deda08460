"""VCE's measured figures from one run (the benchmark behind ``mobigen bench vce``):

1. decision time per user with precomputed frontiers (target ≤ 0.1 ms), as a ratio to the target;
2. mean uploaded bytes of VCE's choices at the paper's settings (real per-image bytes; paper ≈ 6 KB),
   beside the uncompressed condition (α = β = 1; paper ≈ 88 KB) and the raw image (paper ≈ 335 KB);
3. how often and by how much Algorithms 1-2 fall short of the exhaustive oracle;
4. Fig. 12(b)'s compression ablations (mean real bytes per compression mode);
5. the slot sampler's time per K-user slot.

Every quality number comes from the quality model named in the output ("surrogate" by default).
The slot sampler (``workload``) and the AaaS raw PNG table (``experiments``) sit above conditions/, so the
command passes them in.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mobigen.conditions.oracle import ShortfallReport

PAPER_VCE_BYTES = 6_000
"""Sec. VI-B.3: "our method consistently uploads only compressed visual conditions (6 KB on average)"."""
PAPER_UNCOMPRESSED_BYTES = 88_000
"""Sec. VI-C.2: "the original visual conditions demand an average transmission size of 88 KB"."""
PAPER_RAW_BYTES = 335_000
"""Sec. VI-B.3: AaaS uploads raw images, "335 KB per user"."""
TARGET_DECISION_S = 1e-4
"""Issue 3: VCE decision time per user with a precomputed frontier, ≤ 0.1 ms."""
SAMPLER_SLOTS = 2000
"""Slots drawn to time the slot sampler."""
SHARE_USERS = 5000
"""Users (at most) whose choices give the condition share."""

User = tuple[float, float, float, float]
"""One request's (ω^I, Q̃, B↑ in bit/s, f_k in FLOP/s)."""


@dataclass(frozen=True)
class VceBenchConfig:
    """What ``mobigen bench vce`` runs."""

    scenario: str = "paper"
    """Scenario preset or file."""
    profile: str | None = None
    """Profile table CSV; None: the shipped profile."""
    users: int = 20_000
    """Users timed for the decision time."""
    draws_per_image: int = 20
    """Requests per profile image for the bytes and the oracle comparison."""
    seed: int = 0
    """Seed of every draw."""

    def __post_init__(self) -> None:
        if self.users < 1 or self.draws_per_image < 1:
            raise ValueError("--users and --draws-per-image: must be >= 1")


@dataclass(frozen=True)
class VceBench:
    """The benchmark's figures (what ``--json`` writes) and the oracle report behind them."""

    figures: dict[str, Any]
    """The JSON-ready figures."""
    report: ShortfallReport
    """Algorithms 1-2 against the exhaustive oracle."""


def build_vce(sc: Any, profile_path: str | Path) -> tuple[Any, Any, Any, float]:
    """The configuration table, surrogate quality model and VCE of ``profile_path``, and the seconds to build them."""
    from mobigen.conditions.vce import surrogate_vce

    t0 = time.perf_counter()
    vce = surrogate_vce(sc, profile_path)
    return vce.table, vce.quality, vce, time.perf_counter() - t0


def draw_users(sc: Any, n: int, seed: int) -> list[User]:
    """``n`` seeded requests at the paper's settings."""
    rng = np.random.default_rng(seed)
    f_types = np.asarray(sc.device_compute_ratios) * sc.f_edge
    return [(float(rng.uniform()), float(rng.uniform(*sc.qoe_threshold_range)),
             float(rng.uniform(*sc.uplink_mbps_range)) * 1e6, float(f_types[rng.integers(len(f_types))]))
            for _ in range(n)]


def decision_seconds(vce: Any, users: list[User]) -> float:
    """Step 1: mean seconds of one VCE decision (frontiers precomputed)."""
    choose = vce.choose
    t0 = time.perf_counter()
    for u in users:
        choose(*u)
    return (time.perf_counter() - t0) / len(users)


def condition_share(vce: Any, users: list[User]) -> dict[str, float]:
    """The share of each condition type among the choices for the first users."""
    counts: dict[str, int] = {}
    for u in users[: min(len(users), SHARE_USERS)]:
        cond = vce.choose(*u).condition
        counts[cond] = counts.get(cond, 0) + 1
    return {k: v / sum(counts.values()) for k, v in sorted(counts.items())}


def uncompressed_bytes(table: Any) -> tuple[dict[str, float], dict[str, float]]:
    """Step 2: mean bytes of the uncompressed condition (α = β = 1) per codec and with the resolved codec, and
    per condition type."""
    a1, b1 = table.alphas.index(1.0), table.betas.index(1.0)
    per_codec = {k: float(np.nanmean(v[:, a1, b1])) for k, v in table.mean_bytes_by_codec.items()}
    per_codec["resolved"] = float(np.mean(table.mean_bytes[:, a1, b1]))
    per_type = {c: float(table.mean_bytes[i, a1, b1]) for i, c in enumerate(table.conditions)}
    return per_codec, per_type


def raw_image_bytes(png_table: Path | None) -> dict[str, float]:
    """Mean raw image size: the data set's JPEG files, and the AaaS baseline's raw PNG sizes (``png_table``,
    its data/raw_png_bytes.csv) when shipped."""
    import pandas as pd

    from mobigen.settings import dataset_dir

    out: dict[str, float] = {}
    d = dataset_dir()
    if d.is_dir():
        sizes = [p.stat().st_size for p in d.rglob("*.jpg")]
        if sizes:
            out["dataset_jpeg_q90"] = float(sum(sizes) / len(sizes))
    if png_table is not None and png_table.is_file():
        out["png (data/raw_png_bytes.csv)"] = float(pd.read_csv(png_table)["png_bytes"].mean())
    return out


def mean_real_bytes(vce: Any, draws_per_image: int, seed: int) -> float:
    """Mean real bytes of Alg. 1-2's choices on each profile image's own bytes (seeded paper-setting draws;
    the same request stream as ``oracle.compare_with_oracle`` with the same seed)."""
    sc, t = vce.scenario, vce.table
    rng = np.random.default_rng(seed)
    f_types = np.asarray(sc.device_compute_ratios) * sc.f_edge
    total, n = 0.0, 0
    for img in range(len(t.images)):
        for _ in range(draws_per_image):
            ch = vce.choose(float(rng.uniform()), float(rng.uniform(*sc.qoe_threshold_range)),
                            float(rng.uniform(*sc.uplink_mbps_range)) * 1e6, float(f_types[rng.integers(len(f_types))]))
            total += t.image_bytes[(img,) + t.index(ch.condition, ch.alpha, ch.beta)]
            n += 1
    return total / n


def compression_modes(table: Any, quality: Any, sc: Any, report: ShortfallReport, draws_per_image: int,
                      seed: int) -> dict[str, float]:
    """Step 4: Fig. 12(b)'s compression ablations, mean real bytes of Alg. 1-2's choices per mode ("both" is
    Alg. 1-2 itself on the same seeded requests: the oracle report already measured it)."""
    from mobigen.conditions.vce import VCE

    modes = {"both": report.vce_mean_real_bytes}
    for mode in ("alpha", "beta", "none"):
        modes[mode] = mean_real_bytes(VCE(table, quality, sc, compression=mode), draws_per_image, seed)
    return modes


def sampler_seconds(sampler: Any, seed: int, n_slots: int = SAMPLER_SLOTS) -> float:
    """Step 5: mean seconds per ``sampler.sample(rng)`` call."""
    srng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    for _ in range(n_slots):
        sampler.sample(srng)
    return (time.perf_counter() - t0) / n_slots


def run_vce_bench(cfg: VceBenchConfig, sc: Any, *, make_sampler: Callable[[Any], Any],
                  png_table: Path | None = None) -> VceBench:
    """Run the steps of the module docstring on scenario ``sc``; ``make_sampler(vce)`` builds the slot sampler
    timed in step 5, ``png_table`` is the AaaS raw PNG table."""
    from mobigen.conditions.oracle import compare_with_oracle
    from mobigen.system.profile import default_profile_path

    profile_path = cfg.profile or default_profile_path()
    table, quality, vce, build_s = build_vce(sc, profile_path)
    users = draw_users(sc, cfg.users, cfg.seed)
    decision_s = decision_seconds(vce, users)
    report = compare_with_oracle(vce, draws_per_image=cfg.draws_per_image, seed=cfg.seed)
    share = condition_share(vce, users)
    uncompressed, uncompressed_per_type = uncompressed_bytes(table)
    raw = raw_image_bytes(png_table)
    modes = compression_modes(table, quality, sc, report, cfg.draws_per_image, cfg.seed)
    slot_s = sampler_seconds(make_sampler(vce), cfg.seed)
    figures = {
        "profile": str(profile_path), "profile_images": len(table.images), "quality_backend": vce.quality_backend,
        "scenario": sc.name, "build_s": build_s,
        "decision_us_per_user": decision_s * 1e6, "decision_vs_target_0.1ms": decision_s / TARGET_DECISION_S,
        "vce_mean_real_bytes": report.vce_mean_real_bytes, "vce_mean_expected_bytes": report.vce_mean_expected_bytes,
        "vce_bytes_vs_paper_6KB": report.vce_mean_real_bytes / PAPER_VCE_BYTES,
        "uncompressed_mean_bytes": uncompressed, "uncompressed_per_type_bytes": uncompressed_per_type,
        "uncompressed_resolved_vs_paper_88KB": uncompressed["resolved"] / PAPER_UNCOMPRESSED_BYTES,
        "raw_image_mean_bytes": raw, "compression_mode_mean_real_bytes": modes, "vce_condition_share": share,
        "oracle": report.to_dict(), "sampler_ms_per_slot": slot_s * 1e3, "K": sc.num_users,
    }
    return VceBench(figures=figures, report=report)


def format_vce_report(res: VceBench) -> str:
    """The printed report of ``mobigen bench vce``; every quality-based figure names its quality model."""
    out, r = res.figures, res.report
    qb = out["quality_backend"]
    lines = [
        f"profile {out['profile']} ({out['profile_images']} images); quality model: {qb}; scenario {out['scenario']}",
        f"VCE decision time: {out['decision_us_per_user']:.2f} us/user = {out['decision_vs_target_0.1ms']:.3f} x the 0.1 ms target",
        f"VCE uploaded bytes (real, per image, {r.n_requests} requests): {r.vce_mean_real_bytes:.0f} B "
        f"= {out['vce_bytes_vs_paper_6KB']:.2f} x the paper's 6 KB   [choices made with the {qb} quality model]",
        "uncompressed condition (alpha = beta = 1) mean bytes: "
        + ", ".join(f"{k} {v:.0f}" for k, v in out["uncompressed_mean_bytes"].items())
        + f"  (resolved = {out['uncompressed_resolved_vs_paper_88KB']:.2f} x the paper's 88 KB)",
    ]
    if out["raw_image_mean_bytes"]:
        lines.append("raw image mean bytes: " + ", ".join(f"{k} {v:.0f}" for k, v in out["raw_image_mean_bytes"].items())
                     + " (paper 335 KB)")
    lines.append("Alg 1-2 mean real bytes by compression mode (Fig. 12(b)): "
                 + ", ".join(f"{k} {v:.0f}" for k, v in out["compression_mode_mean_real_bytes"].items()) + f"   [{qb}]")
    lines.append("VCE condition share: " + ", ".join(f"{k} {v:.1%}" for k, v in out["vce_condition_share"].items()))
    lines.append(
        f"Alg 1-2 vs exhaustive oracle [{qb}]: feasible {r.vce_feasible_rate:.1%} vs {r.oracle_feasible_rate:.1%}; "
        f"missed a feasible config {r.missed_feasible_rate:.1%}; same choice as min-bytes oracle {r.same_choice_rate:.1%}; "
        f"more bytes than it in {r.bytes_worse_rate:.1%} (mean excess {r.bytes_excess_mean:.1%}, p95 {r.bytes_excess_p95:.1%}); "
        f"utility below the max-utility oracle by {r.utility_shortfall_mean:.4f} mean, {r.utility_shortfall_max:.4f} max "
        f"(which uploads {r.oracle_max_utility_mean_real_bytes:.0f} B); min-bytes oracle uploads {r.oracle_min_bytes_mean_real_bytes:.0f} B; "
        f"restricted to Alg. 1's camp it uploads {r.camp_oracle_mean_real_bytes:.0f} B and VCE exceeds it in "
        f"{r.camp_bytes_worse_rate:.1%} of requests (mean excess {r.camp_bytes_excess_mean:.1%})")
    lines.append(f"slot sampler: {out['sampler_ms_per_slot']:.3f} ms per K={out['K']} slot")
    return "\n".join(lines)


__all__ = ["PAPER_RAW_BYTES", "PAPER_UNCOMPRESSED_BYTES", "PAPER_VCE_BYTES", "TARGET_DECISION_S", "VceBench",
           "VceBenchConfig", "format_vce_report", "mean_real_bytes", "run_vce_bench"]

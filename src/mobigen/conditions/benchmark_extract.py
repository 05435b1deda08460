"""The extraction/compression benchmark behind ``mobigen bench extract``, figures from one run:

1. raw source image bytes (the data set's JPEG files, and PNG as the AaaS baseline uploads them);
2. extraction time per condition type (models warm) on evenly spaced images;
3. mean condition bytes per (λ, α, β) from the profile table, and the "uncompressed" condition (α = β = 1);
4. the codec comparison: least mean bytes over α × β that reaches a fidelity target, per codec, and the
   saving of PNG / WebP against JPEG.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mobigen.conditions.benchmark_vce import PAPER_RAW_BYTES, PAPER_UNCOMPRESSED_BYTES
from mobigen.errors import UserError

SHOW_ALPHAS = (0.25, 0.5, 1.0)
"""α levels shown in the bytes table."""
SHOW_BETAS = (0.2, 0.6, 1.0)
"""β levels shown in the bytes table."""
TARGETS = (0.8, 0.9, 0.95, 0.99)
"""Fidelity targets of the codec comparison."""
RAW_RGB24_BYTES = 512 * 512 * 3
"""Bytes of an uncompressed 512 x 512 24-bit image."""


@dataclass(frozen=True)
class ExtractBenchConfig:
    """What ``mobigen bench extract`` runs."""

    dataset: str | None = None
    """Image folder; None: ``settings.dataset_dir()``."""
    images: int = 10
    """Images (evenly spaced) for timing and the codec comparison."""
    profile: str | None = None
    """Profile table for the bytes summary; None: the shipped one."""
    threads: int = 1
    """Torch threads for PiDiNet."""

    def __post_init__(self) -> None:
        if self.images < 1:
            raise ValueError(f"images: must be >= 1, got {self.images}")
        if self.threads < 1:
            raise ValueError(f"threads: must be >= 1, got {self.threads}")


@dataclass(frozen=True)
class ExtractBench:
    """The benchmark's result: ``figures`` is what ``--json`` writes; the rest is for the printed table."""

    figures: dict[str, Any]
    """The JSON-ready figures."""
    n_readable: int
    """Data-set files that could be read."""
    n_timed: int
    """Images timed and used in the codec comparison."""
    threads: int
    """Torch threads used."""
    bytes_rows: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    """(λ, codec) -> the printed cells 'bytes(fidelity)' of the bytes table."""


def frontier_bytes(frame: Any, target: float) -> float:
    """Least mean bytes over configurations whose mean fidelity reaches ``target`` (nan if none)."""
    ok = frame[frame["fidelity"] >= target]
    return float(ok["bytes"].min()) if len(ok) else float("nan")


def dataset_files(dataset: str | None) -> tuple[Path, list[Path]]:
    """The image folder and its images; ValueError when there are none."""
    from mobigen.conditions.profiler import list_images
    from mobigen.settings import dataset_dir

    root = dataset_dir(dataset)
    files = list_images(root)
    if not files:
        raise ValueError(f"dataset: no images under '{root}'")
    return root, files


def raw_image_bytes(root: Path, files: list[Path], png_bytes: Callable[[Path], int]) -> tuple[dict[str, Any], list[Path]]:
    """Step 1: raw source image bytes — the data set files as stored (JPEG q90) and re-encoded as PNG by
    ``png_bytes`` (the command passes the AaaS baseline's own measure of its raw upload: Pillow PNG, level 6;
    passed in because experiments/ sits above conditions/). Unreadable files are skipped (listed in the
    figures); returns the figures and the readable files."""
    from mobigen.conditions.images import ImageError

    jpeg_sizes, png_sizes, bad = [], [], []
    for p in files:
        try:
            png_sizes.append(png_bytes(p))
        except ImageError as exc:
            bad.append((p.relative_to(root).as_posix(), str(exc)))
            continue
        jpeg_sizes.append(p.stat().st_size)
    if not png_sizes:  # the user's data set, not a bug
        raise UserError(f"dataset: no readable images under '{root}' ({len(bad)} skipped)")
    figures = {"jpeg_q90_file_mean": float(np.mean(jpeg_sizes)), "png_mean": float(np.mean(png_sizes)),
               "rgb24_uncompressed": RAW_RGB24_BYTES, "paper": PAPER_RAW_BYTES, "skipped": bad}
    bad_paths = {b for b, _ in bad}
    return figures, [p for p in files if p.relative_to(root).as_posix() not in bad_paths]


def extraction_times(imgs: list[np.ndarray]) -> dict[str, dict[str, Any]]:
    """Step 2: seconds per extraction of each condition type, models warmed on the first image."""
    from mobigen.conditions.extractors import get_extractor
    from mobigen.scenario import CONDITIONS

    ext = {c: get_extractor(c) for c in CONDITIONS}
    for e in ext.values():
        e(imgs[0])
    times: dict[str, list[float]] = {c: [] for c in CONDITIONS}
    for img in imgs:
        for c, e in ext.items():
            t0 = time.perf_counter()
            e(img)
            times[c].append(time.perf_counter() - t0)
    return {c: {"mean": statistics.mean(v), "median": statistics.median(v), "backend": ext[c].backend}
            for c, v in times.items()}


def bytes_by_config(profile: str | None) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any],
                                                  dict[tuple[str, str], list[str]]]:
    """Step 3: mean bytes and fidelity per (λ, codec, α, β) of the profile table (all its images), the
    uncompressed condition (α = β = 1, JPEG) and the printed cells; returns (profile info, rows,
    uncompressed, cells)."""
    from mobigen.scenario import CONDITIONS
    from mobigen.system.profile import ProfileTable, default_profile_path

    path = profile or default_profile_path()
    table = ProfileTable.load(path)
    s = table.summary()
    info = {"path": str(path), "n_images": table.meta.get("n_images")}
    rows: dict[str, Any] = {}
    cells: dict[tuple[str, str], list[str]] = {}
    for c in CONDITIONS:
        for cname in sorted(s[s.condition == c]["codec"].unique()):
            line = cells.setdefault((c, cname), [])
            for a in SHOW_ALPHAS:
                for b in SHOW_BETAS:
                    r = s[(s.condition == c) & (s.codec == cname) & (s.alpha == a) & (s.beta == b)]
                    v = float(r["bytes"].iloc[0]) if len(r) else float("nan")
                    f = float(r["fidelity"].iloc[0]) if len(r) else float("nan")
                    rows[f"{c}/{cname}/a{a}/b{b}"] = {"bytes": v, "fidelity": f}
                    line.append(f"{v / 1000:6.1f}K({f:.2f})")
    unc = s[(s.codec == "jpeg") & (s.alpha == 1.0) & (s.beta == 1.0)].set_index("condition")["bytes"]
    uncompressed = {"jpeg_a1_b1_mean_over_types": float(unc.mean()), "per_type": {k: float(v) for k, v in unc.items()},
                    "rgb24_raw": RAW_RGB24_BYTES, "paper": PAPER_UNCOMPRESSED_BYTES}
    return info, rows, uncompressed, cells


def codec_comparison(root: Path, sample: list[Path], imgs: list[np.ndarray]) -> dict[str, dict[str, Any]]:
    """Step 4: every codec on the sample over all α x β; per λ and fidelity target, the least mean bytes of
    each codec and the saving of PNG / WebP against JPEG (nan when a codec never reaches the target)."""
    import pandas as pd

    from mobigen.conditions import codec as codec_mod
    from mobigen.conditions.profiler import ROW_COLUMNS, profile_image
    from mobigen.scenario import ALPHAS, BETAS, CONDITIONS

    all_codecs = {c: codec_mod.CODECS for c in CONDITIONS}
    rows_all = []
    for p, img in zip(sample, imgs):
        rows_all += profile_image(img, p.relative_to(root).as_posix(), conditions=CONDITIONS, alphas=ALPHAS,
                                  betas=BETAS, codecs=all_codecs)
    fr = pd.DataFrame(rows_all, columns=list(ROW_COLUMNS))
    means = fr.groupby(["condition", "codec", "alpha", "beta"])[["bytes", "fidelity"]].mean().reset_index()
    comp: dict[str, dict[str, Any]] = {}
    for c in CONDITIONS:
        comp[c] = {}
        for t in TARGETS:
            jb = frontier_bytes(means[(means.condition == c) & (means.codec == "jpeg")], t)
            entry = {"jpeg": jb}
            for alt in ("png", "webp"):
                ab = frontier_bytes(means[(means.condition == c) & (means.codec == alt)], t)
                entry[alt] = ab
                entry[f"{alt}_saving"] = 1 - ab / jb if jb == jb and ab == ab else float("nan")
            comp[c][str(t)] = entry
    return comp


def run_extract_bench(cfg: ExtractBenchConfig, png_bytes: Callable[[Path], int]) -> ExtractBench:
    """Run the four steps of the module docstring (``png_bytes``: see :func:`raw_image_bytes`)."""
    import torch

    from mobigen.conditions.images import load_image, to_512

    torch.set_num_threads(cfg.threads)
    root, files = dataset_files(cfg.dataset)
    out: dict[str, Any] = {"dataset": str(root), "n_dataset_files": len(files)}
    out["raw_image_bytes"], files = raw_image_bytes(root, files, png_bytes)
    step = max(1, len(files) // cfg.images)
    sample = files[::step][: cfg.images]
    imgs = [to_512(load_image(p)) for p in sample]
    out["extract_s"] = extraction_times(imgs)
    out["profile"], out["bytes_by_config"], out["uncompressed_condition_bytes"], cells = bytes_by_config(cfg.profile)
    out["codec_comparison"] = codec_comparison(root, sample, imgs)
    return ExtractBench(figures=out, n_readable=len(files), n_timed=len(imgs), threads=cfg.threads, bytes_rows=cells)


def _kb(b: float) -> str:
    return "  never" if b != b else f"{b / 1000:6.2f}K"


def format_extract_report(res: ExtractBench) -> str:
    """The printed report of ``mobigen bench extract``."""
    out = res.figures
    raw = out["raw_image_bytes"]
    bad = raw["skipped"]
    lines = [f"raw 512x512 source image ({res.n_readable} files): JPEG q90 file {raw['jpeg_q90_file_mean'] / 1000:.1f} KB, "
             f"PNG {raw['png_mean'] / 1000:.1f} KB, 24-bit raw {RAW_RGB24_BYTES / 1000:.1f} KB "
             f"(paper: ≈ {PAPER_RAW_BYTES / 1000:.0f} KB)"
             + (f"; skipped {len(bad)} unreadable file(s)" if bad else "")]
    ex = out["extract_s"]
    lines.append(f"\nextraction time per 512x512 image ({res.n_timed} images, warm, {res.threads} thread(s)):")
    base = ex["canny"]["median"]
    for c, v in ex.items():
        lines.append(f"  {c:6s} {v['backend']:24s} median {v['median'] * 1000:8.1f} ms  mean {v['mean'] * 1000:8.1f} ms  "
                     f"({v['median'] / base:7.1f}x canny)")
    lines.append(f"\nmean condition bytes per (λ, α, β) over {out['profile']['n_images']} images "
                 f"(profile {out['profile']['path']}):")
    for (c, cname), cells in res.bytes_rows.items():
        lines.append(f"  {c:6s} {cname:5s} " + " ".join(cells))
    lines.append("  columns: α∈" + str(SHOW_ALPHAS) + " × β∈" + str(SHOW_BETAS) + ", each 'bytes(fidelity)'")
    unc = out["uncompressed_condition_bytes"]
    lines.append(f"\n'uncompressed' condition (α=1, β=1, JPEG q95): mean over types "
                 f"{unc['jpeg_a1_b1_mean_over_types'] / 1000:.1f} KB "
                 f"({', '.join(f'{k} {v / 1000:.1f}' for k, v in unc['per_type'].items())}); "
                 f"raw 24-bit {RAW_RGB24_BYTES / 1000:.0f} KB; paper ≈ {PAPER_UNCOMPRESSED_BYTES / 1000:.0f} KB")
    lines.append(f"\ncodec comparison ({res.n_timed} images; least mean bytes over α×β reaching a mean fidelity; "
                 f"saving vs JPEG):")
    for c, per_target in out["codec_comparison"].items():
        for t, entry in per_target.items():
            parts = [f"jpeg {_kb(entry['jpeg'])}"]
            for alt in ("png", "webp"):
                saving = entry[f"{alt}_saving"]
                parts.append(f"{alt} {_kb(entry[alt])} ({'  n/a' if saving != saving else f'{saving:+.0%}'})")
            lines.append(f"  {c:6s} F>={float(t):.2f}: " + "  ".join(parts))
    return "\n".join(lines)


__all__ = ["ExtractBench", "ExtractBenchConfig", "format_extract_report", "frontier_bytes", "run_extract_bench"]

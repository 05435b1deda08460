"""`mobigen bench extract`: extraction time per type, condition bytes per (λ, α, β), raw image
bytes, and the bytes saved by the alternative codecs at equal fidelity — figures from one run."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "benchmark condition extraction (time per type) and compression (bytes per λ, α, β; codec savings)"

SHOW_ALPHAS = (0.25, 0.5, 1.0)
SHOW_BETAS = (0.2, 0.6, 1.0)
TARGETS = (0.8, 0.9, 0.95, 0.99)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", default=None, help="image folder (default: settings.dataset_dir())")
    parser.add_argument("--images", type=int, default=10, help="images (evenly spaced) for timing and the codec comparison (default 10)")
    parser.add_argument("--profile", default=None, help="profile table for the bytes summary (default: the shipped one)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for PiDiNet (default 1)")
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")


def _frontier_bytes(frame, target: float) -> float:  # type: ignore[no-untyped-def]
    """Least mean bytes over configurations whose mean fidelity reaches ``target`` (nan if none)."""
    ok = frame[frame["fidelity"] >= target]
    return float(ok["bytes"].min()) if len(ok) else float("nan")


def _kb(b: float) -> str:
    return "  never" if b != b else f"{b / 1000:6.2f}K"


def run(args: argparse.Namespace) -> int:
    import json
    import statistics
    import time

    import numpy as np
    import torch

    from mobigen.conditions import codec as codec_mod
    from mobigen.conditions.extractors import get_extractor
    from mobigen.conditions.images import load_image, to_512
    from mobigen.conditions.profiler import list_images, profile_image
    from mobigen.scenario import ALPHAS, BETAS, CONDITIONS
    from mobigen.settings import dataset_dir
    from mobigen.system.profile import ProfileTable, default_profile_path

    if args.images < 1:
        raise ValueError(f"images: must be >= 1, got {args.images}")
    if args.threads < 1:
        raise ValueError(f"threads: must be >= 1, got {args.threads}")
    if args.json is not None and Path(args.json).is_dir():
        raise ValueError(f"--json: '{args.json}' is a folder; give a file name")
    torch.set_num_threads(args.threads)
    root = dataset_dir(args.dataset)
    files = list_images(root)
    if not files:
        raise ValueError(f"dataset: no images under '{root}'")
    out: dict = {"dataset": str(root), "n_dataset_files": len(files)}

    # Raw source image bytes: the data set files as stored (JPEG q90) and re-encoded as PNG, measured
    # exactly as the AaaS baseline measures its raw upload (Pillow PNG, level 6). Bad files are skipped.
    from mobigen.conditions.images import ImageError
    from mobigen.experiments.baselines.aaas import png_bytes

    jpeg_sizes, png_sizes, bad = [], [], []
    for p in files:
        try:
            png_sizes.append(png_bytes(p))
        except ImageError as exc:
            bad.append((p.relative_to(root).as_posix(), str(exc)))
            continue
        jpeg_sizes.append(p.stat().st_size)
    if not png_sizes:
        raise ValueError(f"dataset: no readable images under '{root}' ({len(bad)} skipped)")
    out["raw_image_bytes"] = {"jpeg_q90_file_mean": float(np.mean(jpeg_sizes)), "png_mean": float(np.mean(png_sizes)),
                              "rgb24_uncompressed": 512 * 512 * 3, "paper": 335_000, "skipped": bad}
    print(f"raw 512x512 source image ({len(png_sizes)} files): JPEG q90 file {np.mean(jpeg_sizes) / 1000:.1f} KB, "
          f"PNG {np.mean(png_sizes) / 1000:.1f} KB, 24-bit raw {512 * 512 * 3 / 1000:.1f} KB (paper: ≈ 335 KB)"
          + (f"; skipped {len(bad)} unreadable file(s)" if bad else ""))
    bad_paths = {b for b, _ in bad}
    files = [p for p in files if p.relative_to(root).as_posix() not in bad_paths]

    # Extraction time per type (models warm) on evenly spaced images.
    step = max(1, len(files) // args.images)
    sample = files[::step][: args.images]
    imgs = [to_512(load_image(p)) for p in sample]
    ext = {c: get_extractor(c) for c in CONDITIONS}
    for e in ext.values():
        e(imgs[0])
    times: dict[str, list[float]] = {c: [] for c in CONDITIONS}
    for img in imgs:
        for c, e in ext.items():
            t0 = time.perf_counter()
            e(img)
            times[c].append(time.perf_counter() - t0)
    out["extract_s"] = {c: {"mean": statistics.mean(v), "median": statistics.median(v), "backend": ext[c].backend} for c, v in times.items()}
    print(f"\nextraction time per 512x512 image ({len(imgs)} images, warm, {args.threads} thread(s)):")
    base = statistics.median(times["canny"])
    for c, v in times.items():
        print(f"  {c:6s} {ext[c].backend:24s} median {statistics.median(v) * 1000:8.1f} ms  mean {statistics.mean(v) * 1000:8.1f} ms  ({statistics.median(v) / base:7.1f}x canny)")

    # Bytes per (λ, α, β) from the profile table (all images).
    table = ProfileTable.load(args.profile or default_profile_path())
    s = table.summary()
    out["profile"] = {"path": str(args.profile or default_profile_path()), "n_images": table.meta.get("n_images")}
    print(f"\nmean condition bytes per (λ, α, β) over {table.meta.get('n_images')} images (profile {out['profile']['path']}):")
    rows = {}
    for c in CONDITIONS:
        for cname in sorted(s[s.condition == c]["codec"].unique()):
            cells = []
            for a in SHOW_ALPHAS:
                for b in SHOW_BETAS:
                    r = s[(s.condition == c) & (s.codec == cname) & (s.alpha == a) & (s.beta == b)]
                    v = float(r["bytes"].iloc[0]) if len(r) else float("nan")
                    f = float(r["fidelity"].iloc[0]) if len(r) else float("nan")
                    rows[f"{c}/{cname}/a{a}/b{b}"] = {"bytes": v, "fidelity": f}
                    cells.append(f"{v / 1000:6.1f}K({f:.2f})")
            print(f"  {c:6s} {cname:5s} " + " ".join(cells))
    print("  columns: α∈" + str(SHOW_ALPHAS) + " × β∈" + str(SHOW_BETAS) + ", each 'bytes(fidelity)'")
    out["bytes_by_config"] = rows
    unc = s[(s.codec == "jpeg") & (s.alpha == 1.0) & (s.beta == 1.0)].set_index("condition")["bytes"]
    out["uncompressed_condition_bytes"] = {
        "jpeg_a1_b1_mean_over_types": float(unc.mean()), "per_type": {k: float(v) for k, v in unc.items()},
        "rgb24_raw": 512 * 512 * 3, "paper": 88_000,
    }
    print(f"\n'uncompressed' condition (α=1, β=1, JPEG q95): mean over types {unc.mean() / 1000:.1f} KB "
          f"({', '.join(f'{k} {v / 1000:.1f}' for k, v in unc.items())}); raw 24-bit {512 * 512 * 3 / 1000:.0f} KB; paper ≈ 88 KB")

    # Codec comparison on the sample: every codec, all α x β; least bytes to reach a fidelity target.
    import pandas as pd

    all_codecs = {c: codec_mod.CODECS for c in CONDITIONS}
    rows_all = []
    for p, img in zip(sample, imgs):
        rows_all += profile_image(img, p.relative_to(root).as_posix(), conditions=CONDITIONS, alphas=ALPHAS,
                                  betas=BETAS, codecs=all_codecs)
    fr = pd.DataFrame(rows_all, columns=["image", "condition", "alpha", "beta", "codec", "bytes", "fidelity", "extract_s"])
    means = fr.groupby(["condition", "codec", "alpha", "beta"])[["bytes", "fidelity"]].mean().reset_index()
    comp: dict = {}
    print(f"\ncodec comparison ({len(imgs)} images; least mean bytes over α×β reaching a mean fidelity; saving vs JPEG):")
    for c in CONDITIONS:
        comp[c] = {}
        for t in TARGETS:
            jb = _frontier_bytes(means[(means.condition == c) & (means.codec == "jpeg")], t)
            entry = {"jpeg": jb}
            parts = [f"jpeg {_kb(jb)}"]
            for alt in ("png", "webp"):
                ab = _frontier_bytes(means[(means.condition == c) & (means.codec == alt)], t)
                entry[alt] = ab
                saving = 1 - ab / jb if jb == jb and ab == ab else float("nan")
                entry[f"{alt}_saving"] = saving
                parts.append(f"{alt} {_kb(ab)} ({'  n/a' if saving != saving else f'{saving:+.0%}'})")
            comp[c][str(t)] = entry
            print(f"  {c:6s} F>={t:.2f}: " + "  ".join(parts))
    out["codec_comparison"] = comp
    if args.json:
        try:
            Path(args.json).write_text(json.dumps(out, indent=2), encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"--json: cannot write '{args.json}' ({exc.strerror or exc})") from None
        print(f"\nwrote {args.json}")
    return 0

"""`mobigen profile`: measure bytes, extraction time and fidelity of every λ x α x β x codec."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "profile condition extraction and compression (bytes, fidelity, time) over an image data set"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from mobigen.scenario import CONDITIONS

    parser.add_argument("--dataset", default=None, help="image folder (default: settings.dataset_dir(), the DreamBooth set)")
    parser.add_argument("--out", required=True, help="output table (.csv; a .json with metadata is written beside it)")
    parser.add_argument("--limit", type=int, default=None, help="profile only the first N images (sorted by path)")
    parser.add_argument("--conditions", nargs="+", default=list(CONDITIONS), metavar="λ", help=f"condition types (default: all of {', '.join(CONDITIONS)})")
    parser.add_argument("--codecs", nargs="+", default=None, metavar="CODEC",
                        help="codecs for every type (jpeg png webp); default: JPEG plus the best alternative per type")
    parser.add_argument("--weights", default=None, help="weights folder (default: settings.weights_dir())")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for PiDiNet (default 1)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    import torch

    from mobigen.conditions.profiler import profile_dataset
    from mobigen.settings import dataset_dir

    if args.threads < 1:
        raise ValueError(f"threads: must be >= 1, got {args.threads}")
    torch.set_num_threads(args.threads)
    dataset = dataset_dir(args.dataset)
    if not dataset.is_dir():
        raise ValueError(f"dataset: '{dataset}' is not a folder")
    out = Path(args.out)
    if out.is_dir():
        raise ValueError(f"--out: '{out}' is a folder; give a file name such as {out / 'profile.csv'}")
    try:  # fail now, not after a long run
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"--out: cannot create folder '{out.parent}' ({exc.strerror or exc})") from None
    table, skipped = profile_dataset(dataset, conditions=args.conditions, codecs=args.codecs, limit=args.limit,
                                     progress=not args.no_progress, weights_dir=args.weights)
    if table.frame.empty:
        _print_skipped(skipped)
        raise ValueError(f"dataset: no usable image in '{dataset}' ({table.meta['n_files']} image file(s) found, "
                         f"{len(skipped)} skipped); nothing written")
    path = table.save(args.out)
    summary = table.summary()
    print(f"profiled {table.meta['n_images']} images ({len(table.frame)} rows) -> {path} (+ {path.with_suffix('.json').name})")
    print("extractor backends: " + ", ".join(f"{k}={v}" for k, v in table.meta["extractor_backends"].items()))
    for cond, grp in summary.groupby("condition"):
        t = table.frame[table.frame["condition"] == cond]["extract_s"].mean()
        print(f"  {cond:6s} extract {t * 1000:7.1f} ms/img  bytes {grp['bytes'].min():8.0f}..{grp['bytes'].max():8.0f}  "
              f"fidelity {grp['fidelity'].min():.3f}..{grp['fidelity'].max():.3f} ({table.meta['metric'][cond]})")
    _print_skipped(skipped)
    return 0


def _print_skipped(skipped: list[tuple[str, str]]) -> None:
    if skipped:
        print(f"skipped {len(skipped)} file(s):")
        for p, reason in skipped:
            print(f"  {p}: {reason}")

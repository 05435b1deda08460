"""`mobigen profile`: measure bytes, extraction time and fidelity of every λ x α x β x codec."""

from __future__ import annotations

import argparse
from pathlib import Path

from mobigen.commands._common import CODECS, CONDITIONS, UserError, add_progress_option, progress_enabled, user_errors

HELP = "profile condition extraction and compression (bytes, fidelity, time) over an image data set"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", default=None, help="image folder (default: settings.dataset_dir(), the DreamBooth set)")
    parser.add_argument("--out", required=True,
                        help="output table (.csv, or .csv.gz compressed; NAME.timing.csv with the extraction times "
                             "and NAME.json with the metadata are written beside it)")
    parser.add_argument("--limit", type=int, default=None, help="profile only the first N images (sorted by path)")
    parser.add_argument("--conditions", nargs="+", default=list(CONDITIONS), choices=CONDITIONS, metavar="λ",
                        help=f"condition types out of {', '.join(CONDITIONS)} (default: all)")
    parser.add_argument("--codecs", nargs="+", default=None, choices=CODECS, metavar="CODEC",
                        help=f"codecs for every type out of {', '.join(CODECS)}; default: JPEG plus the best alternative per type")
    parser.add_argument("--weights", default=None, help="weights folder (default: settings.weights_dir())")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for PiDiNet")
    add_progress_option(parser)


def run(args: argparse.Namespace) -> int:
    import torch

    from mobigen.conditions.profiler import profile_dataset
    from mobigen.settings import dataset_dir
    from mobigen.system.profile import table_paths

    with user_errors():  # 1. the flags, the data set folder and the output file the user named
        dataset, out = _validate(args, dataset_dir(args.dataset))
    torch.set_num_threads(args.threads)
    table, skipped = profile_dataset(dataset, conditions=args.conditions, codecs=args.codecs, limit=args.limit,
                                     progress=progress_enabled(args), weights_dir=args.weights)  # 2. the profile
    if table.frame.empty:
        _print_skipped(skipped)
        raise UserError(f"dataset: no usable image in '{dataset}' ({table.meta['n_files']} image file(s) found, "
                        f"{len(skipped)} skipped); nothing written")
    path = table.save(args.out)
    _, timing, meta = table_paths(path)
    summary = table.summary()
    print(f"profiled {table.meta['n_images']} images ({len(table.frame)} rows) -> {path} (+ {timing.name}, {meta.name})")
    print("extractor backends: " + ", ".join(f"{k}={v}" for k, v in table.meta["extractor_backends"].items()))
    for cond, grp in summary.groupby("condition"):
        t = table.frame[table.frame["condition"] == cond]["extract_s"].mean()
        print(f"  {cond:6s} extract {t * 1000:7.1f} ms/img  bytes {grp['bytes'].min():8.0f}..{grp['bytes'].max():8.0f}  "
              f"fidelity {grp['fidelity'].min():.3f}..{grp['fidelity'].max():.3f} ({table.meta['metric'][cond]})")
    _print_skipped(skipped)
    return 0


def _validate(args: argparse.Namespace, dataset: Path) -> tuple[Path, Path]:
    """Threads, the data set folder, and the output file (its folder created now, not after a long run)."""
    if args.threads < 1:
        raise ValueError(f"threads: must be >= 1, got {args.threads}")
    if not dataset.is_dir():
        raise ValueError(f"dataset: '{dataset}' is not a folder")
    out = Path(args.out)
    if out.is_dir():
        raise ValueError(f"--out: '{out}' is a folder; give a file name such as {out / 'profile.csv'}")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"--out: cannot create folder '{out.parent}' ({exc.strerror or exc})") from None
    return dataset, out


def _print_skipped(skipped: list[tuple[str, str]]) -> None:
    if skipped:
        print(f"skipped {len(skipped)} file(s):")
        for p, reason in skipped:
            print(f"  {p}: {reason}")

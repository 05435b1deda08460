"""`mobigen bench extract`: extraction time per type, condition bytes per (λ, α, β), raw image
bytes, and the bytes saved by the alternative codecs at equal fidelity — figures from one run.

The benchmark itself is :mod:`mobigen.conditions.benchmark_extract`; this module is its command line."""

from __future__ import annotations

import argparse

from mobigen.commands._common import add_json_option, check_json_path, json_to_stdout, text_stream, user_errors, write_json

HELP = "benchmark condition extraction (time per type) and compression (bytes per λ, α, β; codec savings)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", default=None, help="image folder (default: settings.dataset_dir())")
    parser.add_argument("--images", type=int, default=10, help="images (evenly spaced) for timing and the codec comparison")
    parser.add_argument("--profile", default=None, help="profile table for the bytes summary (default: the shipped one)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for PiDiNet")
    add_json_option(parser, help="also write the figures to PATH as JSON")


def run(args: argparse.Namespace) -> int:
    from mobigen.conditions.benchmark_extract import (ExtractBenchConfig, dataset_files, format_extract_report,
                                                      run_extract_bench)
    from mobigen.experiments.baselines.aaas import png_bytes

    with user_errors():  # the flags, the --json path, the data set folder the user named
        cfg = ExtractBenchConfig(dataset=args.dataset, images=args.images, profile=args.profile, threads=args.threads)
        check_json_path(args.json)
        dataset_files(cfg.dataset)
    res = run_extract_bench(cfg, png_bytes)
    out = text_stream(args.json)
    print(format_extract_report(res), file=out)
    write_json(res.figures, args.json)
    if args.json and not json_to_stdout(args.json):
        print(f"\nwrote {args.json}", file=out)
    return 0

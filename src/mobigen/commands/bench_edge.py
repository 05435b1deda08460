"""`mobigen bench edge`: batched against serial edge denoising — throughput, per-user latency, the
batch-time curve (issue 14). The benchmark itself is :mod:`mobigen.generation.edge_benchmark`."""

from __future__ import annotations

import argparse

from mobigen.commands._common import (add_torch_options, CONDITIONS, add_json_option, add_progress_option, check_json_path,
                                      progress_enabled, text_stream, user_errors, write_json)

HELP = "batched vs serial edge denoising: steps/s and per-user latency per batch size, and the batch-time curve"

UNET_FAMILIES: tuple[str, ...] = ("sd15", "sd21", "sdxl")
"""Families the batched edge runs (``generation.batched``; SD3.5 runs unbatched)."""


def _int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a comma list of integers, got {text!r}") from None


def _conditions(text: str) -> tuple[str, ...]:
    names = tuple(x.strip() for x in text.split(",") if x.strip())
    bad = [n for n in names if n not in CONDITIONS]
    if not names or bad:
        raise argparse.ArgumentTypeError(f"expected a comma list of {', '.join(CONDITIONS)}, got {text!r}")
    return names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_json_option(parser)
    parser.add_argument("--curve", metavar="PATH", default=None,
                        help="also write the measured batch-time curve alone as JSON (the scenario field "
                             "edge_batch_curve takes it as is)")
    parser.add_argument("--weights", metavar="DIR", help="local SD + ControlNet weights (default: tiny random components)")
    parser.add_argument("--family", default="sd15", choices=UNET_FAMILIES, help="model family")
    parser.add_argument("--conditions", type=_conditions, default=("canny",),
                        help="condition types the users take round-robin, comma list (default: canny)")
    parser.add_argument("--batches", type=_int_list, default=(1, 2, 5, 8), help="batch sizes, comma list (default: 1,2,5,8)")
    parser.add_argument("--steps", type=int, default=20, help="T, every user's schedule length")
    parser.add_argument("--edge-steps", type=int, default=10, help="edge steps per user (⌊o T⌋)")
    parser.add_argument("--size", type=int, default=512, help="condition/image side in pixels")
    parser.add_argument("--guidance", type=float, default=7.5, help="classifier-free guidance scale")
    parser.add_argument("--repeats", type=int, default=3, help="timing repetitions per batch size (best kept)")
    parser.add_argument("--seed", type=int, default=0, help="seed of user 0's z_T")
    add_torch_options(parser)
    add_progress_option(parser)


def run(args: argparse.Namespace) -> int:
    from mobigen.generation.edge_benchmark import EdgeBenchConfig, bench_components, format_edge_table, run_edge_bench

    with user_errors():  # the flags, the output paths and the weights folder the user named
        cfg = EdgeBenchConfig(weights=args.weights, family=args.family, conditions=args.conditions,
                              steps=args.steps, edge_steps=args.edge_steps, batches=args.batches, size=args.size,
                              guidance=args.guidance, repeats=args.repeats, seed=args.seed, device=args.device,
                              dtype=args.dtype, threads=args.threads, progress=progress_enabled(args))
        check_json_path(args.json)
        check_json_path(args.curve, flag="--curve")
        comps = bench_components(cfg)
    result = run_edge_bench(cfg, comps)
    out = text_stream(args.json)
    print(format_edge_table(result), file=out)
    write_json(result, args.json)
    if args.curve:
        write_json(result["batch_time_curve"], args.curve, flag="--curve")
        print(f"wrote {args.curve}", file=out)
    if args.json and args.json != "-":
        print(f"wrote {args.json}", file=out)
    return 0

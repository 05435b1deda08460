"""`mobigen bench split`: split denoising vs monolithic — exactness, wire bytes, compressed error, time ratio.

The benchmark itself is :mod:`mobigen.generation.benchmark`; this module is its command line."""

from __future__ import annotations

import argparse

from mobigen.commands._common import (add_torch_options, CONDITIONS, FAMILIES, SCHEDULERS, add_json_option, add_progress_option, check_json_path,
                                      json_to_stdout, progress_enabled, text_stream, user_errors, write_json)

HELP = "split denoising (Sec. IV-C): split-vs-monolithic error, wire bytes per format, compute-time ratio"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_json_option(parser)
    parser.add_argument("--weights", metavar="DIR", help="local SD + ControlNet weights (default: tiny random components)")
    parser.add_argument("--family", default="sd15", choices=FAMILIES, help="model family")
    parser.add_argument("--condition", default="canny", choices=CONDITIONS,
                        help="condition type (real weights need its ControlNet)")
    parser.add_argument("--steps", type=int, default=10, help="T, the schedule length")
    parser.add_argument("--splits", default="auto",
                        help="edge steps k to test: 'all', a comma list, or 'auto' (all for tiny, 5 points for real)")
    parser.add_argument("--size", type=int, default=512, help="condition/image side in pixels")
    parser.add_argument("--seed", type=int, default=0, help="seed of z_T")
    parser.add_argument("--prompt", default="a dog surrounded by sunflowers", help="text prompt")
    parser.add_argument("--scheduler", default=None, choices=SCHEDULERS,
                        help="splittable scheduler: ddim or euler (UNet families; default ddim), flowmatch_euler (sd35, its default)")
    parser.add_argument("--guidance", type=float, default=7.5, help="classifier-free guidance scale")
    parser.add_argument("--repeats", type=int, default=5, help="timing repetitions; the ratio uses the best of each")
    parser.add_argument("--images", type=int, default=10, help="DreamBooth images for image-byte sizes")
    add_torch_options(parser)
    add_progress_option(parser)


def run(args: argparse.Namespace) -> int:
    import torch

    from mobigen.generation.benchmark import (SplitBenchConfig, bench_components, format_split_table, parse_splits,
                                              run_split_bench)

    with user_errors():  # the flags, the --json path and the weights folder the user named
        cfg = SplitBenchConfig(weights=args.weights, family=args.family, condition=args.condition, steps=args.steps,
                               splits=args.splits, size=args.size, seed=args.seed, prompt=args.prompt,
                               scheduler=args.scheduler, guidance=args.guidance, repeats=args.repeats,
                               images=args.images, device=args.device, dtype=args.dtype, threads=args.threads,
                               progress=progress_enabled(args))
        parse_splits(cfg.splits, cfg.steps, cfg.weights is None)
        check_json_path(args.json)
        torch.set_num_threads(cfg.threads)
        comps = bench_components(cfg)
    result = run_split_bench(cfg, comps)
    out = text_stream(args.json)
    print(format_split_table(result), file=out)
    write_json(result, args.json)
    if args.json and not json_to_stdout(args.json):
        print(f"wrote {args.json}", file=out)
    return 0

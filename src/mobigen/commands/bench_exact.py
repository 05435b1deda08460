"""`mobigen bench exact`: the exact per-slot solver with and without its bounded E axis (issue 14).
The benchmark itself is :mod:`mobigen.control.exact_benchmark`."""

from __future__ import annotations

import argparse

from mobigen.commands._common import add_json_option, check_json_path, text_stream, user_errors, write_json

HELP = "exact solver: decision p50/p99 at several K, bounded E axis vs the full DP, same decisions checked"


def _int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a comma list of integers, got {text!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_json_option(parser)
    parser.add_argument("--users", type=_int_list, default=(5, 11, 50, 64, 128),
                        help="K values, comma list (default: 5,11,50,64,128)")
    parser.add_argument("--slots", type=int, default=50, help="seeded slots per K")
    parser.add_argument("--scenario", default="paper", help="scenario preset or file; num_users is set to each K")
    parser.add_argument("--seed", type=int, default=0, help="seed of the slots")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from mobigen.control.exact_benchmark import bench_exact, format_exact_table
    from mobigen.scenario import resolve
    from mobigen.workload import SlotSampler

    with user_errors():
        if args.slots < 1:
            raise ValueError(f"--slots must be >= 1, got {args.slots}")
        if not args.users or any(k < 1 or k > 1024 for k in args.users):
            raise ValueError(f"--users must be K values in 1..1024, got {list(args.users)}")
        check_json_path(args.json)
        base = resolve(args.scenario)
        scenarios = {k: base.replace(name=f"{base.name} K={k}", num_users=k) for k in args.users}
    slots = {}
    for k, sc in scenarios.items():
        sampler, rng = SlotSampler(sc), np.random.default_rng([args.seed, k])
        slots[k] = [sampler.sample(rng) for _ in range(args.slots)]
    result = bench_exact(slots) | {"scenario": base.name, "seed": args.seed}
    print(format_exact_table(result), file=text_stream(args.json))
    write_json(result, args.json)
    return 0

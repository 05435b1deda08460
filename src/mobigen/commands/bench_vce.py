"""`mobigen bench vce`: VCE's measured figures from one run (decision time, uploaded bytes vs the paper,
Algorithms 1-2 vs the exhaustive oracle, compression ablations, slot sampler time).

The benchmark itself is :mod:`mobigen.conditions.benchmark_vce`; this module is its command line.
Every quality number comes from the quality model named in the output ("surrogate" by default).
"""

from __future__ import annotations

import argparse

from mobigen.commands._common import add_json_option, check_json_path, text_stream, user_errors, write_json

HELP = "VCE decision time, uploaded bytes vs the paper, and Algorithms 1-2 vs the exhaustive oracle"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scenario", default="paper", help="scenario preset or file")
    parser.add_argument("--profile", default=None, help="profile table CSV (default: the shipped profile)")
    parser.add_argument("--users", type=int, default=20_000, help="users timed for the decision time")
    parser.add_argument("--draws-per-image", type=int, default=20, help="requests per profile image for bytes/oracle")
    parser.add_argument("--seed", type=int, default=0, help="seed of every draw")
    add_json_option(parser, help="write the figures as JSON to PATH (the text report then goes to stderr if PATH is '-')")


def run(args: argparse.Namespace) -> int:
    from mobigen.conditions.benchmark_vce import VceBenchConfig, format_vce_report, run_vce_bench
    from mobigen.experiments.baselines.aaas import default_raw_table_path
    from mobigen.scenario import resolve
    from mobigen.system.profile import ProfileTable
    from mobigen.workload import SlotSampler

    with user_errors():  # the flags, the scenario, the profile file and the --json path the user named
        cfg = VceBenchConfig(scenario=args.scenario, profile=args.profile, users=args.users,
                             draws_per_image=args.draws_per_image, seed=args.seed)
        sc = resolve(cfg.scenario)
        check_json_path(args.json)
        if cfg.profile is not None:  # a file the user named must load (the shipped one is the package's)
            ProfileTable.load(cfg.profile)
    res = run_vce_bench(cfg, sc, make_sampler=lambda vce: SlotSampler(sc, vce=vce), png_table=default_raw_table_path())
    print(format_vce_report(res), file=text_stream(args.json))
    write_json(res.figures, args.json)
    return 0

"""`mobigen bench <what>`: benchmarks, each in ``mobigen.commands.bench_<what>``."""

from __future__ import annotations

import argparse

HELP = "run a benchmark (controllers, split, vce, extract, multiedge ...) and report ratios from one run"

# Benchmark name -> module under mobigen.commands.
BENCHES: dict[str, str] = {
    "controllers": "bench_controllers",
    "split": "bench_split",
    "edge": "bench_edge",
    "exact": "bench_exact",
    "vce": "bench_vce",
    "extract": "bench_extract",
    "shaping": "bench_shaping",
    "fuzz": "bench_fuzz",
    "network": "bench_network",
    "multiedge": "bench_multiedge",
    "scaleout": "bench_scaleout",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from mobigen.commands._common import add_command_modules

    sub = parser.add_subparsers(dest="bench", metavar="WHAT", required=True)
    add_command_modules(sub, BENCHES, run_attr="_bench_run")


def run(args: argparse.Namespace) -> int:
    return int(args._bench_run(args) or 0)

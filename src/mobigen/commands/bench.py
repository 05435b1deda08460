"""`mobigen bench <what>`: benchmarks, each in ``mobigen.commands.bench_<what>``."""

from __future__ import annotations

import argparse
import importlib
import importlib.util

HELP = "run a benchmark (controllers, split, vce, extract ...) and report ratios from one run"

# Benchmark name -> module under mobigen.commands.
BENCHES: dict[str, str] = {
    "controllers": "bench_controllers",
    "split": "bench_split",
    "vce": "bench_vce",
    "extract": "bench_extract",
    "shaping": "bench_shaping",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="bench", metavar="WHAT", required=True)
    for name, module_name in BENCHES.items():
        full = f"mobigen.commands.{module_name}"
        if importlib.util.find_spec(full) is None:
            continue
        module = importlib.import_module(full)
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_bench_run=module.run)


def run(args: argparse.Namespace) -> int:
    return int(args._bench_run(args) or 0)

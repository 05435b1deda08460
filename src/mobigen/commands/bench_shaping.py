"""`mobigen bench shaping`: shaped transfer times on loopback vs the model's D / B (eqs. 2, 6, 7)."""

from __future__ import annotations

import argparse

HELP = "bandwidth shaping on loopback: measured uplink/downlink time over eq. (2)/(6)/(7)'s D / B, as ratios"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", default=None, help="write the results here")


def run(args: argparse.Namespace) -> int:
    import json

    from mobigen.serving.bandwidth_check import run_cases

    rows = run_cases()
    print(f"{'Mbps':>5} {'bytes':>8} {'model s':>8} {'up s':>8} {'up/model':>8} {'down s':>8} {'down/model':>10}")
    for r in rows:
        print(f"{r['mbps']:>5.1f} {r['bytes']:>8} {r['model_s']:>8.4f} {r['uplink_s']:>8.4f} {r['uplink_ratio']:>8.3f} "
              f"{r['downlink_s']:>8.4f} {r['downlink_ratio']:>10.3f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=2)
    return 0

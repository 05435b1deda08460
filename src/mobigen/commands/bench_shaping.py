"""`mobigen bench shaping`: shaped transfer times on loopback vs the model's D / B (eqs. 2, 6, 7)."""

from __future__ import annotations

import argparse

from mobigen.commands._common import add_json_option, check_json_path, text_stream, user_errors, write_json

HELP = "bandwidth shaping on loopback: measured uplink/downlink time over eq. (2)/(6)/(7)'s D / B, as ratios"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_json_option(parser)


def run(args: argparse.Namespace) -> int:
    from mobigen.serving.bandwidth_check import run_cases

    with user_errors():
        check_json_path(args.json)
    rows = run_cases()
    out = text_stream(args.json)
    print(f"{'Mbps':>5} {'bytes':>8} {'model s':>8} {'up s':>8} {'up/model':>8} {'down s':>8} {'down/model':>10}", file=out)
    for r in rows:
        print(f"{r['mbps']:>5.1f} {r['bytes']:>8} {r['model_s']:>8.4f} {r['uplink_s']:>8.4f} {r['uplink_ratio']:>8.3f} "
              f"{r['downlink_s']:>8.4f} {r['downlink_ratio']:>10.3f}", file=out)
    write_json(rows, args.json)
    return 0

"""`mobigen demo --users K --out DIR`: an edge server and K mobile clients on loopback."""

from __future__ import annotations

import argparse

HELP = "run an edge server and K mobile clients on loopback with DreamBooth images; write images + summary.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--users", type=int, default=5, help="K, clients in the slot (default 5)")
    parser.add_argument("--out", required=True, help="output directory (images, summary.json)")
    parser.add_argument("--scenario", default="paper", help="scenario preset or file (default paper)")
    parser.add_argument("--controller", default=None, help="controller name (default: the server's default, exact)")
    parser.add_argument("--image-size", type=int, default=512, help="generated image side in pixels (default 512)")
    parser.add_argument("--seed", type=int, default=0, help="seed of images, prompts, ω, Q̃, bandwidths, z_T, tiny weights")
    parser.add_argument("--slot-ms", type=float, default=5000.0,
                        help="slot window (ms); the slot closes earlier once all K requests are in")
    parser.add_argument("--components", default=None,
                        help="'tiny' or a weights directory (default: MOBIGEN_SD_DIR if set, else tiny)")


def run(args: argparse.Namespace) -> int:
    import logging

    from mobigen.serving.demo import format_table, run_demo

    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per HTTP call would bury the table

    summary = run_demo(args.users, args.out, scenario=args.scenario, controller=args.controller,
                       image_size=args.image_size, seed=args.seed, slot_ms=args.slot_ms, components=args.components)
    print(format_table(summary))
    print(f"wrote {args.out}/summary.json and {len(summary['rows'])} images")
    return 0 if not summary["errors"] else 1

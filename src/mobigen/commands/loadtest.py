"""`mobigen loadtest --clients N --slots S --json FILE`: load test against an in-process loopback server."""

from __future__ import annotations

import argparse

HELP = "load-test an in-process loopback edge server: sent/answered/lost/duplicated, control-plane overhead p50/p99"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients N (default 50)")
    parser.add_argument("--slots", type=int, default=20, help="requests per client, one per slot (default 20)")
    parser.add_argument("--json", default=None, help="write the report here")
    parser.add_argument("--scenario", default="paper", help="scenario preset or file (default paper)")
    parser.add_argument("--controller", default=None, help="controller (default: the server's default, exact)")
    parser.add_argument("--max-users", type=int, default=None, help="K per slot (default N: one slot per round)")
    parser.add_argument("--slot-ms", type=float, default=2000.0, help="slot window in ms (default 2000)")
    parser.add_argument("--denoise", choices=("none", "tiny"), default="none",
                        help="'none' = CONTROL PLANE ONLY (default); 'tiny' = real tiny split denoising at 64 px (slow)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the request draws")


def run(args: argparse.Namespace) -> int:
    import json

    from mobigen.serving.loadtest import dump, run_loadtest

    report = run_loadtest(args.clients, args.slots, scenario=args.scenario, controller=args.controller,
                          max_users=args.max_users, slot_ms=args.slot_ms, denoise=args.denoise, seed=args.seed)
    if args.json:
        dump(report, args.json)
    show = {k: report[k] for k in ("mode", "clients", "slots_per_client", "max_users_K", "controller", "sent",
                                   "answered", "lost", "duplicated", "slots_formed", "overhead_ms",
                                   "overhead_excl_decision_ms", "processing_ms",
                                   "processing_excl_decision_ms", "processing_cpu_ms", "decision_ms", "rtt_ms", "wall_s", "load_average_1min_after")}
    print(json.dumps(show, indent=2))
    return 0 if report["lost"] == 0 and report["duplicated"] == 0 else 1

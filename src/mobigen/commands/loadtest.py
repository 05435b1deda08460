"""`mobigen loadtest --clients N --slots S --json FILE`: load test against an in-process loopback server."""

from __future__ import annotations

import argparse

from mobigen.commands._common import CONTROLLERS, add_json_option, check_json_path, text_stream, user_errors, write_json

HELP = "load-test an in-process loopback edge server: sent/answered/lost/duplicated, control-plane overhead p50/p99"

SHOWN = ("mode", "engine", "workers", "edge_max_batch", "image_size", "clients", "slots_per_client", "max_users_K",
         "controller", "sent", "answered", "lost", "duplicated", "retries_after_503",
         "slots_formed", "overhead_ms", "overhead_excl_decision_ms", "processing_ms", "processing_excl_decision_ms",
         "processing_cpu_ms", "decision_ms", "rtt_ms", "wall_s", "requests_per_s", "load_average_1min_after")
"""Report fields printed on the terminal (``--json`` writes all of them)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients N")
    parser.add_argument("--slots", type=int, default=20, help="requests per client, one per slot")
    add_json_option(parser, help="write the full report as JSON to PATH")
    parser.add_argument("--scenario", default="paper", help="scenario preset or file")
    parser.add_argument("--controller", default=None, choices=CONTROLLERS,
                        help="controller (default: the server's default, exact)")
    parser.add_argument("--max-users", type=int, default=None, help="K per slot (default N: one slot per round)")
    parser.add_argument("--slot-ms", type=float, default=2000.0, help="slot window in ms")
    parser.add_argument("--denoise", choices=("none", "tiny"), default="none",
                        help="'none' = CONTROL PLANE ONLY; 'tiny' = real tiny split denoising at 64 px (slow)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the request draws")
    parser.add_argument("--engine", choices=("embedded", "ray"), default="embedded",
                        help="serve in this process (embedded) or as a Ray Serve application on a local Ray (ray)")
    parser.add_argument("--workers", type=int, default=1, help="denoise workers (threads, or Ray Serve replicas)")
    parser.add_argument("--image-size", type=int, default=64, help="generated image side for --denoise tiny (px)")
    parser.add_argument("--edge-max-batch", type=int, default=None,
                        help="users per batched edge step (default the server's; 1 = serial, one user after another)")


def run(args: argparse.Namespace) -> int:
    import json

    from mobigen.serving.loadtest import loadtest_settings, run_loadtest

    with user_errors():  # the flags, the scenario, the --json path
        loadtest_settings(args.clients, args.slots, args.scenario, args.controller, args.max_users, args.slot_ms,
                          args.denoise, engine=args.engine, workers=args.workers, image_size=args.image_size,
                          edge_max_batch=args.edge_max_batch)
        check_json_path(args.json)
    report = run_loadtest(args.clients, args.slots, scenario=args.scenario, controller=args.controller,
                          max_users=args.max_users, slot_ms=args.slot_ms, denoise=args.denoise, seed=args.seed,
                          engine=args.engine, workers=args.workers, image_size=args.image_size,
                          edge_max_batch=args.edge_max_batch)
    write_json(report, args.json)
    print(json.dumps({k: report[k] for k in SHOWN}, indent=2), file=text_stream(args.json))
    return 0 if report["lost"] == 0 and report["duplicated"] == 0 else 1

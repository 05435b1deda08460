"""`mobigen bench scaleout`: Ray Serve workers 1 vs 2 throughput, and the slowest reply against the serial server.

The benchmark itself is :mod:`mobigen.serving.scaleout_bench` (one run, back-to-back load tests with
real tiny denoising); this module is its command line.
"""

from __future__ import annotations

import argparse

from mobigen.commands._common import add_json_option, check_json_path, text_stream, user_errors, write_json

HELP = "edge scale-out: Ray Serve worker replicas' throughput ratio and slowest reply vs the serial server (one run)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients N")
    parser.add_argument("--slots", type=int, default=3, help="requests per client")
    parser.add_argument("--max-users", type=int, default=8, help="K per slot")
    parser.add_argument("--slot-ms", type=float, default=500.0, help="slot window (ms)")
    parser.add_argument("--image-size", type=int, default=256, help="generated image side (px)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="Ray worker counts to compare")
    parser.add_argument("--edge-max-batch", type=int, default=1, help="users per batched edge step in the Ray runs")
    parser.add_argument("--no-serial-baseline", action="store_true", help="skip the embedded serial reference run")
    parser.add_argument("--seed", type=int, default=0, help="seed of the request draws")
    add_json_option(parser, help="write the figures as JSON to PATH")


def run(args: argparse.Namespace) -> int:
    import json

    from mobigen.serving.scaleout_bench import ScaleoutConfig, run_scaleout

    with user_errors():
        cfg = ScaleoutConfig(clients=args.clients, slots=args.slots, max_users=args.max_users, slot_ms=args.slot_ms,
                             image_size=args.image_size, workers=tuple(args.workers), edge_max_batch=args.edge_max_batch,
                             serial_baseline=not args.no_serial_baseline, seed=args.seed)
        check_json_path(args.json)
    res = run_scaleout(cfg)
    write_json(res, args.json)
    short = {name: {k: r[k] for k in ("requests_per_s", "slowest_reply_s", "lost", "duplicated")}
             for name, r in res["runs"].items()}
    print(json.dumps({"runs": short, "ratios": res["ratios"]}, indent=2), file=text_stream(args.json))
    return 0 if res["lost"] == 0 and res["duplicated"] == 0 else 1

"""`mobigen demo --users K --out DIR`: an edge server and K mobile clients on loopback."""

from __future__ import annotations

import argparse

from mobigen.commands._common import CONTROLLERS, add_json_option, check_json_path, text_stream, user_errors, write_json

HELP = "run an edge server and K mobile clients on loopback with DreamBooth images; write images + summary.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--users", type=int, default=5, help="K, clients in the slot")
    parser.add_argument("--out", required=True, help="output directory (images, summary.json)")
    parser.add_argument("--scenario", default="paper", help="scenario preset or file")
    parser.add_argument("--controller", default=None, choices=CONTROLLERS,
                        help="controller name (default: the server's default, exact)")
    parser.add_argument("--image-size", type=int, default=512, help="generated image side in pixels")
    parser.add_argument("--seed", type=int, default=0, help="seed of images, prompts, ω, Q̃, bandwidths, z_T, tiny weights")
    parser.add_argument("--slot-ms", type=float, default=5000.0,
                        help="slot window (ms); the slot closes earlier once all K requests are in")
    parser.add_argument("--components", default=None,
                        help="'tiny' or a weights directory (default: MOBIGEN_SD_DIR if set, else tiny)")
    parser.add_argument("--edges", type=int, default=1,
                        help="M edge sites behind the multi-edge gateway (issue 11); 1 = the one edge server")
    add_json_option(parser, help="also write summary.json's content to PATH")


def run(args: argparse.Namespace) -> int:
    import logging

    from mobigen.serving.demo import check_demo_inputs, format_table, run_demo

    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per HTTP call would bury the table
    kw = dict(scenario=args.scenario, controller=args.controller, image_size=args.image_size, seed=args.seed,
              slot_ms=args.slot_ms, components=args.components)
    with user_errors():  # the flags, the scenario, the data set
        check_demo_inputs(args.users, **kw)
        check_json_path(args.json)
    if getattr(args, "edges", 1) != 1:  # M sites behind the gateway (serving.gateway.demo)
        from mobigen.serving.gateway.demo import format_sites, run_multiedge_demo

        with user_errors():
            if not 1 <= args.edges <= 16:
                raise ValueError(f"--edges must lie in 1..16, got {args.edges}")
        summary = run_multiedge_demo(args.users, args.out, edges=args.edges, **kw)
    else:
        summary = run_demo(args.users, args.out, **kw)
    text = text_stream(args.json)
    print(format_table(summary), file=text)
    if "edges" in summary:
        print(format_sites(summary), file=text)
    print(f"wrote {args.out}/summary.json and {len(summary['rows'])} images", file=text)
    write_json(summary, args.json, default=str)
    return 0 if not summary["errors"] else 1

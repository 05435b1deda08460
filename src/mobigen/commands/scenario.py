"""`mobigen scenario show NAME|FILE`: print a resolved scenario as JSON."""

from __future__ import annotations

import argparse
import json

HELP = "show a scenario (preset name or TOML/YAML file) resolved, as JSON"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = sub.add_parser("show", help="print the resolved scenario as JSON")
    show.add_argument("scenario", help="preset (paper, users-N, low-end, low-end-N) or a .toml/.yaml file")
    sub.add_parser("list", help="list the presets")


def run(args: argparse.Namespace) -> int:
    from mobigen.scenario import preset_names, resolve

    if args.action == "list":
        for name in preset_names():
            print(name)
        return 0
    scenario = resolve(args.scenario)
    print(json.dumps(scenario.resolved(), indent=2, ensure_ascii=False))
    return 0

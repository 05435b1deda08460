"""`mobigen scenario show NAME|FILE [--format toml|yaml|json] [--explain]` and `mobigen scenario list`.

``show`` prints a scenario file that loads back to the same scenario (copy a preset, edit one
number, pass the file as ``--scenario``); ``--explain`` adds the derived per-user values and the
paper's open choices with their reasons (as comments in TOML/YAML, as keys in JSON).
"""

from __future__ import annotations

import argparse

from mobigen.commands._common import DefaultsHelpFormatter

HELP = "show a scenario (preset name or TOML/YAML/JSON file) as a file that loads back, or list the presets"

FORMATS: tuple[str, ...] = ("toml", "yaml", "json")
"""Output formats (``mobigen.scenario.FORMATS``; kept here so that ``--help`` imports no pydantic)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = sub.add_parser("show", help="print the scenario as a file that `--scenario FILE` reads back",
                          description="Print the scenario as a file that loads back to the same scenario.",
                          formatter_class=DefaultsHelpFormatter)
    show.add_argument("scenario", help="preset (paper, users-N, low-end, low-end-N) or a .toml/.yaml/.json file")
    show.add_argument("--format", choices=FORMATS, default="toml", help="output format")
    show.add_argument("--explain", action="store_true",
                      help="also print the derived per-user values and the open choices with their reasons "
                           "(comments in toml/yaml, which still load back; extra keys in json, which do not)")
    sub.add_parser("list", help="list the presets", formatter_class=DefaultsHelpFormatter)


def run(args: argparse.Namespace) -> int:
    from mobigen.scenario import format_scenario, preset_names, resolve

    if args.action == "list":
        for name in preset_names():
            print(name)
        return 0
    scenario = resolve(args.scenario)
    print(format_scenario(scenario, args.format, explain=args.explain), end="")
    return 0

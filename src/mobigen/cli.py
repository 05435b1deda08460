"""The ``mobigen`` command: one entry point, one subcommand per module in ``mobigen.commands``."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import sys

# Subcommand name -> module under mobigen.commands. Order is the order of `mobigen --help`.
COMMANDS: dict[str, str] = {
    "evaluate": "evaluate",
    "scenario": "scenario",
    "profile": "profile",
    "vce": "vce",
    "train": "train",
    "bench": "bench",
    "serve": "serve",
    "client": "client",
    "demo": "demo",
    "loadtest": "loadtest",
}


class UsageError(Exception):
    """A user error that the CLI reports in one line with exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mobigen",
        description="Distributed, controllable mobile text-to-image generation (Kong et al., IEEE TMC 2025).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_command_modules(sub, COMMANDS, run_attr="_run")
    return parser


def add_command_modules(sub: argparse._SubParsersAction, modules: dict[str, str], *, run_attr: str) -> None:
    """Add one subparser per existing ``mobigen.commands.<module>`` (``HELP``, ``add_arguments``, ``run``);
    the module's ``run`` is stored on the parsed namespace as ``run_attr``."""
    for name, module_name in modules.items():
        full = f"mobigen.commands.{module_name}"
        if importlib.util.find_spec(full) is None:
            continue
        module = importlib.import_module(full)
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(**{run_attr: module.run})


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except (UsageError, ValueError, FileNotFoundError) as exc:
        print(f"mobigen {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

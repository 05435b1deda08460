"""The ``mobigen`` command: one entry point, one subcommand per module in ``mobigen.commands``.

Exit status: 0 success; 1 a bug (one line, ``--debug`` for the traceback) or a command's own failure
(e.g. a server that refused the request); 2 a user error (:class:`mobigen.errors.UserError`: a bad flag,
file or preset, reported in one line) or a bad command line; 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
import traceback

from mobigen.commands._common import DefaultsHelpFormatter, add_command_modules, configure_logging, global_options
from mobigen.errors import UserError

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

DEBUG_HINT = "re-run with --debug for the traceback"


def version() -> str:
    """The installed distribution's version (``importlib.metadata``), else the package's own."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("mobigen")
    except PackageNotFoundError:
        from mobigen import __version__

        return f"{__version__} (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mobigen",
        description="Distributed, controllable mobile text-to-image generation (Kong et al., IEEE TMC 2025).",
        parents=[global_options(top=True)],
        formatter_class=DefaultsHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_command_modules(sub, COMMANDS, run_attr="_run")
    return parser


def _command_name(args: argparse.Namespace) -> str:
    parts = [getattr(args, "command", None), getattr(args, "bench", None) if args.command == "bench" else None]
    return " ".join(p for p in parts if p)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    name = _command_name(args)
    try:
        return int(args._run(args) or 0)
    except UserError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"mobigen {name}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader of stdout went away (`... --json - | head`): not a bug
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 1
    except Exception as exc:  # noqa: BLE001 - anything that is not a user error is a bug
        if args.debug:
            traceback.print_exc()
            print(f"mobigen {name}: internal error (a bug): {_one_line(exc)}", file=sys.stderr)
        else:
            print(f"mobigen {name}: internal error (a bug): {_one_line(exc)}; {DEBUG_HINT}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""Shared conventions of the ``mobigen`` subcommands (cheap to import: no torch, no numpy).

* ``--json PATH`` writes a command's machine-readable result to PATH, ``-`` meaning stdout
  (:func:`add_json_option`, :func:`check_json_path`, :func:`write_json`); while JSON goes to stdout
  the human-readable lines go to stderr (:func:`text_stream`), so stdout stays parseable.
* ``--no-progress`` hides progress bars; they are also off whenever stderr is not a terminal
  (:func:`add_progress_option`, :func:`progress_enabled`).
* User errors: validation wrapped in :func:`user_errors` turns ``ValueError`` / ``OSError`` into
  :class:`mobigen.errors.UserError` (exit status 2 in ``mobigen.cli``); anything else is a bug (exit 1).
* Choices of the flags that name a condition, codec, controller, model family ... (checked against the
  library's own tuples in ``tests/test_cli.py``; kept here so that ``mobigen --help`` imports no torch).
* Logging through ``tqdm.write`` (:class:`TqdmLoggingHandler`), so log lines do not break progress bars.
* Subcommand registration (:func:`add_command_modules`), shared by ``mobigen`` and ``mobigen bench``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from mobigen.errors import UserError

CONDITIONS: tuple[str, ...] = ("canny", "hed", "depth", "seg")
"""λ: condition types (``mobigen.scenario.CONDITIONS``)."""
CODECS: tuple[str, ...] = ("jpeg", "png", "webp")
"""Condition codecs (``mobigen.conditions.codec.CODECS``)."""
CONTROLLERS: tuple[str, ...] = ("ddc", "ddc-flat", "sac", "ppo", "exact", "random")
"""Controller names (``mobigen.control.registry.NAMES``)."""
FAMILIES: tuple[str, ...] = ("sd15", "sd21", "sdxl", "sd35")
"""Model families (``mobigen.generation.components.FAMILIES``)."""
SCHEDULERS: tuple[str, ...] = ("ddim", "euler", "flowmatch_euler")
"""Splittable schedulers (``mobigen.generation.denoise.SPLITTABLE_SCHEDULERS``)."""
LATENT_MODES: tuple[str, ...] = ("fp32", "fp16", "q8zstd")
"""Latent wire modes (``mobigen.generation.wire.LATENT_MODES``)."""

STDOUT = "-"
"""The ``--json`` value that means standard output."""


class DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows ``(default: X)`` after a flag's help unless the help already says its default, or the
    default is None/False (a flag that is off, or a value computed at run time and described in words)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        help_text = action.help or ""
        if "default" in help_text.lower() or any(action.default is d for d in (None, False, argparse.SUPPRESS)):
            return help_text
        if not action.option_strings:
            return help_text
        return help_text + " (default: %(default)s)"


# --- subcommand registration ------------------------------------------------------------------------

def global_options(*, top: bool) -> argparse.ArgumentParser:
    """``--debug`` and ``--verbose``, accepted before and after a subcommand (a parent parser). On subcommands
    their default is SUPPRESS, so that a flag given before the subcommand is not reset by the subparser."""
    p = argparse.ArgumentParser(add_help=False)
    default = False if top else argparse.SUPPRESS
    p.add_argument("--debug", action="store_true", default=default,
                   help="show the full traceback of an error (bugs and user errors)")
    p.add_argument("-v", "--verbose", action="store_true", default=default, help="log at DEBUG level")
    return p


def add_command_modules(sub: argparse._SubParsersAction, modules: dict[str, str], *, run_attr: str) -> None:
    """Add one subparser per existing ``mobigen.commands.<module>`` (``HELP``, ``add_arguments``, ``run``);
    the module's ``run`` is stored on the parsed namespace as ``run_attr``. Every subparser shows defaults
    in its help and accepts ``--debug`` / ``--verbose``. Used by ``mobigen`` and ``mobigen bench``."""
    for name, module_name in modules.items():
        full = f"mobigen.commands.{module_name}"
        if importlib.util.find_spec(full) is None:
            continue
        module = importlib.import_module(full)
        p = sub.add_parser(name, help=module.HELP, description=module.HELP, formatter_class=DefaultsHelpFormatter,
                           parents=[global_options(top=False)])
        module.add_arguments(p)
        p.set_defaults(**{run_attr: module.run})


# --- JSON output ----------------------------------------------------------------------------------

def add_json_option(parser: argparse.ArgumentParser, help: str = "write the results as JSON to PATH") -> None:  # noqa: A002
    """``--json PATH`` (``-`` for stdout); the parsed value is ``args.json`` (None when not given)."""
    parser.add_argument("--json", metavar="PATH", default=None, help=f"{help} ('-' for stdout)")


def json_to_stdout(path: str | None) -> bool:
    """Whether ``--json`` asks for standard output."""
    return path == STDOUT


def text_stream(path: str | None) -> TextIO:
    """Where the human-readable lines go: stderr while the JSON goes to stdout, else stdout."""
    return sys.stderr if json_to_stdout(path) else sys.stdout


def check_json_path(path: str | None, flag: str = "--json") -> None:
    """Refuse, before any work, a ``--json`` path that cannot be written: a folder, or a file in a folder
    that does not exist (like a shell redirection, no folder is created)."""
    if path is None or json_to_stdout(path):
        return
    p = Path(path)
    if p.is_dir():
        raise UserError(f"{flag}: '{path}' is a folder; give a file name")
    parent = p.resolve().parent
    if not parent.is_dir():
        raise UserError(f"{flag}: folder '{parent}' does not exist")


def write_json(obj: Any, path: str | None, *, flag: str = "--json", default: Any = None) -> None:
    """Write ``obj`` as indented JSON to ``path`` (``-``: stdout; None: nothing). ``default`` is
    ``json.dumps``'s hook for values JSON does not know."""
    if path is None:
        return
    text = json.dumps(obj, indent=2, ensure_ascii=False, default=default)
    if json_to_stdout(path):
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
        return
    check_json_path(path, flag)
    try:
        Path(path).write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{flag}: cannot write '{path}': {exc.strerror or exc}") from None


# --- progress bars ----------------------------------------------------------------------------------

def add_progress_option(parser: argparse.ArgumentParser) -> None:
    """``--no-progress``; see :func:`progress_enabled`."""
    parser.add_argument("--no-progress", action="store_true",
                        help="hide progress bars (they are also hidden when stderr is not a terminal)")


def stderr_is_terminal() -> bool:
    """Whether stderr is an interactive terminal (where progress bars are drawn)."""
    try:
        return bool(sys.stderr.isatty())
    except (AttributeError, ValueError):  # closed or replaced stream
        return False


def progress_enabled(args: argparse.Namespace) -> bool:
    """Progress bars on: not ``--no-progress`` and stderr is a terminal (a log file gets no bars)."""
    return not getattr(args, "no_progress", False) and stderr_is_terminal()


# --- torch benchmark flags ------------------------------------------------------------------------

def add_torch_options(parser: argparse.ArgumentParser) -> None:
    """``--device``, ``--dtype`` and ``--threads``: where and how a benchmark runs its networks."""
    parser.add_argument("--device", default="cpu", help="torch device")
    parser.add_argument("--dtype", default="float32", choices=("float32", "float16", "bfloat16"), help="network dtype")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: stable timings)")


# --- user errors ------------------------------------------------------------------------------------

@contextlib.contextmanager
def user_errors(prefix: str | None = None) -> Iterator[None]:
    """Inside this block, ``ValueError`` (validation) and ``OSError`` (a missing or unreadable file the user
    named) are user errors: re-raised as :class:`UserError` with the same message (``prefix: `` before it
    when given). Use it around argument and input validation only, never around the computation."""
    try:
        yield
    except UserError:
        raise
    except (ValueError, OSError) as exc:
        msg = str(exc) if not isinstance(exc, OSError) or not exc.strerror else _os_message(exc)
        raise UserError(f"{prefix}: {msg}" if prefix else msg) from exc


def _os_message(exc: OSError) -> str:
    return f"{exc.strerror}: '{exc.filename}'" if exc.filename else str(exc.strerror)


def require(condition: bool, message: str) -> None:
    """Raise :class:`UserError` with ``message`` unless ``condition``."""
    if not condition:
        raise UserError(message)


# --- logging ----------------------------------------------------------------------------------------

class TqdmLoggingHandler(logging.Handler):
    """A logging handler that writes through ``tqdm.write`` (to stderr), so INFO lines land above the
    progress bars instead of breaking them."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from tqdm import tqdm

            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)


def configure_logging(verbose: bool = False) -> None:
    """Root logger: one :class:`TqdmLoggingHandler` at INFO (DEBUG with ``--verbose``). Like
    ``logging.basicConfig``, it leaves a root logger that already has handlers (a host program's, pytest's)
    alone, except for replacing a handler of ours from an earlier call."""
    root = logging.getLogger()
    ours = [h for h in root.handlers if isinstance(h, TqdmLoggingHandler)]
    if len(ours) != len(root.handlers):
        return
    for h in ours:
        root.removeHandler(h)
    handler = TqdmLoggingHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)


__all__ = ["CODECS", "CONDITIONS", "CONTROLLERS", "DefaultsHelpFormatter", "FAMILIES", "LATENT_MODES",
           "SCHEDULERS", "STDOUT", "TqdmLoggingHandler", "UserError", "add_command_modules", "add_json_option",
           "add_progress_option", "add_torch_options", "check_json_path", "configure_logging", "global_options", "json_to_stdout",
           "progress_enabled", "require", "stderr_is_terminal", "text_stream", "user_errors", "write_json"]

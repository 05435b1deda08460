"""`mobigen evaluate [--quick] [--scenario NAME] [--seed S] --out DIR [--json PATH]`: Section VI end to end."""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import TextIO

from mobigen.commands._common import (
    UserError,
    add_json_option,
    add_progress_option,
    check_json_path,
    json_to_stdout,
    progress_enabled,
    require,
    text_stream,
    user_errors,
)

HELP = "reproduce the paper's evaluation (Sec. VI): all methods, figures, report.md and results.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="output folder (created) for results.json, report.md, PNGs")
    parser.add_argument("--scenario", default="paper",
                        help="preset (paper, users-N, low-end, low-end-N) or a .toml/.yaml file")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random draw")
    parser.add_argument("--quick", action="store_true", help="CI-sized run (fewer slots and user counts)")
    parser.add_argument("--slots", type=int, default=None,
                        help="override the main comparison's number of slots (500, or 40 with --quick)")
    add_json_option(parser, help="also write results.json's content to PATH")
    add_progress_option(parser)


def _table(results) -> tuple[list[str], list[list[str]]]:
    from mobigen.experiments.methods import METHOD_KEYS
    from mobigen.experiments.paper import PAPER

    backend = results.meta.quality_backend
    head = ["method", f"satisfaction ({backend})", "paper", f"QoE ({backend})", f"DS ({backend})", f"IR ({backend})",
            "uplink KB", "downlink KB", "latency s"]
    rows = []
    for k in METHOD_KEYS:
        s = results.methods.get(k)
        if s is None:
            continue
        p = PAPER.satisfaction.get(k)
        rows.append([s.label, f"{s.satisfaction:.1%}", f"{p:.0%}" if p else "—", f"{s.qoe:.3f}", f"{s.q_I:.3f}",
                     f"{s.q_T:.3f}", f"{s.uplink_kb:.1f}", f"{s.downlink_kb:.1f}", f"{s.latency_s:.2f}"])
    return head, rows


def print_table(results, file: TextIO | None = None) -> None:
    """The final table on the terminal (rich), to ``file`` (default stdout)."""
    from rich.console import Console
    from rich.table import Table

    head, rows = _table(results)
    t = Table(title=f"mobigen evaluate — quality backend: {results.meta.quality_backend}")
    for h in head:
        t.add_column(h, justify="right" if h != "method" else "left")
    for r in rows:
        t.add_row(*r)
    console = Console(file=file or sys.stdout)
    if not console.is_terminal or console.width < 130:
        console = Console(file=file or sys.stdout, width=150)
    console.print(t)


def command_line(args: argparse.Namespace) -> str:
    """The command that reproduces this run, rebuilt from the parsed arguments (not ``sys.argv``, which
    is the host program's when ``mobigen.cli.main`` is called from Python)."""
    parts = ["mobigen", "evaluate"]
    if args.quick:
        parts.append("--quick")
    parts += ["--scenario", args.scenario, "--seed", str(args.seed)]
    if args.slots is not None:
        parts += ["--slots", str(args.slots)]
    parts += ["--out", args.out]
    return " ".join(shlex.quote(str(a)) for a in parts)


def _config(args: argparse.Namespace):
    """Validate the arguments (user errors, before any work) and build the run's configuration."""
    from pathlib import Path

    from mobigen.experiments.runner import EvalConfig
    from mobigen.scenario import resolve

    require(args.seed >= 0, f"--seed: must be >= 0, got {args.seed}")
    require(args.slots is None or args.slots >= 1, f"--slots: must be >= 1, got {args.slots}")
    with user_errors("--scenario"):
        resolve(args.scenario)  # a bad name or file fails here with a message naming the field
    check_json_path(args.json)
    out = Path(args.out)
    require(not (out.exists() and not out.is_dir()), f"--out: '{out}' exists and is not a folder")
    try:  # fail now, not after the whole evaluation
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"--out: cannot create folder '{out}': {exc.strerror or exc}") from None
    kw = {"scenario": args.scenario, "seed": args.seed}
    if args.slots is not None:
        kw["slots"] = args.slots
    return EvalConfig.make(quick=args.quick, **kw), out


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mobigen.experiments.outputs import write_all
    from mobigen.experiments.runner import evaluate

    cfg, out = _config(args)
    ev = evaluate(cfg, progress=progress_enabled(args))
    figs = write_all(ev, out, command_line(args))
    text = (out / "results.json").read_text(encoding="utf-8")
    if json_to_stdout(args.json):
        sys.stdout.write(text + "\n")
    elif args.json is not None:
        with user_errors("--json"):
            Path(args.json).write_text(text + "\n", encoding="utf-8")
    stream = text_stream(args.json)
    print_table(ev.results, file=stream)
    r = ev.results
    print(f"quality numbers are {r.meta.quality_backend} numbers; wrote {out / 'report.md'}, {out / 'results.json'} "
          f"and {len(figs)} figures in {r.runtime.wall_s:.1f} s", file=stream)
    from mobigen.experiments.report import claims

    for c in claims(r):
        print(f"  [{'ok' if c.holds else 'NO'}] {c.claim}", file=stream)
    return 0

"""`mobigen evaluate [--quick] [--scenario NAME] [--seed S] --out DIR`: Section VI end to end."""

from __future__ import annotations

import argparse
import shlex

HELP = "reproduce the paper's evaluation (Sec. VI): all methods, figures, report.md and results.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="output folder (created) for results.json, report.md, PNGs")
    parser.add_argument("--scenario", default="paper", help="preset (paper, users-N, low-end, low-end-N) or a .toml/.yaml file")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random draw (default 0)")
    parser.add_argument("--quick", action="store_true", help="CI-sized run (fewer slots and user counts; ≤ 1 minute)")
    parser.add_argument("--slots", type=int, default=None, help="override the main comparison's number of slots")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")


def _table(results: dict) -> tuple[list[str], list[list[str]]]:
    from mobigen.experiments.report import ORDER, PAPER

    backend = results["meta"]["quality_backend"]
    head = ["method", f"satisfaction ({backend})", "paper", f"QoE ({backend})", f"DS ({backend})", f"IR ({backend})",
            "uplink KB", "downlink KB", "latency s"]
    rows = []
    for k in ORDER:
        s = results.get("methods", {}).get(k)
        if s is None:
            continue
        p = PAPER["satisfaction"].get(k)
        rows.append([s["label"], f"{s['satisfaction']:.1%}", f"{p:.0%}" if p else "—", f"{s['qoe']:.3f}", f"{s['q_I']:.3f}",
                     f"{s['q_T']:.3f}", f"{s['uplink_kb']:.1f}", f"{s['downlink_kb']:.1f}", f"{s['latency_s']:.2f}"])
    return head, rows


def print_table(results: dict) -> None:
    """The final table on the terminal (rich when available, plain text otherwise)."""
    head, rows = _table(results)
    try:
        from rich.console import Console
        from rich.table import Table

        t = Table(title=f"mobigen evaluate — quality backend: {results['meta']['quality_backend']}")
        for h in head:
            t.add_column(h, justify="right" if h != "method" else "left")
        for r in rows:
            t.add_row(*r)
        console = Console()
        if not console.is_terminal or console.width < 130:
            console = Console(width=150)
        console.print(t)
    except ImportError:  # pragma: no cover - rich is a dependency
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
        print("  ".join(h.ljust(w) for h, w in zip(head, widths)))
        for r in rows:
            print("  ".join(c.ljust(w) for c, w in zip(r, widths)))


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


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mobigen.experiments.outputs import write_all
    from mobigen.experiments.runner import EvalConfig, evaluate
    from mobigen.scenario import resolve

    if args.seed < 0:
        raise ValueError(f"--seed: must be >= 0, got {args.seed}")
    resolve(args.scenario)  # a bad name or file fails here with a message naming the field
    kw = {"scenario": args.scenario, "seed": args.seed}
    if args.slots is not None:
        if args.slots < 1:
            raise ValueError(f"--slots: must be >= 1, got {args.slots}")
        kw["slots"] = args.slots
    cfg = EvalConfig.make(quick=args.quick, **kw)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out: '{out}' exists and is not a folder")
    try:  # fail now, not after the whole evaluation
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"--out: cannot create folder '{out}': {exc.strerror or exc}") from exc
    ev = evaluate(cfg, progress=not args.no_progress)
    command = command_line(args)
    figs = write_all(ev, out, command)
    print_table(ev.results)
    backend = ev.results["meta"]["quality_backend"]
    print(f"quality numbers are {backend} numbers; wrote {out / 'report.md'}, {out / 'results.json'} and {len(figs)} figures "
          f"in {ev.results['runtime']['wall_s']:.1f} s")
    for c in ev.results.get("claims", []):
        print(f"  [{'ok' if c['holds'] else 'NO'}] {c['claim']}")
    return 0

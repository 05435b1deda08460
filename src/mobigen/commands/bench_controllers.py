"""`mobigen bench controllers`: DDC (set and flat), SAC, PPO, Exact and Random on the same held-out slots.

Controllers come from ``control.registry.resolve_controller``; one that falls back to Exact on any
slot prints no reward and no ratio: its row says which controller ran, on how many slots, and why
(JSON: ``fallback_slots``, ``ran_as``, ``slots_by_controller``, ``fallback_reason``)."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from mobigen.commands._common import (CONTROLLERS, UserError, add_json_option, add_progress_option, check_json_path,
                                      progress_enabled, text_stream, user_errors, write_json)

HELP = "controllers on the same held-out slots: reward vs Exact, violations before/after guard, latency"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scenario", default="paper", help="preset name or scenario file")
    parser.add_argument("--slots", type=int, default=1000, help="held-out slots")
    add_json_option(parser)
    parser.add_argument("--controllers", default=",".join(CONTROLLERS),
                        help=f"comma-separated names out of {', '.join(CONTROLLERS)}")
    parser.add_argument("--ddc", default=None, help="set-DDC checkpoint (default: the shipped one, any K)")
    parser.add_argument("--ddc-flat", default=None,
                        help="flat (paper-architecture) DDC checkpoint (default: the shipped paper one)")
    parser.add_argument("--sac", default=None, help="SAC checkpoint .zip (default: the shipped paper one)")
    parser.add_argument("--ppo", default=None, help="PPO checkpoint .zip (default: the shipped paper one)")
    parser.add_argument("--profile", default=None,
                        help="profile table (.csv or .csv.gz) for the slot sampler (default: the shipped data/profile.csv.gz)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random controller")
    add_progress_option(parser)


def run(args: argparse.Namespace) -> int:
    import torch

    from mobigen.control.benchmark import bench_controllers
    from mobigen.control.evaluation import heldout_slots
    from mobigen.scenario import resolve
    from mobigen.workload import SlotSampler

    with user_errors():  # 1. the flags, checkpoints, scenario, profile and --json path the user named
        names = _controller_names(args)
        check_json_path(args.json)
        sc = resolve(args.scenario)
        profile = _profile(args.profile)
    torch.set_num_threads(1)
    sampler = SlotSampler(sc) if profile is None else SlotSampler(sc, profile=profile)
    slots = heldout_slots(sampler, args.slots)  # 2. the held-out slots
    ctrls = _controllers(names, sc, args)  # 3. the controllers (a missing shipped checkpoint is reported)
    results = bench_controllers(ctrls, slots, progress=progress_enabled(args))  # 4. the benchmark
    backend = slots[0].quality_backend
    _print_table(results, sc.name, args.slots, backend, text_stream(args.json))
    write_json({"scenario": sc.name, "slots": args.slots, "quality_backend": backend, "controllers": results}, args.json)
    return 0


def _controller_names(args: argparse.Namespace) -> list[str]:
    """The names of --controllers (known, plus exact: the yardstick of reward_vs_exact); named checkpoints exist."""
    from pathlib import Path

    if args.slots < 1:
        raise ValueError(f"--slots must be >= 1, got {args.slots}")
    names = [n.strip() for n in args.controllers.split(",") if n.strip()]
    for n in names:
        if n not in CONTROLLERS:
            raise ValueError(f"--controllers: unknown controller '{n}' (known: {', '.join(CONTROLLERS)})")
    if "exact" not in names:
        names.append("exact")  # the yardstick of reward_vs_exact
    for n in ("ddc", "ddc-flat", "sac", "ppo"):  # a checkpoint the user named must exist (shipped ones may be missing)
        ckpt = _checkpoint_flag(args, n)
        if ckpt is not None and not Path(ckpt).is_file():
            raise ValueError(f"--{n}: checkpoint '{ckpt}' does not exist")
    return names


def _profile(path: str | None) -> Any:
    if path is None:
        return None
    from mobigen.system.profile import ProfileTable

    return ProfileTable.load(path)


def _controllers(names: list[str], sc: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Each controller, or the error of a shipped checkpoint that is missing (reported in its row); a checkpoint
    the user named that cannot be loaded is a user error naming the flag."""
    from mobigen.control.registry import resolve_controller

    ctrls: dict[str, Any] = {}
    for n in names:
        try:
            ctrls[n], _ = resolve_controller(n, sc, checkpoint=_checkpoint_flag(args, n), seed=args.seed)
        except (FileNotFoundError, ValueError) as exc:
            if _checkpoint_flag(args, n) is not None:  # a checkpoint the user named: refuse, naming the flag
                raise UserError(f"--{n}: {exc}") from exc
            ctrls[n] = exc  # a shipped checkpoint that is missing: report it, bench the others
    return ctrls


def _checkpoint_flag(args: argparse.Namespace, name: str) -> str | None:
    """The checkpoint flag of controller ``name`` (``--ddc-flat`` is ``args.ddc_flat``), None when not given."""
    return getattr(args, name.replace("-", "_"), None)


def _print_table(results: list[dict], scenario: str, n_slots: int, backend: str, out: TextIO) -> None:
    """The results as the terminal table."""
    print(f"scenario {scenario}, {n_slots} held-out slots, rewards eq. (26) on {backend} quality", file=out)
    print(f"{'controller':<10} {'reward':>8} {'vs exact':>8} {'viol':>5} {'viol+guard':>10} {'p50 ms':>8} {'p99 ms':>8}",
          file=out)
    for r in results:
        if "error" in r:
            print(f"{r['controller']:<10} unavailable: {r['error']}", file=out)
            continue
        if r.get("fallback_slots"):
            by = ", ".join(f"{k} on {v}" for k, v in r["slots_by_controller"].items() if v)
            print(f"{r['controller']:<10} did not run as itself: ran as {r['ran_as']} ({by} of {r['slots']} slots; "
                  f"{r.get('fallback_reason') or 'slots it was not trained for'}); no score", file=out)
            continue
        vs = "" if r["reward_vs_exact"] is None else f"{r['reward_vs_exact']:.3f}"
        print(f"{r['controller']:<10} {r['reward']:>8.4f} {vs:>8} {r['violations']:>5} {r['violations_after_guard']:>10} "
              f"{r['latency_ms_p50']:>8.3f} {r['latency_ms_p99']:>8.3f}", file=out)

"""`mobigen bench controllers`: DDC, SAC, PPO, Exact and Random on the same held-out slots."""

from __future__ import annotations

import argparse

HELP = "controllers on the same held-out slots: reward vs Exact, violations before/after guard, latency"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scenario", default="paper", help="preset name or scenario file (default: paper)")
    parser.add_argument("--slots", type=int, default=1000, help="held-out slots (default 1000)")
    parser.add_argument("--json", default=None, help="write the results to this JSON file")
    parser.add_argument("--controllers", default="ddc,sac,ppo,exact,random", help="comma-separated names")
    parser.add_argument("--ddc", default=None, help="DDC checkpoint (default: the shipped paper one)")
    parser.add_argument("--sac", default=None, help="SAC checkpoint .zip (default: the shipped paper one)")
    parser.add_argument("--ppo", default=None, help="PPO checkpoint .zip (default: the shipped paper one)")
    parser.add_argument("--profile", default=None,
                        help="profile table CSV for the slot sampler (default: the shipped data/profile.csv)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random controller")


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    import torch

    from mobigen.control.benchmark import bench_controllers
    from mobigen.control.evaluation import heldout_slots
    from mobigen.control.registry import NAMES, make_controller
    from mobigen.scenario import resolve
    from mobigen.workload import SlotSampler

    if args.slots < 1:
        raise ValueError(f"--slots must be >= 1, got {args.slots}")
    names = [n.strip() for n in args.controllers.split(",") if n.strip()]
    for n in names:
        if n not in NAMES:
            raise ValueError(f"--controllers: unknown controller '{n}' (known: {', '.join(NAMES)})")
    if "exact" not in names:
        names.append("exact")  # the yardstick of reward_vs_exact
    for n in ("ddc", "sac", "ppo"):  # a checkpoint the user named must exist (the shipped ones may be missing)
        ckpt = getattr(args, n, None)
        if ckpt is not None and not Path(ckpt).is_file():
            raise ValueError(f"--{n}: checkpoint '{ckpt}' does not exist")
    if args.json:
        try:  # fail now, not after the benchmark
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ValueError(f"--json: cannot create the folder of '{args.json}': {exc.strerror or exc}") from exc
        if Path(args.json).is_dir():
            raise ValueError(f"--json: '{args.json}' is a folder")
    torch.set_num_threads(1)
    sc = resolve(args.scenario)
    if args.profile:
        from mobigen.system.profile import ProfileTable

        sampler = SlotSampler(sc, profile=ProfileTable.load(args.profile))
    else:
        sampler = SlotSampler(sc)
    slots = heldout_slots(sampler, args.slots)
    ctrls = {}
    for n in names:
        try:
            ctrls[n] = make_controller(n, sc, checkpoint=getattr(args, n, None), seed=args.seed)
        except (FileNotFoundError, ValueError) as exc:
            if getattr(args, n, None) is not None:  # a checkpoint the user named: refuse, naming the flag
                raise ValueError(f"--{n}: {exc}") from exc
            ctrls[n] = exc  # a shipped checkpoint that is missing: report it, bench the others
    results = bench_controllers(ctrls, slots, progress=True)
    backend = slots[0].quality_backend
    print(f"scenario {sc.name}, {args.slots} held-out slots, rewards eq. (26) on {backend} quality")
    print(f"{'controller':<10} {'reward':>8} {'vs exact':>8} {'viol':>5} {'viol+guard':>10} {'p50 ms':>8} {'p99 ms':>8}")
    for r in results:
        if "error" in r:
            print(f"{r['controller']:<10} unavailable: {r['error']}")
            continue
        vs = "" if r["reward_vs_exact"] is None else f"{r['reward_vs_exact']:.3f}"
        print(f"{r['controller']:<10} {r['reward']:>8.4f} {vs:>8} {r['violations']:>5} {r['violations_after_guard']:>10} "
              f"{r['latency_ms_p50']:>8.3f} {r['latency_ms_p99']:>8.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"scenario": sc.name, "slots": args.slots, "quality_backend": backend,
                                               "controllers": results}, indent=2))
    return 0

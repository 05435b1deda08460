"""`mobigen train ddc|sac|ppo`: train a controller on a scenario with held-out evaluation."""

from __future__ import annotations

import argparse

HELP = "train a DRL controller (ddc, sac, ppo) on a scenario; logs test reward vs env steps"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("algo", choices=["ddc", "sac", "ppo"], help="which controller to train")
    parser.add_argument("--scenario", default="paper", help="preset name or scenario file (default: paper)")
    parser.add_argument("--steps", type=int, default=20_000, help="environment steps (slots) to train for")
    parser.add_argument("--seed", type=int, default=0, help="training seed (env, networks, exploration)")
    parser.add_argument("--out", required=True, help="output folder (CSV + TensorBoard logs, checkpoint)")
    parser.add_argument("--eval-slots", type=int, default=200, help="held-out slots per evaluation")
    parser.add_argument("--eval-every", type=int, default=1000, help="evaluate every this many env steps")
    parser.add_argument("--no-tensorboard", action="store_true", help="write only the CSV log")
    parser.add_argument("--hidden", type=int, default=None, help="DDC: hidden width (default from DDCConfig)")
    parser.add_argument("--xi", type=float, default=None, help="DDC: entropy weight ξ of eq. (27)")
    parser.add_argument("--profile", default=None,
                        help="profile table CSV for the slot sampler (default: the shipped data/profile.csv)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")


def run(args: argparse.Namespace) -> int:
    import dataclasses
    from pathlib import Path

    import torch

    from mobigen.control.ddc.algorithm import DDCConfig
    from mobigen.control.training import train
    from mobigen.scenario import resolve
    from mobigen.workload import make_env

    if args.steps < 1:
        raise ValueError(f"--steps must be >= 1, got {args.steps}")
    if args.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {args.threads}")
    if args.eval_slots < 1:
        raise ValueError(f"--eval-slots must be >= 1, got {args.eval_slots}")
    if args.eval_every < 1:
        raise ValueError(f"--eval-every must be >= 1, got {args.eval_every}")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out: '{out}' exists and is not a folder")
    try:  # fail now, not after training
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"--out: cannot create folder '{out}': {exc.strerror or exc}") from exc
    torch.set_num_threads(args.threads)
    sc = resolve(args.scenario)
    cfg = DDCConfig()
    changes = {k: v for k, v in (("hidden", args.hidden), ("xi", args.xi)) if v is not None}
    cfg = dataclasses.replace(cfg, **changes)
    if args.profile:
        from mobigen.system.profile import ProfileTable

        env = make_env(sc, profile=ProfileTable.load(args.profile))
    else:
        env = make_env(sc)
    res = train(args.algo, env, steps=args.steps, seed=args.seed, out_dir=args.out, eval_slots=args.eval_slots,
                eval_every=args.eval_every, ddc_config=cfg, tensorboard=not args.no_tensorboard)
    backend = env.unwrapped.sampler.quality.backend if hasattr(env.unwrapped.sampler, "quality") else "unknown"
    print(f"{args.algo} seed {args.seed}: held-out reward {res.final_reward:.4f} = "
          f"{res.final_reward / res.exact_reward:.3f} × Exact ({res.exact_reward:.4f}) "
          f"[{backend} quality], {res.wall_s:.0f} s")
    print(f"checkpoint: {res.checkpoint}\nlog: {res.csv}")
    return 0

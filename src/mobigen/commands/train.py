"""`mobigen train ddc|ddc-flat|sac|ppo`: train a controller with held-out evaluation.

``ddc`` is the set-structured DDC (``control.ddc_set``): one run over the mixture of K and scenarios
(``control.ddc_set.mixture``), reproducible from ``--seed``. ``ddc-flat`` (the paper's flat-MLP DDC),
``sac`` and ``ppo`` train for one scenario (``--scenario``, default ``paper``).
"""

from __future__ import annotations

import argparse

from mobigen.commands._common import (add_json_option, add_progress_option, check_json_path, progress_enabled,
                                      text_stream, user_errors, write_json)

HELP = "train a DRL controller (ddc: the set DDC over a mixture of K and scenarios; ddc-flat, sac, ppo: one scenario)"
ALGOS = ("ddc", "ddc-flat", "sac", "ppo")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("algo", choices=ALGOS, help="which controller to train")
    parser.add_argument("--scenario", default=None,
                        help="preset name or scenario file (ddc-flat, sac, ppo; default paper). ddc trains on its "
                             "mixture of scenarios")
    parser.add_argument("--steps", type=int, default=None,
                        help="environment steps (slots) to train for (default: 20000; ddc: 24000)")
    parser.add_argument("--seed", type=int, default=0, help="training seed (slots, networks, exploration)")
    parser.add_argument("--out", required=True, help="output folder (CSV + TensorBoard logs, checkpoint)")
    parser.add_argument("--eval-slots", type=int, default=200, help="held-out slots per evaluation")
    parser.add_argument("--eval-every", type=int, default=1000, help="evaluate every this many env steps")
    parser.add_argument("--no-tensorboard", action="store_true", help="write only the CSV log")
    parser.add_argument("--hidden", type=int, default=None, help="DDC: hidden width (default from the DDC config)")
    parser.add_argument("--xi", type=float, default=None, help="DDC: entropy weight ξ of eq. (27)")
    parser.add_argument("--k-min", type=int, default=2, help="ddc: fewest users per training slot")
    parser.add_argument("--k-max", type=int, default=16, help="ddc: most users per training slot")
    parser.add_argument("--profile", default=None,
                        help="profile table (.csv or .csv.gz) for the slot sampler (default: the shipped data/profile.csv.gz)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    add_json_option(parser)
    add_progress_option(parser)


def run(args: argparse.Namespace) -> int:
    import torch

    with user_errors():  # 1. the flags, the output folder, the scenario and the profile the user named
        _validate(args)
        check_json_path(args.json)
        profile = _profile(args.profile)
    torch.set_num_threads(args.threads)
    if args.algo == "ddc":
        return _run_set(args, profile)
    return _run_single(args, profile)


def _run_set(args: argparse.Namespace, profile) -> int:  # noqa: ANN001
    """2-3. The set DDC over its mixture of K and scenarios."""
    import dataclasses

    from mobigen.control.ddc_set.agent import SetDDCConfig
    from mobigen.control.ddc_set.mixture import MixtureConfig
    from mobigen.control.ddc_set.run import train_set
    from mobigen.workload import SlotSampler

    with user_errors():
        cfg = dataclasses.replace(SetDDCConfig(), **{k: v for k, v in (("hidden", args.hidden), ("xi", args.xi))
                                                     if v is not None})
        mix = MixtureConfig(k_min=args.k_min, k_max=args.k_max)

    def make_sampler(sc):  # noqa: ANN001, ANN202
        return SlotSampler(sc) if profile is None else SlotSampler(sc, profile=profile)

    res = train_set(make_sampler, steps=args.steps or 24_000, seed=args.seed, out_dir=args.out,
                    eval_slots=args.eval_slots, eval_every=args.eval_every, config=cfg, mixture=mix,
                    progress=progress_enabled(args), tensorboard=not args.no_tensorboard)
    out = text_stream(args.json)
    ratios = ", ".join(f"{k} {v:.3f}" for k, v in res.final_ratios.items())
    print(f"ddc (set) seed {args.seed}: saved the actor of step {res.selected_env_steps} (best validation mean); "
          f"paper held-out reward {res.final_reward:.4f} = {res.final_reward / res.exact_reward:.3f} × Exact "
          f"({res.exact_reward:.4f}); validation reward / Exact: {ratios}; {res.wall_s:.0f} s, "
          f"{res.steps_per_s:.1f} steps/s", file=out)
    print(f"checkpoint: {res.checkpoint}\nlog: {res.csv}", file=out)
    _write_summary(args, res.checkpoint)
    return 0


def _run_single(args: argparse.Namespace, profile) -> int:  # noqa: ANN001
    """2-3. One scenario: the flat DDC (Algorithm 3 as the paper builds it), SAC or PPO."""
    import dataclasses

    from mobigen.control.ddc.algorithm import DDCConfig
    from mobigen.control.training import train
    from mobigen.scenario import resolve
    from mobigen.workload import make_env

    with user_errors():
        sc = resolve(args.scenario or "paper")
        cfg = dataclasses.replace(DDCConfig(), **{k: v for k, v in (("hidden", args.hidden), ("xi", args.xi))
                                                  if v is not None})
    env = make_env(sc) if profile is None else make_env(sc, profile=profile)
    algo = "ddc" if args.algo == "ddc-flat" else args.algo
    res = train(algo, env, steps=args.steps or 20_000, seed=args.seed, out_dir=args.out, eval_slots=args.eval_slots,
                eval_every=args.eval_every, ddc_config=cfg, tensorboard=not args.no_tensorboard,
                progress=progress_enabled(args))
    backend = env.unwrapped.sampler.quality.backend if hasattr(env.unwrapped.sampler, "quality") else "unknown"
    out = text_stream(args.json)
    print(f"{args.algo} seed {args.seed}: held-out reward {res.final_reward:.4f} = "
          f"{res.final_reward / res.exact_reward:.3f} × Exact ({res.exact_reward:.4f}) "
          f"[{backend} quality], {res.wall_s:.0f} s", file=out)
    print(f"checkpoint: {res.checkpoint}\nlog: {res.csv}", file=out)
    _write_summary(args, res.checkpoint)
    return 0


def _write_summary(args: argparse.Namespace, checkpoint) -> None:  # noqa: ANN001
    """--json: the run's summary (the ``<algo>_seed<S>.json`` it wrote) plus ``reward_vs_exact``."""
    import json

    if args.json is None:
        return
    summary = json.loads(checkpoint.with_name(checkpoint.stem + ".json").read_text())
    summary["reward_vs_exact"] = summary["final_reward"] / summary["exact_reward"]
    write_json(summary, args.json)


def _profile(path: str | None):  # noqa: ANN202
    if not path:
        return None
    from mobigen.system.profile import ProfileTable

    return ProfileTable.load(path)


def _validate(args: argparse.Namespace) -> None:
    """Plain values and the output folder (created now, not after training)."""
    from pathlib import Path

    if args.steps is not None and args.steps < 1:
        raise ValueError(f"--steps must be >= 1, got {args.steps}")
    if args.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {args.threads}")
    if args.eval_slots < 1:
        raise ValueError(f"--eval-slots must be >= 1, got {args.eval_slots}")
    if args.eval_every < 1:
        raise ValueError(f"--eval-every must be >= 1, got {args.eval_every}")
    if args.algo == "ddc" and args.scenario is not None:
        raise ValueError("--scenario: ddc (the set DDC) trains on its mixture of scenarios; use ddc-flat, sac or "
                         "ppo for one scenario")
    if args.algo == "ddc" and args.eval_slots < 2:
        raise ValueError(f"--eval-slots must be >= 2 for ddc, got {args.eval_slots}")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out: '{out}' exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"--out: cannot create folder '{out}': {exc.strerror or exc}") from exc

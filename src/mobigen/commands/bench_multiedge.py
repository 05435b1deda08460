"""`mobigen bench multiedge`: association policies on M edges against the MILP oracle (issue 11).

Per policy and case (K ≤ 16, M ≤ 4, "same" and "mixed" edge sites): reward / oracle reward,
satisfaction and decision latency p50/p99; decision latency at K = 64, M = 4; satisfaction with M edges
and 11·M users against one edge with 11; the gain of joint association over best channel
(``experiments.multiedge.run_bench``)."""

from __future__ import annotations

import argparse
import sys

from mobigen.commands._common import (add_json_option, add_progress_option, check_json_path, progress_enabled,
                                      text_stream, user_errors, write_json)

HELP = "multi-edge association: reward / MILP oracle, satisfaction, decision p50/p99, scaling with M"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scenario", default="paper", help="base preset name or scenario file (edges are added)")
    parser.add_argument("--slots", type=int, default=100,
                        help="held-out slots per case and edges kind (two kinds: 2x this per (K, M))")
    parser.add_argument("--timing-slots", type=int, default=50, help="slots timed at K = 64, M = 4")
    parser.add_argument("--scaling-slots", type=int, default=40, help="slots per point of the scaling check")
    parser.add_argument("--seed", type=int, default=90_210, help="seed of the held-out slots")
    add_json_option(parser)
    add_progress_option(parser)


def run(args: argparse.Namespace) -> int:
    from mobigen.experiments.multiedge import run_bench
    from mobigen.scenario import resolve

    with user_errors():
        check_json_path(args.json)
        sc = resolve(args.scenario)
        for flag in ("slots", "timing_slots", "scaling_slots"):
            if getattr(args, flag) < 1:
                raise ValueError(f"--{flag.replace('_', '-')} must be >= 1, got {getattr(args, flag)}")
    say = (lambda msg: print(msg, file=sys.stderr)) if progress_enabled(args) else None
    res = run_bench(sc, slots=args.slots, timing_slots=args.timing_slots, scaling_slots=args.scaling_slots,
                    seed=args.seed, progress=say)
    _print(res, text_stream(args.json))
    write_json(res.model_dump(mode="json"), args.json)
    return 0


def _print(res, out) -> None:  # noqa: ANN001
    print(f"multi-edge association on '{res.scenario}' (quality: {res.quality_backend}; seed {res.seed})", file=out)
    print(f"{'case':<14} {'policy':<13} {'r/oracle':>9} {'min':>7} {'satisf.':>8} {'p50 ms':>8} {'p99 ms':>8}", file=out)
    for c in res.cases:
        case = f"{c.users}x{c.edges} {c.edges_kind}"
        for name, p in c.policies.items():
            print(f"{case:<14} {name:<13} {p.reward_vs_oracle:>9.4f} {p.min_reward_vs_oracle:>7.4f} "
                  f"{p.satisfaction:>8.3f} {p.decision_p50_ms:>8.2f} {p.decision_p99_ms:>8.2f}", file=out)
    t = res.timing
    print(f"decision latency at K = {t.users}, M = {t.edges} ({t.slots} slots):", file=out)
    for name in t.p50_ms:
        print(f"  {name:<13} p50 {t.p50_ms[name]:7.2f} ms  p99 {t.p99_ms[name]:7.2f} ms  "
              f"CPU p50 {t.cpu_p50_ms[name]:7.2f} ms  "
              f"reward / fast {t.reward_vs_fast.get(name, float('nan')):.4f}", file=out)
    print("scaling (fast): " + ", ".join(f"M={r.edges} K={r.users}: {r.satisfaction:.3f} ({r.delta_pp:+.1f} pp)"
                                         for r in res.scaling), file=out)
    print(f"fast / oracle: lowest case mean {res.fast_min_ratio:.4f}, worst slot {res.fast_worst_slot_ratio:.4f}",
          file=out)
    print("joint (fast) over best channel: " + ", ".join(f"{k}: {100 * v:+.2f}%"
                                                        for k, v in res.joint_gain_vs_best_channel.items()), file=out)
    for k, v in res.notes.items():
        print(f"note: {k}: {v}", file=out)

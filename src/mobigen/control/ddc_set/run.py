"""One logged training run of the set DDC: held-out evaluation, CSV + TensorBoard logs, checkpoint.

Writes to ``out_dir`` (``<name>`` = ``ddcset_seed<S>``): ``<name>.csv`` (test reward vs environment
steps on the ``paper`` preset's held-out slots, K = 5, the curve of Fig. 13, and its ratio to Exact),
``<name>_sets.csv`` (reward / Exact on validation slots of every ``EVAL_SCENARIOS`` entry),
TensorBoard events under ``tb/``, ``<name>.pt`` (the actor), ``<name>_agent.pt`` (critics and
optimisers of the last step) and ``<name>.json`` (summary, steps per second, wall time).

The saved actor is the one of the evaluation with the best mean validation ratio (early stopping).
Validation slots come from ``VALIDATION_SEED``, never from ``evaluation.HELDOUT_SEED`` (the seed of
the benchmark's and Fig. 13's held-out slots), so the selection does not see the benchmark's slots.
"""

from __future__ import annotations

import csv
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from mobigen.control.ddc_set.agent import SetDDCConfig
from mobigen.control.ddc_set.controller import SetDDCController
from mobigen.control.ddc_set.mixture import MixtureConfig, MixtureSampler
from mobigen.control.ddc_set.trainer import train_ddc_set
from mobigen.control.evaluation import EvalLog, heldout_slots, mean_reward
from mobigen.control.exact import ExactController
from mobigen.scenario import Scenario, preset

log = logging.getLogger(__name__)

EVAL_SCENARIOS = ("users-3", "users-8", "users-11", "low-end-5", "low-end-11", "users-16")
"""Validation scenarios logged besides ``paper`` (each on ``eval_slots // 2`` slots)."""
VALIDATION_SEED = 31_337_000
"""Seed of the validation slots (checkpoint selection); not the benchmark's ``HELDOUT_SEED``."""


@dataclass(frozen=True)
class SetTrainResult:
    """What a set-DDC training run produced."""

    checkpoint: Path
    """The saved actor."""
    csv: Path
    """Test reward vs environment steps on ``paper``."""
    final_reward: float
    """Mean eq. (26) reward of the saved actor on the ``paper`` held-out slots."""
    exact_reward: float
    """Exact's mean reward on the same slots."""
    final_ratios: dict
    """Reward / Exact of the saved actor per validation scenario."""
    wall_s: float
    """Training time including evaluations (s)."""
    steps_per_s: float
    """Environment steps (each with one update) per second, evaluations included."""
    selected_env_steps: int
    """The evaluation whose actor was saved (best mean validation ratio)."""


def train_set(make_sampler: Callable[[Scenario], object], *, steps: int, seed: int, out_dir: str | Path,
              eval_slots: int = 200, eval_every: int = 1000, config: SetDDCConfig = SetDDCConfig(),
              mixture: MixtureConfig = MixtureConfig(), progress: bool = True,
              tensorboard: bool = True) -> SetTrainResult:
    """Train the set DDC on the mixture and write the files of the module docstring."""
    if eval_slots < 2:
        raise ValueError(f"'eval_slots' must be >= 2, got {eval_slots}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    name = f"ddcset_seed{seed}"
    sampler = MixtureSampler(make_sampler, mixture)  # 1. training slots and held-out slots
    paper = heldout_slots(make_sampler(preset("paper")), eval_slots)
    sets = {n: heldout_slots(make_sampler(preset(n)), max(eval_slots // 2, 1), seed=VALIDATION_SEED)
            for n in EVAL_SCENARIOS}
    exact = ExactController()
    paper_exact = mean_reward(exact, paper)
    sets_exact = {n: mean_reward(exact, s) for n, s in sets.items()}
    backend = paper[0].quality_backend
    elog = EvalLog(out, name, exact_reward=paper_exact, tensorboard=tensorboard, quality_backend=backend)
    sets_csv = out / f"{name}_sets.csv"
    with sets_csv.open("w", newline="") as fh:
        csv.writer(fh).writerow(["env_steps", *EVAL_SCENARIOS, "mean_ratio", "steps_per_s"])
    ratios: dict[str, float] = {}
    best: dict = {"mean_ratio": -float("inf")}

    def on_eval(t: int, agent, stats: dict) -> None:  # 2. the held-out evaluation
        ctrl = SetDDCController.from_agent(agent)
        ratios.clear()
        ratios.update({n: mean_reward(ctrl, s) / sets_exact[n] for n, s in sets.items()})
        mean_ratio = float(np.mean(list(ratios.values())))
        if t > 0 and mean_ratio > best["mean_ratio"]:  # early stopping on the validation slots
            best.update(mean_ratio=mean_ratio, env_steps=t, ratios=dict(ratios),
                        actor={k: v.detach().clone() for k, v in agent.actor.state_dict().items()})
        scal = {f"ratio/{n}": v for n, v in ratios.items()} | {"ratio/mean": mean_ratio}
        scal |= {k: float(v) for k, v in stats.items()}
        elog.log(t, mean_reward(ctrl, paper), **scal)
        with sets_csv.open("a", newline="") as fh:
            csv.writer(fh).writerow([t, *(f"{ratios[n]:.5f}" for n in EVAL_SCENARIOS), f"{mean_ratio:.5f}",
                                     f"{stats.get('steps_per_s', float('nan')):.2f}"])
        log.info("ddc (set) step %d: paper %.4f of Exact, held-out mean %.4f", t, elog.rows[-1]["test_reward_vs_exact"],
                 mean_ratio)

    t0 = time.perf_counter()
    agent = train_ddc_set(sampler, steps, seed=seed, config=config, eval_every=eval_every, on_eval=on_eval,
                          progress=progress)  # 3. Algorithm 3
    wall = time.perf_counter() - t0
    elog.close()
    torch.save(agent.state_dict(), out / f"{name}_agent.pt")  # 4. the last agent, the selected actor, summary
    if "actor" in best:
        agent.actor.load_state_dict(best["actor"])
    sel_row = next((r for r in elog.rows if r["env_steps"] == best.get("env_steps")), elog.rows[-1])
    meta = {"algo": "ddc-set", "seed": seed, "env_steps": steps, "selected_env_steps": best.get("env_steps", steps),
            "mixture": asdict(mixture), "families": [f.name for f in sampler.families], "quality_backend": backend,
            "heldout_reward_paper": sel_row["test_reward"], "heldout_exact_reward_paper": paper_exact,
            "validation_ratios": best.get("ratios", dict(ratios)), "wall_s": wall,
            "torch_threads": torch.get_num_threads()}
    ckpt = SetDDCController.from_agent(agent, meta=meta).save(out / f"{name}.pt")
    res = SetTrainResult(checkpoint=ckpt, csv=elog.csv_path, final_reward=sel_row["test_reward"],
                         exact_reward=paper_exact, final_ratios=best.get("ratios", dict(ratios)), wall_s=wall,
                         steps_per_s=steps / wall, selected_env_steps=int(best.get("env_steps", steps)))
    summary = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(res).items()}
    summary.update(algo="ddc-set", seed=seed, steps=steps, config=asdict(config), mixture=asdict(mixture),
                   families=[f.to_dict() for f in sampler.families], eval_slots=eval_slots, quality_backend=backend,
                   note=f"rewards are eq. (26) on quality from the '{backend}' quality model")
    (out / f"{name}.json").write_text(json.dumps(summary, indent=2))
    return res

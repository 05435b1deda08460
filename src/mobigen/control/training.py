"""Train one controller (DDC, SAC or PPO) with held-out evaluation, logs and checkpoints.

Writes to ``out_dir``: ``<algo>_seed<S>.csv`` (test reward vs environment steps on fixed
held-out slots, and its ratio to Exact's mean on the same slots), TensorBoard events under
``tb/``, the checkpoint ``<algo>_seed<S>.pt`` (DDC actor; plus ``..._agent.pt`` with critics and
optimisers) or ``<algo>_seed<S>.zip`` (SB3), and ``<algo>_seed<S>.json`` (summary).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from mobigen.control.ddc.algorithm import DDCConfig
from mobigen.control.evaluation import EvalLog, heldout_slots, mean_reward
from mobigen.control.exact import ExactController

log = logging.getLogger(__name__)

ALGOS = ("ddc", "sac", "ppo")


@dataclass(frozen=True)
class TrainResult:
    """What a training run produced."""

    checkpoint: Path
    """The saved policy."""
    csv: Path
    """Test reward vs environment steps."""
    final_reward: float
    """Mean eq. (26) reward on the held-out slots at the end."""
    exact_reward: float
    """Exact's mean reward on the same slots."""
    wall_s: float
    """Training time including evaluations (s)."""


def train(algo: str, env, *, steps: int, seed: int, out_dir: str | Path, eval_slots: int = 200,
          eval_every: int = 1000, ddc_config: DDCConfig | None = None, progress: bool = True,
          tensorboard: bool = True) -> TrainResult:
    """Train ``algo`` on ``env`` (a ``DenoisingEnv``) and write the files listed in the module docstring."""
    if algo not in ALGOS:
        raise ValueError(f"algo: unknown '{algo}' (known: {', '.join(ALGOS)})")
    if eval_every < 1:
        raise ValueError(f"'eval_every' must be >= 1, got {eval_every}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    base = env.unwrapped
    sc = base.scenario
    slots = heldout_slots(base.sampler, eval_slots)
    exact = mean_reward(ExactController(), slots)
    name = f"{algo}_seed{seed}"
    elog = EvalLog(out, name, exact_reward=exact, tensorboard=tensorboard, quality_backend=slots[0].quality_backend)
    t0 = time.perf_counter()
    gamma = (ddc_config or DDCConfig()).gamma
    if algo == "ddc":
        from mobigen.control.ddc.controller import DDCController
        from mobigen.control.ddc.trainer import train_ddc

        cfg = ddc_config or DDCConfig()

        def on_eval(t: int, agent) -> None:
            elog.log(t, mean_reward(DDCController.from_agent(agent, sc), slots))

        agent = train_ddc(env, steps, seed=seed, config=cfg, eval_every=eval_every, on_eval=on_eval, progress=progress)
        meta = {"algo": "ddc", "seed": seed, "env_steps": steps, "scenario": sc.to_dict(),
                "quality_backend": slots[0].quality_backend, "sampler": type(base.sampler).__module__ + "." + type(base.sampler).__name__,
                "heldout_reward": elog.rows[-1]["test_reward"], "heldout_exact_reward": exact}
        ctrl = DDCController.from_agent(agent, sc, meta=meta)
        ckpt = ctrl.save(out / f"{name}.pt")
        torch.save(agent.state_dict(), out / f"{name}_agent.pt")
    else:
        from mobigen.control.sb3 import train_sb3

        def on_eval_sb3(t: int, ctrl) -> None:
            elog.log(t, mean_reward(ctrl, slots))

        ctrl = train_sb3(algo, env, steps, seed=seed, gamma=gamma, eval_every=eval_every, on_eval=on_eval_sb3,
                         progress=progress, tensorboard_log=str(out / "tb") if tensorboard else None)
        ckpt = ctrl.save(out / f"{name}.zip")
    elog.close()
    wall = time.perf_counter() - t0
    res = TrainResult(checkpoint=ckpt, csv=elog.csv_path, final_reward=elog.rows[-1]["test_reward"],
                      exact_reward=exact, wall_s=wall)
    summary = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(res).items()}
    summary.update(algo=algo, seed=seed, steps=steps, scenario=sc.name, scenario_params=sc.to_dict(), eval_slots=eval_slots,
                   quality_backend=slots[0].quality_backend,
                   note="rewards are eq. (26) on quality from the '%s' quality model" % slots[0].quality_backend)
    (out / f"{name}.json").write_text(json.dumps(summary, indent=2))
    log.info("%s seed %d: held-out reward %.4f (Exact %.4f, %s quality) after %d steps, %.0f s",
             algo, seed, res.final_reward, exact, slots[0].quality_backend, steps, wall)
    return res

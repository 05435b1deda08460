"""The DRL baselines of Fig. 13: SAC and PPO from Stable-Baselines3 on the same ``DenoisingEnv``,
the same seeds and the same action map (``control.action_map``) as DDC.

Hyper-parameters are SB3's defaults except: γ = DDC's γ (0 by default — slots are independent
draws, see ``ddc.algorithm.DDCConfig.gamma``), hidden layers [128, 128] (DDC's width, and small
checkpoints), SAC's replay buffer 100k (memory) and learning_starts 500 (as DDC's warm-up).
Policies act deterministically at inference.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from mobigen.control.action_map import action_to_decision
from mobigen.control.observation import GLOBAL, PER_USER, observe
from mobigen.control.validate import validate_slot
from mobigen.system.slot import Decision, Slot

ALGOS = ("sac", "ppo")
"""The SB3 baselines."""


def _algo_class(algo: str):
    from stable_baselines3 import PPO, SAC

    if algo not in ALGOS:
        raise ValueError(f"algo: unknown SB3 baseline '{algo}' (known: {', '.join(ALGOS)})")
    return {"sac": SAC, "ppo": PPO}[algo]


class SB3Controller:
    """A trained SB3 model as a ``Controller``."""

    def __init__(self, model, algo: str) -> None:
        self.model, self.algo, self.name = model, algo, algo
        self.K = (int(model.observation_space.shape[0]) - GLOBAL) // PER_USER

    def decide(self, slot: Slot) -> Decision:
        validate_slot(slot, expected_K=self.K)
        action, _ = self.model.predict(observe(slot), deterministic=True)
        return action_to_decision(action, slot)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.model.save(str(path))
        return path if path.suffix == ".zip" else path.with_suffix(path.suffix + ".zip")

    @classmethod
    def load(cls, path: str | Path, algo: str) -> "SB3Controller":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{algo} checkpoint '{path}' does not exist")
        return cls(_algo_class(algo).load(str(path), device="cpu"), algo)


def make_model(algo: str, env, *, seed: int = 0, gamma: float = 0.0, tensorboard_log: str | None = None,
               **overrides):
    """An untrained SB3 SAC or PPO on ``env`` (module docstring for the settings); ``overrides``
    go to the SB3 constructor (tests use them for tiny budgets)."""
    cls = _algo_class(algo)
    from stable_baselines3.common.logger import Logger, configure

    kw: dict = {"seed": seed, "gamma": gamma, "device": "cpu", "verbose": 0,
                "policy_kwargs": {"net_arch": [128, 128]}}
    if algo == "sac":
        kw.update(buffer_size=100_000, learning_starts=500)
    kw.update(overrides)
    model = cls("MlpPolicy", env, **kw)
    # an explicit logger: SB3's default one makes a /tmp/SB3-<date> folder on every learn()
    if tensorboard_log:
        model.set_logger(configure(str(Path(tensorboard_log) / f"{algo}_seed{seed}_train"), ["tensorboard"]))
    else:
        model.set_logger(Logger(folder=None, output_formats=[]))
    return model


def train_sb3(algo: str, env, steps: int, *, seed: int = 0, gamma: float = 0.0, eval_every: int = 1000,
              on_eval: Callable[[int, SB3Controller], None] | None = None, progress: bool = True,
              tensorboard_log: str | None = None, **overrides) -> SB3Controller:
    """Train SAC or PPO for ``steps`` environment steps (PPO rounds up to whole rollouts);
    ``on_eval(env_steps, controller)`` at 0, every ``eval_every`` steps and at the end."""
    from stable_baselines3.common.callbacks import BaseCallback
    from tqdm import tqdm

    if steps < 1:
        raise ValueError(f"'steps' must be >= 1, got {steps}")
    model = make_model(algo, env, seed=seed, gamma=gamma, tensorboard_log=tensorboard_log, **overrides)
    ctrl = SB3Controller(model, algo)
    bar = tqdm(total=steps, desc=algo, disable=not progress, mininterval=1.0)

    class _Eval(BaseCallback):
        def _on_step(self) -> bool:
            n = self.num_timesteps
            bar.update(n - bar.n)
            if on_eval and n % eval_every == 0 and n < steps:
                on_eval(n, ctrl)
            return True

    if on_eval:
        on_eval(0, ctrl)
    model.learn(total_timesteps=steps, callback=_Eval(), progress_bar=False)
    bar.close()
    if on_eval:
        # PPO collects whole rollouts of n_steps (2048), so it may have seen more than ``steps``
        on_eval(int(model.num_timesteps), ctrl)
    return ctrl


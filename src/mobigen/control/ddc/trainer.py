"""The DDC training loop: Algorithm 3 on a ``DenoisingEnv``, with periodic held-out evaluation.

Two deviations: as in SB3's SAC, the first ``config.learning_starts`` slots use uniform random
actions (to fill the replay buffer) instead of the untrained actor, and updates start after them;
and the exploration noise a_N ~ N(0, I) is drawn afresh for every action (``DDCAgent.act``), where
Algorithm 3 line 3 draws it once per episode.
"""

from __future__ import annotations

import logging
from typing import Callable

import numpy as np
from tqdm import tqdm

from mobigen.control.ddc.algorithm import DDCAgent, DDCConfig, ReplayBuffer
from mobigen.control.observation import obs_dim

log = logging.getLogger(__name__)


def train_ddc(env, steps: int, *, seed: int = 0, config: DDCConfig = DDCConfig(),
              eval_every: int = 1000, on_eval: Callable[[int, DDCAgent], None] | None = None,
              progress: bool = True) -> DDCAgent:
    """Run Algorithm 3 for ``steps`` environment steps (slots) and return the agent.

    ``on_eval(env_steps, agent)`` is called at step 0, every ``eval_every`` steps and at the end."""
    if steps < 1:
        raise ValueError(f"'steps' must be >= 1, got {steps}")
    K = env.unwrapped.K
    n_T = env.unwrapped.scenario.steps_max - env.unwrapped.scenario.steps_min + 1
    agent = DDCAgent(obs_dim(K), K, n_T, config, seed=seed)
    buf = ReplayBuffer(obs_dim(K), 2 * K, config.buffer_size)
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)  # Algorithm 3 line 3
    if on_eval:
        on_eval(0, agent)
    stats: dict[str, float] = {}
    bar = tqdm(range(1, steps + 1), desc="ddc", disable=not progress, mininterval=1.0)
    for t in bar:
        if t <= config.learning_starts:
            a = rng.uniform(-1, 1, 2 * K).astype(np.float32)  # warm-up: uniform actions
        else:
            a = agent.act(obs, explore=True)  # line 5
        obs2, r, term, trunc, _ = env.step(a)  # line 6
        buf.add(obs, a, r, obs2)  # line 7
        obs = obs2
        if term or trunc:
            obs, _ = env.reset()
        if t > config.learning_starts:
            for _ in range(config.updates_per_step):
                stats = agent.update(buf.sample(config.batch_size, rng))  # lines 8-11
        if on_eval and (t % eval_every == 0 or t == steps):
            on_eval(t, agent)
            log.debug("ddc step %d: %s", t, stats)
            if stats:
                bar.set_postfix(loss_q=f"{stats['loss_q']:.3g}", H=f"{stats['entropy']:.2f}")
    return agent

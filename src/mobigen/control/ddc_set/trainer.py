"""The set DDC's training loop: Algorithm 3 on slots from a ``MixtureSampler``.

Each environment step draws one slot (any K of the mixture) and acts: uniform random for the first
``learning_starts`` slots, then the diffusion actor with fresh noise a_N ~ N(0, I) (Algorithm 3
line 5), each user's action replaced by a uniform one with probability ``explore_eps``. It scores
the decision by eq. (26) (``system.evaluate_decision``), stores (tokens, a, r/K) in the bucketed
replay, and runs ``updates_per_step`` updates of eqs. (27)-(30) plus ``critic_extra_updates``
critic-only ones; both learning rates decay linearly to ``config.lr_final_frac`` of their start over
the run (a deviation: Algorithm 3 has none). Slots are independent draws (the next one does not
depend on the action), so there is no episode state: γ = 0, eq. (29) is y' = r.
"""

from __future__ import annotations

import logging
import time
from typing import Callable

import numpy as np
from tqdm import tqdm

from mobigen.control.action_map import action_to_decision
from mobigen.control.ddc_set.agent import BucketedReplay, SetDDCAgent, SetDDCConfig
from mobigen.control.ddc_set.tokens import tokens
from mobigen.system.slot import evaluate_decision

log = logging.getLogger(__name__)


def train_ddc_set(sampler, steps: int, *, seed: int = 0, config: SetDDCConfig = SetDDCConfig(),
                  eval_every: int = 1000, on_eval: Callable[[int, SetDDCAgent, dict], None] | None = None,
                  progress: bool = True) -> SetDDCAgent:
    """Run Algorithm 3 for ``steps`` slots of ``sampler`` and return the agent.

    ``on_eval(env_steps, agent, stats)`` is called at step 0, every ``eval_every`` steps and at the end
    (``stats``: the last update's losses and the steps per second so far)."""
    if steps < 1:
        raise ValueError(f"'steps' must be >= 1, got {steps}")
    if eval_every < 1:
        raise ValueError(f"'eval_every' must be >= 1, got {eval_every}")
    agent = SetDDCAgent(config, seed=seed)
    buf = BucketedReplay(config.buffer_size)
    rng = np.random.default_rng(seed)
    stats: dict[str, float] = {}
    if on_eval:
        on_eval(0, agent, stats)
    t0 = time.perf_counter()
    bar = tqdm(range(1, steps + 1), desc="ddc (set)", disable=not progress, mininterval=1.0)
    for t in bar:
        slot = sampler.sample(rng)
        tok = tokens(slot)
        if t <= config.learning_starts:
            a = rng.uniform(-1, 1, 2 * slot.K).astype(np.float32)  # warm-up: uniform actions
        else:
            a = agent.act(tok, explore=True)  # line 5
            if config.explore_eps > 0:  # ε-uniform per user on top of the diffusion noise
                pick = np.tile(rng.random(slot.K) < config.explore_eps, 2)
                a = np.where(pick, rng.uniform(-1, 1, 2 * slot.K), a).astype(np.float32)
        r = evaluate_decision(slot, action_to_decision(a, slot)).reward  # line 6, eq. (26)
        buf.add(tok, len(slot.params.steps_values), a, r / slot.K)  # line 7 (reward per user)
        if t > config.learning_starts:
            done = (t - config.learning_starts) / max(steps - config.learning_starts, 1)
            agent.set_lr_fraction(1.0 - (1.0 - config.lr_final_frac) * done)  # linear decay
            for _ in range(config.updates_per_step):
                stats = agent.update(buf.sample(config.batch_size, rng))  # lines 8-11
            for _ in range(config.critic_extra_updates):
                agent._update_critic(buf.sample(config.batch_size, rng))  # line 10 again
        if on_eval and (t % eval_every == 0 or t == steps):
            stats = dict(stats, steps_per_s=t / (time.perf_counter() - t0))
            on_eval(t, agent, stats)
            if "entropy" in stats:
                bar.set_postfix(loss_q=f"{stats['loss_q']:.3g}", H=f"{stats['entropy']:.2f}")
    return agent
